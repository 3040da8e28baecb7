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

/** A replays row: what a replay session ran and what the interposer counted. */
export interface ReplayToStore {
  sessionId: number;
  planId: number | null;
  planFile: string;
  threads: number;
  status: number;
  refusal: string | null;
  hits: number;
  misses: number;
  hitBytes: number;
  missBytes: number;
  arenaBytes: number | null;
  iterationsServed: number | null;
  retirements: number | null;
  signaturesServed: number | null;
  iterationsUnplanned: number | null;
  setId: number | null;
}

export function insertReplay(db: DB, r: ReplayToStore): void {
  db.prepare(
    `INSERT INTO replays (session_id, plan_id, plan_file, threads, status, refusal, hits, misses, hit_bytes, miss_bytes,
       arena_bytes, iterations_served, retirements, signatures_served, iterations_unplanned, set_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    r.sessionId, r.planId, r.planFile, r.threads, r.status, r.refusal, r.hits, r.misses,
    r.hitBytes, r.missBytes, r.arenaBytes, r.iterationsServed, r.retirements,
    r.signaturesServed, r.iterationsUnplanned, r.setId,
  );
}
