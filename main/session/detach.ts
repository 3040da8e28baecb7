import fs from 'node:fs';
import { UserError } from '../../shared/errors';
import { openDatabase } from '../store/db';
import { endSession } from '../store/sessions';
import { finishIngestOffline } from '../record/native-ingest';
import { interposerPath } from '../paths';
import { gdbStep, realProcView } from './attach';
import { processAlive, readRecord, removeRecord, targetRunning, transition, processStart } from './registry';

/**
 * `memoplan detach PID`: detach a process that another memoplan invocation attached to. This
 * invocation runs the detach itself (gdb: agent uninstall, GOT entries restored, trace closed)
 * and marks the registry entry detached; the attaching invocation sees that, finishes its
 * ingest and removes the entry (we wait for it, bounded). If that invocation is gone (killed),
 * we finish its session ourselves from the registry entry (database, session, trace dir).
 */

export interface DetachResult {
  pid: number;
  sessionId: number | null;
  /** Slots restored by the interposer, null when the target had exited. */
  slotsRestored: number | null;
  /** Who stored the session: the attaching invocation, or this one (it had died). */
  storedBy: 'owner' | 'self' | 'none';
  notes: string[];
}

export async function detachProcess(pid: number, o: { env?: NodeJS.ProcessEnv; gdbTimeoutMs?: number; waitOwnerMs?: number } = {}): Promise<DetachResult> {
  const env = o.env ?? process.env;
  const notes: string[] = [];
  if (!Number.isInteger(pid) || pid <= 0) throw new UserError(`not a process id: ${pid}`);
  const rec = readRecord(pid, env);
  const running = rec ? targetRunning(pid, rec.targetStart) : processStart(pid) !== null;
  if (!rec && !running) throw new UserError(`no process with pid ${pid}`);
  if (rec && rec.state === 'attaching') throw new UserError(`memoplan (pid ${rec.owner}) is still attaching to process ${pid}: try again in a moment`);
  if (rec && (rec.state === 'detaching' || rec.state === 'detached') && processAlive(rec.owner) && rec.owner !== process.pid) {
    throw new UserError(`process ${pid} is already being detached`);
  }
  let slotsRestored: number | null = null;
  if (running) {
    const view = realProcView(env);
    const gdb = view.which(env.MEMOPLAN_GDB ?? 'gdb');
    if (!gdb) throw new UserError('gdb is not installed: install the Debian package gdb (apt-get install gdb)');
    if (rec && !transition(pid, ['attached', 'detaching', 'detached'], 'detaching', process.pid, env)) {
      throw new UserError(`process ${pid} is being detached by another memoplan`);
    }
    const r = await gdbStep(gdb, pid, { action: 'detach', lib: interposerPath() }, o.gdbTimeoutMs ?? 60_000, 'cannot detach from process');
    if (r.rc === -6 || r.loaded === false) {
      if (!rec) throw new UserError(`memoplan is not attached to process ${pid}`);
      notes.push(`process ${pid} was not attached any more`);
    } else slotsRestored = r.rc ?? null;
    if (rec) transition(pid, ['detaching'], 'detached', process.pid, env);
  }
  if (!rec) return { pid, sessionId: null, slotsRestored, storedBy: 'none', notes };
  // The attaching invocation stores the session; wait for it (bounded).
  const until = Date.now() + (o.waitOwnerMs ?? 60_000);
  while (processAlive(rec.owner) && rec.owner !== process.pid && readRecord(pid, env) && Date.now() < until) await sleep(100);
  if (!readRecord(pid, env)) return { pid, sessionId: rec.sessionId, slotsRestored, storedBy: 'owner', notes };
  if (processAlive(rec.owner) && rec.owner !== process.pid) {
    notes.push(`memoplan (pid ${rec.owner}) has not stored session ${rec.sessionId} yet; it will when it notices`);
    return { pid, sessionId: rec.sessionId, slotsRestored, storedBy: 'owner', notes };
  }
  // The owner is gone: store what it recorded.
  if (rec.sessionId !== null && rec.traceDir && rec.clockBaseNs !== null && fs.existsSync(rec.traceDir)) {
    const db = openDatabase(rec.dbFile);
    try {
      const { notes: n } = await finishIngestOffline({ db, dbFile: rec.dbFile, sessionId: rec.sessionId, traceDir: rec.traceDir, clockBaseNs: BigInt(rec.clockBaseNs) });
      notes.push(...n, `the attaching memoplan (pid ${rec.owner}) is gone: session ${rec.sessionId} stored by this detach`);
      db.prepare(`UPDATE sessions SET detached_at = ? WHERE id = ?`).run(new Date().toISOString(), rec.sessionId);
      endSession(db, rec.sessionId, { status: 'complete', exitCode: null, signal: null });
      fs.rmSync(rec.traceDir, { recursive: true, force: true });
    } finally {
      db.close();
    }
    removeRecord(pid, env);
    return { pid, sessionId: rec.sessionId, slotsRestored, storedBy: 'self', notes };
  }
  removeRecord(pid, env);
  return { pid, sessionId: rec.sessionId, slotsRestored, storedBy: 'none', notes };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
