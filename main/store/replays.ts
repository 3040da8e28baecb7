import type { DB } from './db';

/** The replays table: sessions recorded in plan mode (memoplan replay), what they ran and what the interposer counted. */

/** The ids of the sessions that are replays, in order. */
export function replaySessionIds(db: DB): number[] {
  return db.prepare(`SELECT session_id FROM replays ORDER BY session_id`).pluck().all() as number[];
}

/** The interposer's verdict on a replay session (undefined: not a replay). */
export function replayOutcome(db: DB, sessionId: number): { status: number | null; refusal: string | null } | undefined {
  return db.prepare(`SELECT status, refusal FROM replays WHERE session_id = ?`).get(sessionId) as { status: number | null; refusal: string | null } | undefined;
}

/**
 * The replays of a session: its own row if it is a replay, and the replays of the given plans
 * and plan sets, by session; each row (replays.*) with its session's name as session_name.
 */
export function replaysOf(db: DB, sessionId: number, planIds: number[], setIds: number[]): Record<string, unknown>[] {
  const ids = planIds.length ? planIds : [-1];
  const sets = setIds.length ? setIds : [-1];
  return db
    .prepare(
      `SELECT r.*, s.name AS session_name FROM replays r LEFT JOIN sessions s ON s.id = r.session_id
       WHERE r.session_id = ? OR r.plan_id IN (${ids.map(() => '?').join(',')}) OR r.set_id IN (${sets.map(() => '?').join(',')}) ORDER BY r.session_id`,
    )
    .all(sessionId, ...ids, ...sets) as Record<string, unknown>[];
}
