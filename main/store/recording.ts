import Database from 'better-sqlite3';
import path from 'node:path';
import type { DB } from './db';
import type { LifetimeTotals } from './lifetimes';

/**
 * The rows of a recording other than its events (main/store/ingest.ts) and lifetimes
 * (main/store/lifetimes.ts): processes, threads, scopes (ops) and Python stacks as the trace
 * files name them, each process's end, and the session's totals. Written by `memoplan ingest`
 * (main/ingest/resume.ts) and the JS reference ingest (test/oracle/session-ingest.ts);
 * native/ingest writes the same rows.
 */

/** The statements that add a session's processes, threads, scopes and stacks. */
export class RecordingRows {
  private readonly process: Database.Statement;
  private readonly thread: Database.Statement;
  private readonly op: Database.Statement;
  private readonly rename: Database.Statement;
  private readonly stack: Database.Statement;
  private readonly exit: Database.Statement;

  constructor(db: DB, readonly sessionId: number) {
    this.process = db.prepare(`INSERT INTO processes (session_id, pid, ppid, is_fork_child, start_ns, trace_file) VALUES (?, ?, ?, ?, ?, ?)`);
    this.thread = db.prepare(`INSERT INTO threads (session_id, process_id, tid, thread_index) VALUES (?, ?, ?, ?)`);
    this.op = db.prepare(`INSERT INTO ops (session_id, process_id, name_id, module, op, stack_id) VALUES (?, ?, ?, ?, ?, ?)`);
    this.rename = db.prepare(`UPDATE ops SET module = ?, op = ?, stack_id = ? WHERE id = ?`);
    this.stack = db.prepare(`INSERT INTO stacks (session_id, process_id, name_id, frames) VALUES (?, ?, ?, ?)`);
    this.exit = db.prepare(`UPDATE processes SET clean_exit = ?, events_claimed = ? WHERE id = ?`);
  }

  /** A traced process (its trace file's header); returns its id. */
  addProcess(pid: number, ppid: number, forkChild: boolean, startNs: number | bigint, traceFile: string): number {
    return Number(this.process.run(this.sessionId, pid, ppid, forkChild ? 1 : 0, startNs, traceFile).lastInsertRowid);
  }

  addThread(processId: number, tid: number, threadIndex: number): number {
    return Number(this.thread.run(this.sessionId, processId, tid, threadIndex).lastInsertRowid);
  }

  /** A scope the agent interned (name id nameId of the process): module, op and its Python stack's row. */
  addOp(processId: number, nameId: number, module: string, op: string, stackId: number | null): number {
    return Number(this.op.run(this.sessionId, processId, nameId, module, op, stackId).lastInsertRowid);
  }

  /** A scope stored before its name was read (a placeholder), named now. */
  renameOp(id: number, module: string, op: string, stackId: number | null): void {
    this.rename.run(module, op, stackId, id);
  }

  /** A Python stack the agent interned; `frames` one per line, outermost first. */
  addStack(processId: number, nameId: number, frames: string): number {
    return Number(this.stack.run(this.sessionId, processId, nameId, frames).lastInsertRowid);
  }

  /** How a process ended: clean, with the events its interposer claims to have written (null when not clean). */
  setProcessExit(processId: number, cleanExit: boolean, eventsClaimed: number | null): void {
    this.exit.run(cleanExit ? 1 : 0, eventsClaimed, processId);
  }
}

/**
 * The session's totals once its lifetimes are built: counts, span, peak, its events' id range,
 * and (`end`) its status and end time when not set yet. Returns the number of its scopes.
 */
export function storeSessionTotals(
  db: DB,
  sessionId: number,
  t: LifetimeTotals,
  claimed: number | null,
  firstEvent: number | null,
  lastEvent: number | null,
  end?: { status: string },
): number {
  const ops = (db.prepare(`SELECT count(*) AS n FROM ops WHERE session_id = ?`).get(sessionId) as { n: number }).n;
  if (!end) {
    db.prepare(
      `UPDATE sessions SET events = ?, markers = ?, events_claimed = ?, allocations = ?, live_at_exit = ?, iterations = ?,
         ops = ?, t_begin = ?, t_end = ?, peak_live_bytes = ?, first_event = ?, last_event = ? WHERE id = ?`,
    ).run(t.events, t.markers, claimed, t.allocations, t.liveAtExit, t.iterations, ops, t.tBegin, t.tEnd, t.peakLiveBytes, firstEvent, lastEvent, sessionId);
  } else {
    db.prepare(
      `UPDATE sessions SET events = ?, markers = ?, events_claimed = ?, allocations = ?, live_at_exit = ?, iterations = ?, ops = ?,
         t_begin = ?, t_end = ?, peak_live_bytes = ?, first_event = ?, last_event = ?, status = ?, ended_at = coalesce(ended_at, ?) WHERE id = ?`,
    ).run(t.events, t.markers, claimed, t.allocations, t.liveAtExit, t.iterations, ops, t.tBegin, t.tEnd, t.peakLiveBytes, firstEvent, lastEvent,
      end.status, new Date().toISOString(), sessionId);
  }
  return ops;
}

/** What a session holds already, for an ingest that resumes it: its processes, threads, events per thread, scopes and stacks. */
export interface StoredRecording {
  processes: { id: number; trace_file: string }[];
  threads: { id: number; process_id: number; thread_index: number }[];
  eventsPerThread: { thread_id: number; n: number }[];
  ops: { id: number; process_id: number; name_id: number; module: string; op: string; stack_id: number | null }[];
  stacks: { id: number; process_id: number; name_id: number }[];
}

export function storedRecording(db: DB, sessionId: number): StoredRecording {
  return {
    processes: db.prepare(`SELECT id, trace_file FROM processes WHERE session_id = ?`).all(sessionId) as StoredRecording['processes'],
    threads: db.prepare(`SELECT id, process_id, thread_index FROM threads WHERE session_id = ?`).all(sessionId) as StoredRecording['threads'],
    eventsPerThread: db
      .prepare(`SELECT thread_id, count(*) AS n FROM events WHERE thread_id IN (SELECT id FROM threads WHERE session_id = ?) GROUP BY thread_id`)
      .all(sessionId) as StoredRecording['eventsPerThread'],
    ops: db.prepare(`SELECT id, process_id, name_id, module, op, stack_id FROM ops WHERE session_id = ?`).all(sessionId) as StoredRecording['ops'],
    stacks: db.prepare(`SELECT id, process_id, name_id FROM stacks WHERE session_id = ?`).all(sessionId) as StoredRecording['stacks'],
  };
}

/** Deletes what the lifetime builder derives from a session's events (allocations, iterations, timeline, op_stats), to build it again. */
export function deleteDerivedRows(db: DB, sessionId: number): void {
  for (const t of ['allocations', 'iterations', 'timeline', 'op_stats']) db.prepare(`DELETE FROM ${t} WHERE session_id = ?`).run(sessionId);
}

/**
 * Every event row of a session in time order (ts, id), read through a read-only connection of
 * its own to the database file (so `db` may write meanwhile): [id, thread_id, ts, kind, addr,
 * size, align, scope, flags], integers as BigInt.
 */
export function forEachEventInTimeOrder(dbFile: string, sessionId: number, fn: (row: unknown[]) => void): void {
  const reader = new Database(path.resolve(dbFile), { readonly: true });
  try {
    const rows = reader
      .prepare(
        `SELECT id, thread_id, ts, kind, addr, size, align, scope, flags FROM events
         WHERE thread_id IN (SELECT id FROM threads WHERE session_id = ?) ORDER BY ts, id`,
      )
      .raw(true)
      .safeIntegers(true);
    for (const r of rows.iterate(sessionId) as Iterable<unknown[]>) fn(r);
  } finally {
    reader.close();
  }
}
