import type { DB } from './db';

/** The iterations rows of a session, as the app's and the report's iteration views read them. */

export interface IterationListEntry {
  number: number;
  allocs: number;
  alloc_bytes: number;
  latency_ns: number | null;
  end_seq: number | null;
  signature: string | null;
}

/** The app's iteration list (plan.iterations): by number, at most 10,000. */
export function iterationList(db: DB, session: number): IterationListEntry[] {
  return db
    .prepare(`SELECT number, allocs, alloc_bytes, latency_ns, end_seq, signature FROM iterations WHERE session_id = ? ORDER BY number, id LIMIT 10000`)
    .all(session) as IterationListEntry[];
}

/** The ended iterations' spans for the timeline chart, by start, at most 500. */
export function iterationSpans(db: DB, session: number): { number: number; t0: number; t1: number }[] {
  return db
    .prepare(`SELECT number, t_begin AS t0, t_end AS t1 FROM iterations WHERE session_id = ? AND t_end IS NOT NULL ORDER BY t_begin LIMIT 500`)
    .all(session) as { number: number; t0: number; t1: number }[];
}

/** How many iterations the session has. */
export function iterationCount(db: DB, session: number): number {
  return (db.prepare(`SELECT count(*) AS n FROM iterations WHERE session_id = ?`).get(session) as { n: number }).n;
}

export interface IterationInOrder {
  number: number;
  thread_id: number;
  latency_ns: number | null;
  allocs: number;
  alloc_bytes: number;
  signature: string | null;
}

/** The first `limit` iterations in the order they began. */
export function iterationsInOrder(db: DB, session: number, limit: number): IterationInOrder[] {
  return db
    .prepare(
      `SELECT number, thread_id, latency_ns, allocs, alloc_bytes, signature FROM iterations WHERE session_id = ?
       ORDER BY t_begin, id LIMIT ?`,
    )
    .all(session, limit) as IterationInOrder[];
}

/** Each distinct signature of the session's iterations, with its count and first number: most frequent first. */
export function signatureCounts(db: DB, session: number): { signature: string; count: number; first: number }[] {
  return db
    .prepare(
      `SELECT signature, count(*) AS count, min(number) AS first FROM iterations WHERE session_id = ? AND signature IS NOT NULL
       GROUP BY signature ORDER BY count DESC, first`,
    )
    .all(session) as { signature: string; count: number; first: number }[];
}

/**
 * Per thread, among its iterations with a signature: the last number whose signature is not
 * `modal` (-1: none) and the last number.
 */
export function lastOffSignature(db: DB, session: number, modal: string): { thread_id: number; lastOff: number; last: number }[] {
  return db
    .prepare(
      `SELECT thread_id, coalesce(max(CASE WHEN signature IS NOT ? THEN number END), -1) AS lastOff, max(number) AS last
       FROM iterations WHERE session_id = ? AND signature IS NOT NULL GROUP BY thread_id`,
    )
    .all(modal, session) as { thread_id: number; lastOff: number; last: number }[];
}

/** A statement: the latency of each iteration of a session that has one, in the order they began, the first 2,000. */
export function firstLatencies(db: DB): (sessionId: number) => number[] {
  const q = db.prepare(`SELECT latency_ns FROM iterations WHERE session_id = ? AND latency_ns IS NOT NULL ORDER BY t_begin, id LIMIT 2000`);
  return (sessionId) => (q.all(sessionId) as { latency_ns: number }[]).map((x) => x.latency_ns);
}

export interface IterationListRow {
  id: number;
  number: number;
  thread_id: number;
  begin_seq: number;
  end_seq: number | null;
  signature: string | null;
}

/** Every iteration of a session in the order they began (null: no such session). */
export function listIterations(db: DB, sessionId: number): IterationListRow[] | null {
  if (!db.prepare(`SELECT 1 FROM sessions WHERE id = ?`).get(sessionId)) return null;
  return db
    .prepare(`SELECT id, number, thread_id, begin_seq, end_seq, signature FROM iterations WHERE session_id = ? ORDER BY begin_seq, id`)
    .all(sessionId) as IterationListRow[];
}

/** An iteration row with its allocation count (planning reads it). */
export interface IterationRow extends IterationListRow {
  allocs: number;
}

/** Every iteration of a session, by number. */
export function iterationRows(db: DB, session: number): IterationRow[] {
  return db
    .prepare(`SELECT id, number, thread_id, begin_seq, end_seq, signature, allocs FROM iterations WHERE session_id = ? ORDER BY number, id`)
    .all(session) as IterationRow[];
}

export interface IterationAllocation {
  id: number;
  seq: number;
  free_seq: number | null;
  size: number;
  align: number;
  addr: number;
  kind: number;
  module: string;
  op: string;
}

/** The allocations made in an iteration, by seq, but those whose event has a flag of `skipFlags`; with their event's fields and scope. */
export function iterationAllocations(db: DB, iterationId: number, skipFlags: number): IterationAllocation[] {
  return db
    .prepare(
      `SELECT a.id, a.seq, a.free_seq, e.size, e.align, e.addr, e.kind, coalesce(o.module, '') AS module, coalesce(o.op, '') AS op
       FROM allocations a JOIN events e ON e.id = a.alloc_event LEFT JOIN ops o ON o.id = e.scope
       WHERE a.iteration_id = ? AND (e.flags & ?) = 0 ORDER BY a.seq`,
    )
    .all(iterationId, skipFlags) as IterationAllocation[];
}

/** The latency of each iteration of a session that has one, in the order they began. */
export function latenciesInOrder(db: DB, session: number): number[] {
  return (db.prepare(`SELECT latency_ns FROM iterations WHERE session_id = ? AND latency_ns IS NOT NULL ORDER BY t_begin`).all(session) as { latency_ns: number }[]).map(
    (r) => r.latency_ns,
  );
}
