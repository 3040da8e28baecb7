import type { DB } from './db';
import type { SessionSummary } from '../../shared/types';
import { UserError } from '../../shared/errors';

export interface NewSession {
  name: string;
  command: string[];
  cwd: string;
  python: string | null;
  torchVersion: string | null;
  host: object;
}

export function createSession(db: DB, s: NewSession): number {
  const info = db
    .prepare(
      `INSERT INTO sessions (name, command, cwd, status, started_at, python, torch_version, host)
       VALUES (?, ?, ?, 'recording', ?, ?, ?, ?)`,
    )
    .run(s.name, JSON.stringify(s.command), s.cwd, new Date().toISOString(), s.python, s.torchVersion, JSON.stringify(s.host));
  return Number(info.lastInsertRowid);
}

export function endSession(
  db: DB,
  id: number,
  end: { status: 'complete' | 'killed' | 'failed' | 'incomplete'; exitCode: number | null; signal: string | null },
): void {
  db.prepare(`UPDATE sessions SET status = ?, exit_code = ?, signal = ?, ended_at = ? WHERE id = ?`).run(
    end.status,
    end.exitCode,
    end.signal,
    new Date().toISOString(),
    id,
  );
}

/**
 * Deletes a session and every row of it, in one write transaction that first checks, holding
 * the lock, that it is not being recorded: its ingester (another process, perhaps another
 * memoplan) inserts rows that refer to it until the session ends.
 */
export function deleteSession(db: DB, id: number): void {
  db.transaction(() => {
    const s = db.prepare(`SELECT status, first_event, last_event FROM sessions WHERE id = ?`).get(id) as
      | { status: string; first_event: number | null; last_event: number | null }
      | undefined;
    if (!s) throw new UserError(`no session ${id} in this database`);
    if (s.status === 'recording') {
      throw new UserError(`session ${id} is being recorded; stop the recording first (a recording whose recorder died is ended by memoplan ingest of its kept trace)`);
    }
    // events has no session column: a session's events are its threads' rows in first_event..last_event.
    if (s.first_event !== null && s.last_event !== null) {
      db.prepare(`DELETE FROM events WHERE id BETWEEN ? AND ? AND thread_id IN (SELECT id FROM threads WHERE session_id = ?)`).run(s.first_event, s.last_event, id);
    }
    db.prepare(`DELETE FROM sessions WHERE id = ?`).run(id);
  }).immediate();
}

interface SessionRow {
  id: number;
  name: string;
  command: string;
  status: string;
  exit_code: number | null;
  started_at: string;
  ended_at: string | null;
  events: number;
  events_claimed: number | null;
  allocations: number;
  live_at_exit: number;
  iterations: number;
  ops: number;
  peak_live_bytes: number | null;
}

export function listSessions(db: DB): SessionSummary[] {
  const rows = db.prepare(`SELECT * FROM sessions ORDER BY id`).all() as SessionRow[];
  return rows.map(toSummary);
}

export function getSession(db: DB, id: number): SessionSummary {
  const row = db.prepare(`SELECT * FROM sessions WHERE id = ?`).get(id) as SessionRow | undefined;
  if (!row) throw new UserError(`no session ${id} in this database`);
  return toSummary(row);
}

function toSummary(r: SessionRow): SessionSummary {
  return {
    id: r.id,
    name: r.name,
    command: JSON.parse(r.command) as string[],
    status: r.status,
    exit_code: r.exit_code,
    started_at: r.started_at,
    ended_at: r.ended_at,
    events: r.events,
    events_claimed: r.events_claimed,
    allocations: r.allocations,
    live_at_exit: r.live_at_exit,
    iterations: r.iterations,
    ops: r.ops,
    peak_live_bytes: r.peak_live_bytes,
  };
}

/** Whether the database holds session `id`. */
export function sessionExists(db: DB, id: number): boolean {
  return db.prepare(`SELECT 1 FROM sessions WHERE id = ?`).get(id) !== undefined;
}

/** The whole sessions row, as stored (undefined: no such session). */
export function sessionRow(db: DB, id: number): Record<string, unknown> | undefined {
  return db.prepare(`SELECT * FROM sessions WHERE id = ?`).get(id) as Record<string, unknown> | undefined;
}

export interface SessionExtent {
  t_begin: number | null;
  t_end: number | null;
  peak_live_bytes: number | null;
}

/** The time span and peak of a session (undefined: no such session). */
export function sessionExtent(db: DB, id: number): SessionExtent | undefined {
  return db.prepare(`SELECT t_begin, t_end, peak_live_bytes FROM sessions WHERE id = ?`).get(id) as SessionExtent | undefined;
}

/** Renames session `id`; returns the rows changed (0: no such session). */
export function renameSession(db: DB, id: number, name: string): number {
  return db.prepare(`UPDATE sessions SET name = ? WHERE id = ?`).run(name, id).changes;
}

/** Processes and threads stored for a session. */
export function processAndThreadCounts(db: DB, id: number): { processes: number; threads: number } {
  const count = (sql: string) => (db.prepare(sql).get(id) as { n: number }).n;
  return {
    processes: count(`SELECT count(*) AS n FROM processes WHERE session_id = ?`),
    threads: count(`SELECT count(*) AS n FROM threads WHERE session_id = ?`),
  };
}

/** A session's status (undefined: no such session). */
export function sessionStatus(db: DB, id: number): string | undefined {
  return (db.prepare(`SELECT id, status FROM sessions WHERE id = ?`).get(id) as { id: number; status: string } | undefined)?.status;
}

/** Whether the agent recorded aten ops in the session (sessions.agent_ops). */
export function sessionAgentOps(db: DB, id: number): boolean {
  return (db.prepare(`SELECT agent_ops FROM sessions WHERE id = ?`).get(id) as { agent_ops: number }).agent_ops === 1;
}

/** A session's status and how many processes it holds (undefined: no such session). */
export function sessionStatusAndProcesses(db: DB, id: number): { status: string; processes: number } | undefined {
  return db.prepare(`SELECT status, (SELECT count(*) FROM processes WHERE session_id = sessions.id) AS processes FROM sessions WHERE id = ?`).get(id) as
    | { status: string; processes: number }
    | undefined;
}

/** Ends a session still recording as failed, now (one that is not recording is left alone). */
export function failRecordingSession(db: DB, id: number): void {
  db.prepare(`UPDATE sessions SET status = 'failed', ended_at = ? WHERE id = ? AND status = 'recording'`).run(new Date().toISOString(), id);
}

/** The columns of a session row that recreateSession copies. */
const RECREATED = ['name', 'command', 'cwd', 'started_at', 'python', 'torch_version', 'host', 'clock_base_ns', 'agent_ops', 'exit_code', 'signal'];

/**
 * A session row kept from a database that was removed while recording (sessionRowExact's, its
 * BigInts as text), made again here: a new id, status recording, the columns this database has.
 */
export function recreateSession(db: DB, row: Record<string, unknown>): number {
  const have = new Set((db.prepare(`PRAGMA table_info(sessions)`).all() as { name: string }[]).map((c) => c.name));
  const use = RECREATED.filter((c) => have.has(c) && row[c] !== undefined);
  const value = (c: string) => (c === 'clock_base_ns' && row[c] !== null ? BigInt(row[c] as string) : row[c]);
  const info = db
    .prepare(`INSERT INTO sessions (status, ${use.join(', ')}) VALUES ('recording', ${use.map(() => '?').join(', ')})`)
    .run(...use.map(value));
  return Number(info.lastInsertRowid);
}

/** The whole sessions row with its integers as BigInt (clock_base_ns does not fit a double). */
export function sessionRowExact(db: DB, id: number): Record<string, unknown> {
  return db.prepare(`SELECT * FROM sessions WHERE id = ?`).safeIntegers(true).get(id) as Record<string, unknown>;
}

/** What resuming an ingest needs of its session: status, clock base (exact) and signal (undefined: no such session). */
export function sessionForResume(db: DB, id: number): { status: string; clock_base_ns: bigint | null; signal: string | null } | undefined {
  return db.prepare(`SELECT status, clock_base_ns, signal FROM sessions WHERE id = ?`).safeIntegers(true).get(id) as
    | { status: string; clock_base_ns: bigint | null; signal: string | null }
    | undefined;
}

/** Sets how the target ended where the row does not say yet. */
export function setExitIfUnset(db: DB, id: number, exitCode: number | null, signal: string | null): void {
  db.prepare(`UPDATE sessions SET exit_code = coalesce(exit_code, ?), signal = coalesce(signal, ?) WHERE id = ?`).run(exitCode, signal, id);
}

/** Sets how the target ended. */
export function setExit(db: DB, id: number, exitCode: number | null, signal: string | null): void {
  db.prepare(`UPDATE sessions SET exit_code = ?, signal = ? WHERE id = ?`).run(exitCode, signal, id);
}

/** Sets when the session ended: now. */
export function setEndedNow(db: DB, id: number): void {
  db.prepare(`UPDATE sessions SET ended_at = ? WHERE id = ?`).run(new Date().toISOString(), id);
}

/** Whether the agent records aten ops (sessions.agent_ops). */
export function setAgentOps(db: DB, id: number, ops: boolean): void {
  db.prepare(`UPDATE sessions SET agent_ops = ? WHERE id = ?`).run(ops ? 1 : 0, id);
}

/** The CLOCK_MONOTONIC instant the session's timestamps count from. */
export function setClockBase(db: DB, id: number, clockBase: bigint): void {
  db.prepare(`UPDATE sessions SET clock_base_ns = ? WHERE id = ?`).run(clockBase, id);
}

/** An attach begins: clock base, agent mode and the attached process. */
export function setAttachStart(db: DB, id: number, clockBase: bigint, ops: boolean, pid: number): void {
  db.prepare(`UPDATE sessions SET clock_base_ns = ?, agent_ops = ?, attached_pid = ? WHERE id = ?`).run(clockBase, ops ? 1 : 0, pid, id);
}

/** The attached process is traced from now. */
export function setAttachedNow(db: DB, id: number): void {
  db.prepare(`UPDATE sessions SET attached_at = ? WHERE id = ?`).run(new Date().toISOString(), id);
}

/** The attached process was let go now. */
export function setDetachedNow(db: DB, id: number): void {
  db.prepare(`UPDATE sessions SET detached_at = ? WHERE id = ?`).run(new Date().toISOString(), id);
}

/** Threads stored for a session. */
export function threadCount(db: DB, id: number): number {
  return (db.prepare(`SELECT count(*) AS n FROM threads WHERE session_id = ?`).get(id) as { n: number }).n;
}
