import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Drives gdb (batch mode) to run one step inside a target process: load the interposer and
 * call memoplan_attach(), or call memoplan_detach(). Everything gdb does in the target is in
 * GDB_SCRIPT below (gdb's Python API); this module only runs gdb with a bounded time and
 * parses the one result line.
 *
 * Safe point. gdb -p stops every thread. A call into the target runs on one thread, the
 * others run meanwhile (scheduler-locking off: a lock the call needs, the GIL or a malloc
 * arena lock held by another thread, is released as that thread goes on). The calling thread
 * itself must not be inside anything the call re-enters: the allocator (its arena lock is not
 * recursive: a self-deadlock), the dynamic loader (dlopen), pthread_create, fork, exit, the
 * unwinder, or the interposer. So every thread is unwound (all symbols loaded) and a thread
 * whose frames name none of those is chosen, preferring one blocked in a system call (a
 * thread waiting on a lock, a sleep, I/O: typically the main thread of a server, joined on
 * its workers). If none qualifies, gdb detaches at once and the caller retries a moment later
 * (the stop lasted about as long as gdb's start-up). Python is never run on that thread: the
 * interposer starts the agent in a new thread of its own, which takes the GIL like any other.
 *
 * Bounds. Each gdb run has a time limit. At the limit gdb gets SIGINT (an inferior call is
 * interrupted and unwound: `set unwindonsignal on`), then SIGTERM, then SIGKILL; gdb detaches
 * as it exits. A process that exits meanwhile ends gdb with "exited" and no hang.
 */

export const GDB_SCRIPT = String.raw`
import gdb, json, os, re

P = json.loads(os.environ["MEMOPLAN_GDB_PARAMS"])
UNSAFE = re.compile(
    r"alloc|free|_int_|tcache|arena|sysmalloc|\bdl|_dl_|dlopen|dlclose|dlsym|dladdr|rtld|"
    r"pthread_create|allocate_stack|fork|exit|memoplan|mp_call|hook_dlopen|_Unwind|__cxa_throw|"
    r"__tls_get_addr|_IO_|abort|raise|sigaction",
    re.I,
)
BLOCKING = re.compile(r"futex|wait|sleep|poll|select|epoll|read|recv|accept|pause|sigtimedwait|sem_|cond_", re.I)


def out(**kw):
    print("MEMOPLAN_RESULT " + json.dumps(kw), flush=True)


def frames(th):
    th.switch()
    names = []
    try:
        f = gdb.newest_frame()
        while f is not None and len(names) < 256:
            names.append(f.name() or "??")
            f = f.older()
    except gdb.error as err:
        names.append("<unwind error: %s>" % err)
    return names


def pick():
    best = None
    seen = []
    for th in gdb.selected_inferior().threads():
        fr = frames(th)
        bad = [n for n in fr if UNSAFE.search(n) or n.startswith("<unwind error")]
        seen.append({"tid": th.ptid[1], "top": fr[:3], "unsafe": bad[:3]})
        if bad:
            continue
        score = 2 if fr and BLOCKING.search(fr[0]) else 1
        if best is None or score > best[0]:
            best = (score, th)
    return (best[1] if best else None), seen


def cstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def call(expr):
    return int(gdb.parse_and_eval(expr))


def dlopen(lib, mode):
    for fn in ("dlopen", "__libc_dlopen_mode"):
        try:
            return call("((void*(*)(const char*, int))%s)(%s, %d)" % (fn, cstr(lib), mode))
        except gdb.error as err:
            if "No symbol" not in str(err):
                raise
    raise gdb.error("neither dlopen nor __libc_dlopen_mode found in the target")


def dlerror():
    try:
        v = gdb.parse_and_eval("((char*(*)(void))dlerror)()")
        return v.string() if int(v) else ""
    except gdb.error:
        return ""


def main():
    inf = gdb.selected_inferior()
    if inf.pid == 0:
        out(error="attach", message="gdb could not attach")
        return
    gdb.execute("set unwindonsignal on")
    gdb.execute("set scheduler-locking off")
    th, seen = pick()
    if th is None:
        out(retry=True, threads=seen)
        return
    th.switch()
    action = P["action"]
    lib = P["lib"]
    if action == "attach":
        h = dlopen(lib, 2)  # RTLD_NOW | RTLD_LOCAL
        if h == 0:
            out(error="dlopen", message=dlerror())
            return
        fn = call('((void*(*)(void*, const char*))dlsym)(%d, "memoplan_attach")' % h)
        if fn == 0:
            out(error="dlsym", message="memoplan_attach not found in %s" % lib)
            return
        rc = call("((int(*)(const char*, const char*, int))%d)(%s, %s, %d)" % (fn, cstr(P["dir"]), cstr(P["agent"]), P["flags"]))
        out(ok=True, rc=rc, tid=th.ptid[1])
    elif action == "detach":
        h = dlopen(lib, 6)  # RTLD_NOW | RTLD_NOLOAD: only if loaded
        if h == 0:
            out(ok=True, rc=-6, loaded=False)
            return
        fn = call('((void*(*)(void*, const char*))dlsym)(%d, "memoplan_detach")' % h)
        rc = call("((int(*)(void))%d)()" % fn) if fn else -6
        out(ok=True, rc=rc, tid=th.ptid[1])
    else:
        out(error="usage", message="unknown action %s" % action)


try:
    main()
except gdb.error as err:
    msg = str(err)
    kind = "exited" if "exited" in msg or "No process" in msg or "not being run" in msg else "gdb"
    out(error=kind, message=msg)
`;

export interface GdbStep {
  action: 'attach' | 'detach';
  lib: string;
  dir?: string;
  agent?: string;
  flags?: number;
}

export interface GdbResult {
  ok?: boolean;
  rc?: number;
  tid?: number;
  loaded?: boolean;
  retry?: boolean;
  threads?: { tid: number; top: string[]; unsafe: string[] }[];
  error?: string;
  message?: string;
  /** gdb's own stderr, for messages (ptrace refusals). */
  stderr: string;
  timedOut: boolean;
}

let scriptFile: string | null = null;
function script(): string {
  if (scriptFile && fs.existsSync(scriptFile)) return scriptFile;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memoplan-gdb-'));
  scriptFile = path.join(dir, 'memoplan_inject.py');
  fs.writeFileSync(scriptFile, GDB_SCRIPT);
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return scriptFile;
}

export function runGdb(gdbPath: string, pid: number, step: GdbStep, timeoutMs: number): Promise<GdbResult> {
  const params = { agent: '', dir: '', flags: 0, ...step };
  return new Promise((resolve, reject) => {
    const child = spawn(
      gdbPath,
      ['-p', String(pid), '-batch', '-nx', '-q', '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', 'set print thread-events off', '-x', script()],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MEMOPLAN_GDB_PARAMS: JSON.stringify(params), LC_ALL: 'C' } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const timers: NodeJS.Timeout[] = [];
    timers.push(
      setTimeout(() => {
        timedOut = true;
        child.kill('SIGINT');
        timers.push(setTimeout(() => child.kill('SIGTERM'), 3000));
        timers.push(setTimeout(() => child.kill('SIGKILL'), 6000));
      }, timeoutMs),
    );
    child.on('error', reject);
    child.on('close', () => {
      for (const t of timers) clearTimeout(t);
      const line = stdout.split('\n').reverse().find((l) => l.startsWith('MEMOPLAN_RESULT '));
      let parsed: Partial<GdbResult> = {};
      if (line) {
        try {
          parsed = JSON.parse(line.slice('MEMOPLAN_RESULT '.length)) as Partial<GdbResult>;
        } catch {
          parsed = { error: 'gdb', message: line };
        }
      } else {
        parsed = { error: timedOut ? 'timeout' : 'gdb', message: lastLines(stderr || stdout) };
      }
      resolve({ ...parsed, stderr, timedOut });
    });
  });
}

function lastLines(s: string): string {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('warning: ') && !/^\[|^Using host libthread_db/.test(l))
    .slice(-3)
    .join('; ');
}
