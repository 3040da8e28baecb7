import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ENV } from '../../shared/env-vars';

/**
 * Which processes memoplan is attached to: one file per target in a per-user directory
 * (MEMOPLAN_ATTACH_DIR, else $TMPDIR/memoplan-attach-<uid>), created with O_EXCL so that two
 * invocations cannot both attach. The file names the owning memoplan process, the database and
 * session, and the target's start time (a reused pid is another process). `memoplan detach`
 * marks it detached; the owner then finishes its ingest and removes it.
 */

export interface AttachRecord {
  pid: number;
  /** /proc/PID/stat starttime of the target (clock ticks since boot). */
  targetStart: number;
  owner: number;
  dbFile: string;
  sessionId: number | null;
  traceDir: string | null;
  clockBaseNs: string | null;
  state: 'attaching' | 'attached' | 'detaching' | 'detached';
  detachedBy?: number;
  /**
   * The owner's trace ingester (memoplan-ingest, a process of its own) and its /proc starttime.
   * If the owner dies, the ingester goes on storing until the target is detached or exits, then
   * ends the session (native/ingest/main.cpp); `memoplan detach` waits for it.
   */
  ingester?: { pid: number; start: number };
}

export function registryDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env[ENV.ATTACH_DIR] ?? path.join(os.tmpdir(), `memoplan-attach-${process.getuid?.() ?? 0}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export function recordPath(pid: number, env?: NodeJS.ProcessEnv): string {
  return path.join(registryDir(env), `pid-${pid}.json`);
}

export function readRecord(pid: number, env?: NodeJS.ProcessEnv): AttachRecord | null {
  try {
    return JSON.parse(fs.readFileSync(recordPath(pid, env), 'utf8')) as AttachRecord;
  } catch {
    return null;
  }
}

/** Creates the record; false if one exists already. */
export function claimRecord(r: AttachRecord, env?: NodeJS.ProcessEnv): boolean {
  try {
    fs.writeFileSync(recordPath(r.pid, env), JSON.stringify(r), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

export function updateRecord(r: AttachRecord, env?: NodeJS.ProcessEnv): void {
  const file = recordPath(r.pid, env);
  fs.writeFileSync(file + '.tmp', JSON.stringify(r));
  fs.renameSync(file + '.tmp', file);
}

export function removeRecord(pid: number, env?: NodeJS.ProcessEnv): void {
  fs.rmSync(recordPath(pid, env), { force: true });
}

/**
 * Atomically moves the record from `from` to `to` (a lock file guards the read-modify-write):
 * whoever gets 'attached' -> 'detaching' is the one that runs the detach.
 */
export function transition(pid: number, from: AttachRecord['state'][], to: AttachRecord['state'], by: number, env?: NodeJS.ProcessEnv): AttachRecord | null {
  const lock = recordPath(pid, env) + '.lock';
  for (let i = 0; i < 200; i++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      if (i === 199) fs.rmSync(lock, { force: true }); // a holder that died; take it
    }
  }
  try {
    const r = readRecord(pid, env);
    if (!r || !from.includes(r.state)) return null;
    const next = { ...r, state: to, detachedBy: to === 'detaching' || to === 'detached' ? by : r.detachedBy };
    updateRecord(next, env);
    return next;
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** starttime (field 22) of /proc/PID/stat, or null when the process is gone. */
export function processStart(pid: number, readFile: (p: string) => string | null = readProc): number | null {
  const stat = readFile(`/proc/${pid}/stat`);
  if (!stat) return null;
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const v = Number(rest[19]);
  return Number.isFinite(v) ? v : null;
}

export function readProc(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

/** The process with this start time still runs (not gone, not a zombie). */
export function targetRunning(pid: number, start: number, readFile: (p: string) => string | null = readProc): boolean {
  const stat = readFile(`/proc/${pid}/stat`);
  if (!stat) return false;
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[0] !== 'Z' && rest[0] !== 'X' && Number(rest[19]) === start;
}
