import fs from 'node:fs';
import { UserError } from '../../shared/errors';
import { openDatabase } from '../store/db';
import { endSession } from '../store/sessions';
import { finishIngestOffline } from '../record/native-ingest';
import { interposerPath } from '../paths';
import { gdbStep, realProcView } from './attach';
import { processAlive, readRecord, removeRecord, targetRunning, transition, processStart } from './registry';
import { ENV } from '../../shared/env-vars';
import { sessionStatus, setDetachedNow, threadCount } from '../store/sessions';

/**
 * `memoplan detach PID`: detach a process that another memoplan invocation attached to. This
 * invocation runs the detach itself (gdb: agent uninstall, GOT entries restored, trace closed)
 * and marks the registry entry detached; the attaching invocation sees that, finishes its
 * ingest and removes the entry (we wait for it, bounded). If that invocation is gone (killed):
 *   - its ingester (memoplan-ingest, a process of its own) normally outlives it, stores the
 *     rest of the trace once the detach closed it, and ends the session: we wait for that;
 *   - if the ingester is gone too and stored nothing, we ingest the trace directory ourselves;
 *   - if it is gone after storing part of the session, a second ingest would store that part
 *     twice: the session is ended as failed and the raw trace kept, with a note saying where.
 */

export interface DetachResult {
  pid: number;
  sessionId: number | null;
  /** Slots restored by the interposer, null when the target had exited. */
  slotsRestored: number | null;
  /** Who stored the session: the attaching invocation, its ingester (the invocation had died), or this one (both had). */
  storedBy: 'owner' | 'ingester' | 'self' | 'none';
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
    const gdb = view.which(env[ENV.GDB] ?? 'gdb');
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
  // The owner is gone. Its ingester ends the session once the trace is closed (just done).
  const ingester = rec.ingester;
  if (ingester) {
    while (targetRunning(ingester.pid, ingester.start) && Date.now() < until) await sleep(100);
    if (targetRunning(ingester.pid, ingester.start)) {
      notes.push(`the ingester of session ${rec.sessionId} (pid ${ingester.pid}) is still storing it; it ends the session when done`);
      removeRecord(pid, env);
      return { pid, sessionId: rec.sessionId, slotsRestored, storedBy: 'ingester', notes };
    }
  }
  if (rec.sessionId === null) {
    removeRecord(pid, env);
    return { pid, sessionId: null, slotsRestored, storedBy: 'none', notes };
  }
  const db = openDatabase(rec.dbFile);
  try {
    const status = sessionStatus(db, rec.sessionId);
    if (status === undefined) {
      notes.push(`session ${rec.sessionId} is not in ${rec.dbFile} any more`);
      removeRecord(pid, env);
      return { pid, sessionId: rec.sessionId, slotsRestored, storedBy: 'none', notes };
    }
    if (status !== 'recording') {
      notes.push(`the attaching memoplan (pid ${rec.owner}) is gone: its ingester stored session ${rec.sessionId}`);
      if (rec.traceDir) fs.rmSync(rec.traceDir, { recursive: true, force: true });
      removeRecord(pid, env);
      return { pid, sessionId: rec.sessionId, slotsRestored, storedBy: 'ingester', notes };
    }
    if (!rec.traceDir || rec.clockBaseNs === null || !fs.existsSync(rec.traceDir)) {
      endSession(db, rec.sessionId, { status: 'failed', exitCode: null, signal: null });
      notes.push(`the attaching memoplan (pid ${rec.owner}) is gone and its trace directory too: session ${rec.sessionId} ended as failed`);
      removeRecord(pid, env);
      return { pid, sessionId: rec.sessionId, slotsRestored, storedBy: 'none', notes };
    }
    const stored = threadCount(db, rec.sessionId);
    if (stored > 0) {
      setDetachedNow(db, rec.sessionId);
      endSession(db, rec.sessionId, { status: 'failed', exitCode: null, signal: null });
      notes.push(
        `the attaching memoplan (pid ${rec.owner}) and its ingester are gone: session ${rec.sessionId} holds what was stored before, ` +
          `and the rest of the raw trace is kept in ${rec.traceDir} (ingesting it again would store the first part twice)`,
      );
      removeRecord(pid, env);
      return { pid, sessionId: rec.sessionId, slotsRestored, storedBy: 'none', notes };
    }
    const { notes: n } = await finishIngestOffline({ db, dbFile: rec.dbFile, sessionId: rec.sessionId, traceDir: rec.traceDir, clockBaseNs: BigInt(rec.clockBaseNs) });
    notes.push(...n, `the attaching memoplan (pid ${rec.owner}) is gone: session ${rec.sessionId} stored by this detach`);
    setDetachedNow(db, rec.sessionId);
    endSession(db, rec.sessionId, { status: 'complete', exitCode: null, signal: null });
    fs.rmSync(rec.traceDir, { recursive: true, force: true });
    removeRecord(pid, env);
    return { pid, sessionId: rec.sessionId, slotsRestored, storedBy: 'self', notes };
  } finally {
    db.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
