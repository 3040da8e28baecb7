import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ENV } from '../../shared/env-vars';

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

P = json.loads(os.environ["${ENV.GDB_PARAMS}"])
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


# Calling a function in the target. gdb's own inferior call saves every register, runs the
# call and writes every changed register back. On x86-64 the vector registers go back through
# PTRACE_SETREGSET(NT_X86_XSTATE), and gdb 13 writes a fixed 2,696-byte XSAVE area while the
# kernel takes only its own full size (11,008 bytes on a CPU with AMX): every call fails with
# "Couldn't write extended state status: Bad address" after the function has run. So on x86-64
# the call is made here: the thread's registers are saved with ptrace directly (gdb's Python
# runs on the thread that is the tracer), the XSAVE area at the size the kernel reports; the
# arguments (strings on the thread's stack, below the red zone) and a return address (the
# program's entry point, with a breakpoint for this thread only) are set up; "continue" runs
# every thread until the call returns there; and the saved registers are put back exactly.
# orig_rax = -1 for the call keeps the kernel from restarting an interrupted system call at the
# function's address; the saved orig_rax, put back at the end, restarts it as it should.
MANUAL = os.uname().machine == "x86_64"
if MANUAL:
    import ctypes, struct

    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    _libc.ptrace.restype = ctypes.c_long
    GETREGS, SETREGS, GETREGSET, SETREGSET = 12, 13, 0x4204, 0x4205
    NT_PRFPREG, NT_X86_XSTATE = 2, 0x202
    # struct user_regs_struct (sys/user.h): 27 64-bit words
    RAX, RCX, RDX, RSI, RDI, ORIG_RAX, RIP, EFLAGS, RSP = 10, 11, 12, 13, 14, 15, 16, 18, 19
    Gregs = ctypes.c_ulonglong * 27

    class Iovec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def ptrace(req, tid, addr, data):
    if _libc.ptrace(req, tid, addr, data) == -1:
        e = ctypes.get_errno()
        raise gdb.error("ptrace request %d on thread %d: %s" % (req, tid, os.strerror(e)))


def flush():
    gdb.execute("maintenance flush register-cache", to_string=True)


class Saved:
    """One stopped thread's whole register state, put back by restore()."""

    def __init__(self, th):
        self.th = th
        self.tid = th.ptid[1]
        self.g = Gregs()
        ptrace(GETREGS, self.tid, None, ctypes.byref(self.g))
        self.buf = ctypes.create_string_buffer(1 << 17)
        self.iov = Iovec(ctypes.cast(self.buf, ctypes.c_void_p), len(self.buf))
        self.note = NT_X86_XSTATE
        try:
            ptrace(GETREGSET, self.tid, NT_X86_XSTATE, ctypes.byref(self.iov))  # sets iov.len to the kernel's size
        except gdb.error:
            self.note = NT_PRFPREG  # no XSAVE: the FXSAVE area is all there is
            self.iov.len = len(self.buf)
            ptrace(GETREGSET, self.tid, NT_PRFPREG, ctypes.byref(self.iov))
        self.entry = entry_point()
        self.dirty = False

    def restore(self):
        if not self.dirty:
            return
        ptrace(SETREGSET, self.tid, self.note, ctypes.byref(self.iov))
        ptrace(SETREGS, self.tid, None, ctypes.byref(self.g))
        flush()
        self.dirty = False


def entry_point():
    data = open("/proc/%d/auxv" % gdb.selected_inferior().pid, "rb").read()
    for i in range(0, len(data) - 15, 16):
        key, val = struct.unpack_from("<QQ", data, i)
        if key == 9:  # AT_ENTRY
            return val
    raise gdb.error("no entry point in the target's auxiliary vector")


STOPS = []
gdb.events.stop.connect(lambda ev: STOPS.append(ev))
FAULTS = ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT")


def manual_call(saved, fn, args):
    inf = gdb.selected_inferior()
    g = Gregs(*saved.g)
    sp = (saved.g[RSP] - 256) & ~15  # below the red zone of whatever the thread was running
    vals = []
    for a in args:
        if isinstance(a, str):
            data = a.encode("utf-8", "surrogateescape") + b"\0"
            sp = (sp - len(data)) & ~15
            inf.write_memory(sp, data)
            vals.append(sp)
        else:
            vals.append(a & 0xFFFFFFFFFFFFFFFF)
    sp -= 8  # the return address: at the function's entry rsp + 8 is 16-byte aligned
    inf.write_memory(sp, struct.pack("<Q", saved.entry))
    for reg, v in zip((RDI, RSI, RDX, RCX), vals):
        g[reg] = v
    g[RAX] = 0
    g[ORIG_RAX] = 0xFFFFFFFFFFFFFFFF
    g[RIP] = fn
    g[RSP] = sp
    g[EFLAGS] &= ~0x500  # TF and DF clear, as the ABI wants at a call
    saved.dirty = True
    ptrace(SETREGS, saved.tid, None, ctypes.byref(g))
    flush()
    bp = gdb.Breakpoint("*0x%x" % saved.entry, internal=True)
    bp.thread = saved.th.num
    try:
        resume = "continue"
        while True:
            del STOPS[:]
            gdb.execute(resume, to_string=True)
            resume = "continue"
            if not inf.is_valid() or inf.pid == 0:
                raise gdb.error("The program exited")
            now = Gregs()
            ptrace(GETREGS, saved.tid, None, ctypes.byref(now))
            if now[RIP] in (saved.entry, saved.entry + 1) and now[RSP] == sp + 8:
                return now[RAX]
            sigs = [ev for ev in STOPS if isinstance(ev, gdb.SignalEvent)]
            if any(ev.stop_signal == "SIGINT" for ev in sigs):
                raise gdb.error("interrupted: the call did not return in time")
            fault = next((ev for ev in sigs if ev.stop_signal in FAULTS), None)
            if fault is not None:
                # The call faulted: unwound (main() puts the thread's registers back), as gdb's
                # unwindonsignal did, rather than let the fault kill the target. Another thread's
                # fault is the program's own: delivered to that thread as it would have been.
                if gdb.selected_thread().ptid[1] == saved.tid:
                    raise gdb.error("the call into the target stopped with %s; the thread was put back as it was" % fault.stop_signal)
                resume = "signal %s" % fault.stop_signal
    finally:
        if bp.is_valid():
            bp.delete()


SAVED = None


def sym(name):
    try:
        return int(gdb.parse_and_eval("(long)&%s" % name))
    except gdb.error as err:
        if "No symbol" in str(err):
            return None
        raise


def call_fn(ret, fn, args):
    """Calls fn (an address) with args (ints and strings); the result as ret ('int' or 'ptr')."""
    if MANUAL:
        v = manual_call(SAVED, fn, args)
        if ret == "int":
            v &= 0xFFFFFFFF
            return v - (1 << 32) if v >= 1 << 31 else v
        return v
    types = ", ".join("const char*" if isinstance(a, str) else "long" for a in args)
    vals = ", ".join(cstr(a) if isinstance(a, str) else str(a) for a in args)
    rtype = "int" if ret == "int" else "long"
    return int(gdb.parse_and_eval("((%s(*)(%s))%d)(%s)" % (rtype, types, fn, vals)))


def dlopen(lib, mode):
    for fn in ("dlopen", "__libc_dlopen_mode"):
        a = sym(fn)
        if a is not None:
            return call_fn("ptr", a, [lib, mode])
    raise gdb.error("neither dlopen nor __libc_dlopen_mode found in the target")


def dlsym(h, name):
    a = sym("dlsym")
    if a is None:
        raise gdb.error("dlsym not found in the target")
    return call_fn("ptr", a, [h, name])


def dlerror():
    try:
        a = sym("dlerror")
        v = call_fn("ptr", a, []) if a is not None else 0
        return gdb.selected_inferior().read_memory(v, 1024).tobytes().split(b"\0")[0].decode("utf-8", "replace") if v else ""
    except gdb.error:
        return ""


def main():
    global SAVED
    inf = gdb.selected_inferior()
    if inf.pid == 0:
        out(error="attach", message="gdb could not attach")
        return
    gdb.execute("set unwindonsignal on")
    gdb.execute("set scheduler-locking off")
    # The target's own signals go on to it without stopping gdb; SIGINT (our time limit) stops;
    # so do the faults, to see whether the call itself faulted (manual_call).
    gdb.execute("handle all nostop noprint pass", to_string=True)
    gdb.execute("handle SIGINT stop print nopass", to_string=True)
    gdb.execute("handle %s stop print nopass" % " ".join(FAULTS), to_string=True)
    th, seen = pick()
    if th is None:
        out(retry=True, threads=seen)
        return
    th.switch()
    if MANUAL:
        SAVED = Saved(th)
    try:
        act(th)
    finally:
        if SAVED is not None and inf.is_valid() and inf.pid != 0:
            SAVED.restore()


def act(th):
    action = P["action"]
    lib = P["lib"]
    if action == "attach":
        h = dlopen(lib, 2)  # RTLD_NOW | RTLD_LOCAL
        if h == 0:
            out(error="dlopen", message=dlerror())
            return
        fn = dlsym(h, "memoplan_attach")
        if fn == 0:
            out(error="dlsym", message="memoplan_attach not found in %s" % lib)
            return
        rc = call_fn("int", fn, [P["dir"], P["agent"], P["flags"]])
        out(ok=True, rc=rc, tid=th.ptid[1])
    elif action == "detach":
        h = dlopen(lib, 6)  # RTLD_NOW | RTLD_NOLOAD: only if loaded
        if h == 0:
            out(ok=True, rc=-6, loaded=False)
            return
        fn = dlsym(h, "memoplan_detach")
        rc = call_fn("int", fn, []) if fn else -6
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
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [ENV.GDB_PARAMS]: JSON.stringify(params), LC_ALL: 'C' } },
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
