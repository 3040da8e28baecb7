import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../shared/errors';
import type { DB } from '../store/db';
import { createSession, endSession } from '../store/sessions';
import type { LifetimeTotals } from '../store/lifetimes';
import { hostInfo } from '../record/host';
import { chooseTraceRoot, ensureTraceRoot } from '../record/trace-dir';
import { assertIngestReady, startIngest, type Ingest } from '../record/native-ingest';
import { agentDir, interposerPath } from '../paths';
import { runGdb, type GdbResult, type GdbStep } from './gdb';
import {
  claimRecord, processAlive, processStart, readProc, targetRunning, readRecord, removeRecord, transition, updateRecord, type AttachRecord,
} from './registry';
import { ENV } from '../../shared/env-vars';
import { setAttachedNow, setAttachStart, setDetachedNow } from '../store/sessions';

/**
 * `memoplan attach PID`: inject the interposer into a running process with gdb, record into a
 * new session while attached, detach, store. The native side (memoplan_attach/detach, GOT
 * patching) is described at the top of native/interposer/attach.cpp, the gdb side (safe
 * point, bounds) in gdb.ts.
 *
 * Order of things: preflight (nothing touched yet: a refusal says why and what to do), claim
 * the per-pid registry entry (a second attach is refused), create the session row, inject,
 * then poll the trace while attached. Whatever ends the recording (--duration, detach(), Ctrl-C
 * in the CLI, `memoplan detach PID` from elsewhere, the target exiting) leads to the same end:
 * detach if still attached, finish the ingest, end the session, drop the registry entry. A
 * failure after the session row exists marks it failed and keeps what was recorded.
 */

export interface ProcView {
  readFile(p: string): string | null;
  /** Our uid, and whether we have CAP_SYS_PTRACE. */
  uid: number;
  capSysPtrace: boolean;
  selfPid: number;
  which(cmd: string): string | null;
  exists(p: string): boolean;
}

export function realProcView(env: NodeJS.ProcessEnv = process.env): ProcView {
  const status = readProc('/proc/self/status') ?? '';
  const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  return {
    readFile: readProc,
    uid: process.getuid?.() ?? 0,
    capSysPtrace: capEff ? (BigInt('0x' + capEff) & (1n << 19n)) !== 0n : false,
    selfPid: process.pid,
    which: (cmd) => {
      if (cmd.includes('/')) return fs.existsSync(cmd) ? cmd : null;
      for (const dir of (env.PATH ?? '/usr/bin:/bin').split(path.delimiter)) {
        const p = path.join(dir, cmd);
        try {
          fs.accessSync(p, fs.constants.X_OK);
          return p;
        } catch {
          /* next */
        }
      }
      return null;
    },
    exists: (p) => fs.existsSync(p),
  };
}

export interface Preflight {
  pid: number;
  gdb: string;
  lib: string;
  targetStart: number;
  exe: string | null;
  cmdline: string[];
  cwd: string;
  python: boolean;
  torch: boolean;
  notes: string[];
}

const PERMISSION_HINT = 'run memoplan as that user or as root (sudo), or start the workload under `memoplan record` instead';

/**
 * Every check that can refuse an attach, before anything is touched. `view` is injectable so
 * tests can feed /proc contents (ptrace_scope, other users' processes, missing gdb).
 */
export function preflightAttach(pid: number, view: ProcView = realProcView(), env: NodeJS.ProcessEnv = process.env): Preflight {
  if (!Number.isInteger(pid) || pid <= 0) throw new UserError(`not a process id: ${pid}`);
  if (pid === view.selfPid) throw new UserError('memoplan cannot attach to itself');
  const status = view.readFile(`/proc/${pid}/status`);
  if (status === null) throw new UserError(`no process with pid ${pid}`);
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  const name = field('Name');
  const state = field('State');
  if (state.startsWith('Z') || state.startsWith('X')) throw new UserError(`process ${pid} (${name}) has exited`);
  if (field('Tgid') && Number(field('Tgid')) !== pid) throw new UserError(`${pid} is a thread of process ${field('Tgid')}: attach to the process`);
  const uids = field('Uid').split(/\s+/).map(Number);
  if (view.uid !== 0 && !view.capSysPtrace && uids.slice(0, 3).some((u) => u !== view.uid)) {
    throw new UserError(
      `process ${pid} (${name}) belongs to uid ${uids[1]}, memoplan runs as uid ${view.uid}: ptrace is not allowed across users; ${PERMISSION_HINT}`,
    );
  }
  const tracer = Number(field('TracerPid') || 0);
  if (tracer !== 0) {
    const tname = view.readFile(`/proc/${tracer}/comm`)?.trim() ?? '?';
    throw new UserError(`process ${pid} (${name}) is already being traced by pid ${tracer} (${tname}): a debugger or another attach; detach that first`);
  }
  const scopeText = view.readFile('/proc/sys/kernel/yama/ptrace_scope');
  const scope = scopeText === null ? 0 : Number(scopeText.trim());
  if (scope === 3) {
    throw new UserError(
      'ptrace is disabled on this machine (kernel.yama.ptrace_scope = 3, which only a reboot undoes): memoplan cannot attach to a running process; start the workload under `memoplan record` instead',
    );
  }
  if (scope === 2 && !view.capSysPtrace) {
    throw new UserError(
      `kernel.yama.ptrace_scope = 2 lets only root (CAP_SYS_PTRACE) attach to a process: run memoplan with sudo, or start the workload under \`memoplan record\` instead`,
    );
  }
  if (scope === 1 && !view.capSysPtrace && !isDescendant(pid, view)) {
    throw new UserError(
      `kernel.yama.ptrace_scope = 1 lets a process attach only to its own descendants: run memoplan with sudo, or allow it for this boot with \`sudo sysctl kernel.yama.ptrace_scope=0\`, or start the workload under \`memoplan record\` instead`,
    );
  }
  const maps = view.readFile(`/proc/${pid}/maps`);
  if (maps === null) throw new UserError(`cannot read /proc/${pid}/maps: ${PERMISSION_HINT}`);
  const files = new Set(maps.split('\n').map((l) => l.split(/\s+/)[5]).filter((f): f is string => !!f && f.startsWith('/')));
  const libc = [...files].some((f) => /\/libc\.so\.6$/.test(f));
  if (!libc) {
    throw new UserError(`process ${pid} (${name}) does not use glibc's libc.so.6 (a static or musl binary?): attach needs a dynamically linked glibc process`);
  }
  const gdb = view.which(env[ENV.GDB] ?? 'gdb');
  if (!gdb) throw new UserError('gdb is not installed: memoplan attach injects through gdb; install the Debian package gdb (apt-get install gdb)');
  const lib = interposerPath();
  if (!view.exists(lib)) throw new UserError(`interposer not built (${lib} missing): run npm run build`);
  const exe = view.readFile(`/proc/${pid}/exe`) === null ? null : safeReadlink(`/proc/${pid}/exe`);
  const cmdline = (view.readFile(`/proc/${pid}/cmdline`) ?? '').split('\0').filter((s, i, a) => s !== '' || i < a.length - 1);
  const python = [...files].some((f) => /\/libpython[0-9.]*\.so/.test(f)) || /^python[0-9.]*$/.test(path.basename(exe ?? name));
  const torch = [...files].some((f) => /\/libtorch(_cpu|_python)?\.so|\/torch\/_C/.test(f));
  const notes: string[] = [];
  if (!python) notes.push(`process ${pid} (${name}) is not a Python process: allocations are recorded without ops or iterations`);
  else if (!torch) notes.push(`torch is not loaded in process ${pid} (${name}): allocations are recorded without ops or iterations (they appear if it imports torch later)`);
  const start = processStart(pid, view.readFile);
  if (start === null) throw new UserError(`no process with pid ${pid}`);
  return { pid, gdb, lib, targetStart: start, exe, cmdline, cwd: safeReadlink(`/proc/${pid}/cwd`) ?? '/', python, torch, notes };
}

function isDescendant(pid: number, view: ProcView): boolean {
  let p = pid;
  for (let i = 0; i < 64 && p > 1; i++) {
    const stat = view.readFile(`/proc/${p}/stat`);
    if (!stat) return false;
    p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (p === view.selfPid) return true;
  }
  return false;
}

function safeReadlink(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------------------ attach ---

export interface AttachOptions {
  db: DB;
  dbFile: string;
  pid: number;
  name?: string;
  /** Seconds to record; undefined: until detach() / the target exits. */
  duration?: number;
  ops?: boolean;
  onNote?: (note: string) => void;
  onProgress?: (p: { seconds: number; events: number; liveBytes: number }) => void;
  pollMs?: number;
  /** Bound on each gdb run (ms), and on all retries of one step. */
  gdbTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Test hook: the /proc view used by the preflight. */
  view?: ProcView;
}

export interface AttachResult {
  sessionId: number;
  pid: number;
  summary: LifetimeTotals & { ops: number };
  /** Frees of blocks allocated before the attach (not paired). */
  unmatchedFrees: number;
  slotsPatched: number;
  slotsRestored: number | null;
  /** The target exited while attached (its trace ends with its exit). */
  targetExited: boolean;
  /** Detached by `memoplan detach` from another invocation. */
  detachedElsewhere: boolean;
  agent: string | null;
  notes: string[];
}

export interface AttachHandle {
  sessionId: number;
  pid: number;
  traceDir: string;
  /** Ends the recording: detaches, stores, resolves `done`. Safe to call more than once. */
  detach(): void;
  done: Promise<AttachResult>;
}

const ATTACH_ERRORS: Record<number, string> = {
  [-1]: 'the trace directory is not usable by the target',
  [-2]: 'the process was launched under `memoplan record` and is already recorded',
  [-3]: 'the process runs a plan (memoplan replay): plan mode cannot be attached to',
  [-4]: "the process's malloc functions could not be found (not glibc?)",
  [-5]: 'the target could not create its trace file (disk full, or a directory it cannot write?)',
  [-6]: 'memoplan is already attached to it',
};

function gdbFailure(pid: number, r: GdbResult, what: string): UserError {
  const all = `${r.message ?? ''} ${r.stderr}`;
  if (/ptrace: Operation not permitted|not permitted/i.test(all)) {
    return new UserError(`${what} ${pid}: ptrace refused (Operation not permitted): the process may be non-dumpable or belong to another user, or a container lacks CAP_SYS_PTRACE; ${PERMISSION_HINT}`);
  }
  if (r.error === 'exited' || /No such process|exited|not being run/i.test(all)) return new UserError(`${what} ${pid}: the process exited meanwhile`);
  if (r.timedOut) return new UserError(`${what} ${pid}: gdb did not finish in time (stopped and detached)`);
  return new UserError(`${what} ${pid}: gdb failed: ${r.message || r.error || 'no result'}`);
}

/** Runs one gdb step, retrying while no thread of the target is at a safe point. */
export async function gdbStep(gdbPath: string, pid: number, step: GdbStep, timeoutMs: number, what: string): Promise<GdbResult> {
  const deadline = Date.now() + timeoutMs;
  let tries = 0;
  for (;;) {
    if (!processAlive(pid)) throw new UserError(`${what} ${pid}: the process exited meanwhile`);
    const r = await runGdb(gdbPath, pid, step, Math.max(5000, deadline - Date.now()));
    tries++;
    if (r.ok) return r;
    if (r.retry && Date.now() < deadline) {
      await sleep(50 + Math.random() * 150);
      continue;
    }
    if (r.retry) {
      const busy = (r.threads ?? []).map((t) => `${t.tid}: ${t.unsafe.join(',')}`).join('; ');
      throw new UserError(`${what} ${pid}: no thread reached a safe point in ${tries} tries (${busy}); nothing was changed, try again`);
    }
    throw gdbFailure(pid, r, what);
  }
}

export async function attachProcess(o: AttachOptions): Promise<AttachHandle> {
  const env = o.env ?? process.env;
  const notes: string[] = [];
  const note = (n: string) => {
    notes.push(n);
    o.onNote?.(n);
  };
  const pre = preflightAttach(o.pid, o.view ?? realProcView(env), env);
  assertIngestReady();
  const existing = readRecord(o.pid, env);
  if (existing) {
    const live = existing.state !== 'detached' && processAlive(existing.owner) && existing.targetStart === pre.targetStart;
    if (live) {
      throw new UserError(
        `memoplan (pid ${existing.owner}) is already attached to process ${o.pid} (session ${existing.sessionId ?? '?'} in ${existing.dbFile}): run \`memoplan detach ${o.pid}\` first`,
      );
    }
    removeRecord(o.pid, env); // left by a memoplan that died, or for an earlier process with this pid
  }
  const record: AttachRecord = {
    pid: o.pid, targetStart: pre.targetStart, owner: process.pid, dbFile: path.resolve(o.dbFile), sessionId: null, traceDir: null, clockBaseNs: null, state: 'attaching',
  };
  if (!claimRecord(record, env)) {
    throw new UserError(`another memoplan is attaching to process ${o.pid} right now: run \`memoplan detach ${o.pid}\` first`);
  }
  for (const n of pre.notes) note(n);
  const timeout = o.gdbTimeoutMs ?? 60_000;
  let sessionId: number | null = null;
  let traceDir: string | null = null;
  let ingest: Ingest | null = null;
  let slotsPatched = 0;
  const ops = o.ops ?? true;
  try {
    sessionId = createSession(o.db, {
      name: o.name ?? `attach-${o.pid}${pre.cmdline.length ? '-' + path.basename(pre.cmdline[pre.cmdline.length > 1 && pre.python ? 1 : 0]) : ''}`,
      command: pre.cmdline.length ? pre.cmdline : [pre.exe ?? String(o.pid)],
      cwd: pre.cwd,
      python: pre.python ? pre.exe : null,
      torchVersion: null,
      host: hostInfo(),
    });
    traceDir = fs.mkdtempSync(path.join(ensureTraceRoot(chooseTraceRoot(o.dbFile)), `session-${sessionId}-`));
    fs.chmodSync(traceDir, 0o777); // the target may run as another user (we are root then)
    const clockBase = process.hrtime.bigint() - 1_000_000_000n;
    setAttachStart(o.db, sessionId, clockBase, ops, o.pid);
    Object.assign(record, { sessionId, traceDir, clockBaseNs: String(clockBase) });
    updateRecord(record, env);
    ingest = startIngest({ db: o.db, dbFile: o.dbFile, sessionId, traceDir, clockBaseNs: clockBase, pollMs: o.pollMs });
    const ingesterStart = ingest.pid === null ? null : processStart(ingest.pid);
    if (ingest.pid !== null && ingesterStart !== null) {
      record.ingester = { pid: ingest.pid, start: ingesterStart };
      updateRecord(record, env);
    }

    let r = await gdbStep(pre.gdb, o.pid, { action: 'attach', lib: pre.lib, dir: traceDir, agent: pre.python ? agentDir() : '', flags: ops ? 1 : 0 }, timeout, 'cannot attach to process');
    if (r.rc === -6) {
      // Left attached by a memoplan that died: detach that one, then attach afresh.
      note(`process ${o.pid} was left attached by an earlier memoplan; detaching that first`);
      await gdbStep(pre.gdb, o.pid, { action: 'detach', lib: pre.lib }, timeout, 'cannot detach from process');
      r = await gdbStep(pre.gdb, o.pid, { action: 'attach', lib: pre.lib, dir: traceDir, agent: pre.python ? agentDir() : '', flags: ops ? 1 : 0 }, timeout, 'cannot attach to process');
    }
    const rc = r.rc ?? -100;
    if (rc < 0) throw new UserError(`cannot attach to process ${o.pid}: ${ATTACH_ERRORS[rc] ?? `memoplan_attach returned ${rc}`}`);
    slotsPatched = rc >> 4;
    if (pre.python && !(rc & 1)) note(rc & 2 ? `the Python interpreter of process ${o.pid} is not initialised: no agent` : `no Python C API found in process ${o.pid}: no agent`);
    setAttachedNow(o.db, sessionId);
    record.state = 'attached';
    updateRecord(record, env);
  } catch (err) {
    if (sessionId !== null) await failSession(o.db, sessionId, ingest, traceDir, notes);
    removeRecord(o.pid, env);
    throw err;
  }
  return run(o, pre, record, ingest, slotsPatched, notes, note, env);
}

async function failSession(db: DB, sessionId: number, ingest: Ingest | null, traceDir: string | null, notes: string[]): Promise<void> {
  // Keep whatever reached the trace directory (the target may have recorded before failing).
  let kept = false;
  try {
    if (ingest) await ingest.finish();
    kept = true;
  } catch (e) {
    notes.push(`the partial trace could not be stored (${(e as Error).message}); it is kept in ${traceDir}`);
  }
  setDetachedNow(db, sessionId);
  endSession(db, sessionId, { status: 'failed', exitCode: null, signal: null });
  if (kept && traceDir) fs.rmSync(traceDir, { recursive: true, force: true });
}

function run(
  o: AttachOptions, pre: Preflight, record: AttachRecord, ingest: Ingest, slotsPatched: number, notes: string[], note: (n: string) => void, env: NodeJS.ProcessEnv,
): AttachHandle {
  const sessionId = record.sessionId!;
  const traceDir = record.traceDir!;
  let stop = false;
  let agent: string | null = null;
  const started = Date.now();
  const done = (async (): Promise<AttachResult> => {
    let lastReport = started;
    let targetExited = false;
    let detachedElsewhere = false;
    let slotsRestored: number | null = null;
    let failure: unknown = null;
    try {
      for (;;) {
        // The ingest polls by itself; stop if it failed.
        if (ingest.failure) throw ingest.failure;
        if (agent === null) agent = readAgentStatus(traceDir, note, o.pid);
        const now = Date.now();
        if (o.onProgress && now - lastReport >= 1000) {
          o.onProgress({ seconds: (now - started) / 1000, events: ingest.stats.events, liveBytes: ingest.stats.liveBytes });
          lastReport = now;
        }
        if (!targetRunning(o.pid, pre.targetStart)) {
          targetExited = true;
          break;
        }
        const cur = readRecord(o.pid, env);
        if (cur && cur.owner === process.pid && (cur.state === 'detaching' || cur.state === 'detached') && cur.detachedBy !== process.pid) {
          detachedElsewhere = true;
          break;
        }
        if (stop || (o.duration !== undefined && now - started >= o.duration * 1000)) break;
        await sleep(o.pollMs ?? 50);
      }
      if (detachedElsewhere) {
        // `memoplan detach` runs the detach; wait for it to finish (bounded).
        const until = Date.now() + (o.gdbTimeoutMs ?? 60_000) + 10_000;
        while (Date.now() < until && readRecord(o.pid, env)?.state !== 'detached' && targetRunning(o.pid, pre.targetStart)) {
          await sleep(100);
        }
      } else if (!targetExited) {
        if (transition(o.pid, ['attached'], 'detaching', process.pid, env)) {
          try {
            const r = await gdbStep(pre.gdb, o.pid, { action: 'detach', lib: pre.lib }, o.gdbTimeoutMs ?? 60_000, 'cannot detach from process');
            slotsRestored = r.rc !== undefined && r.rc >= 0 ? r.rc : null;
          } catch (err) {
            if (!targetRunning(o.pid, pre.targetStart)) targetExited = true;
            else failure = err;
          }
          transition(o.pid, ['detaching'], 'detached', process.pid, env);
        }
      }
      if (targetExited) note(`process ${o.pid} exited while attached; its trace ends with its exit`);
    } catch (err) {
      failure = err;
    }
    try {
      const { totals, notes: ingestNotes } = await ingest.finish();
      for (const n of ingestNotes) note(n);
      setDetachedNow(o.db, sessionId);
      endSession(o.db, sessionId, { status: failure ? 'failed' : 'complete', exitCode: null, signal: null });
      removeRecord(o.pid, env);
      if (failure) throw failure;
      fs.rmSync(traceDir, { recursive: true, force: true });
      if (totals.unmatchedFrees > 0) {
        note(`${totals.unmatchedFrees.toLocaleString('en-US')} frees of blocks allocated before the attach were not paired (expected: the session covers the process from the attach on)`);
      }
      return { sessionId, pid: o.pid, summary: totals, unmatchedFrees: totals.unmatchedFrees, slotsPatched, slotsRestored, targetExited, detachedElsewhere, agent, notes };
    } catch (err) {
      try {
        endSession(o.db, sessionId, { status: 'failed', exitCode: null, signal: null });
      } catch {
        /* the database itself failed */
      }
      removeRecord(o.pid, env);
      if (err instanceof Error && !(err instanceof UserError)) err.message += ` (what was stored before the failure is in session ${sessionId}; the rest of the raw trace is kept in ${traceDir})`;
      throw err;
    }
  })();
  return { sessionId, pid: o.pid, traceDir, detach: () => void (stop = true), done };
}

function readAgentStatus(dir: string, note: (n: string) => void, pid: number): string | null {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => /^agent-\d+\.status$/.test(n));
  } catch {
    return null;
  }
  if (!names.length) return null;
  const text = (readProc(path.join(dir, names[0])) ?? '').trim();
  if (text.startsWith('error')) note(`the Python agent could not be installed in process ${pid}: ${text.slice(6)}; allocations are recorded without ops`);
  else if (/torch=none/.test(text)) note(`torch is not imported in process ${pid}: allocations are recorded without ops or iterations`);
  return text;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Convenience for the UI: attach, record for `duration` seconds (or until detach()), store. */
export async function attachAndRecord(o: AttachOptions): Promise<AttachResult> {
  const h = await attachProcess(o);
  return h.done;
}
