import type { DB } from './db';

/**
 * Bytes allocated per scope over a whole session, from op_stats (built at ingest): the report's
 * summary. (The app's top lists read main/store/allocated.ts.)
 */

export interface ScopeTotal {
  name: string;
  allocs: number;
  bytes: number;
  maxSize: number;
}

/** Totals grouped by the scope's op or module ('' outside any), the `limit` largest by bytes or allocations. */
export function scopeTotals(db: DB, session: number, key: 'op' | 'module', order: 'bytes' | 'allocs', limit: number): ScopeTotal[] {
  return db
    .prepare(
      `SELECT coalesce(o.${key}, '') AS name, sum(st.allocs) AS allocs, sum(st.bytes) AS bytes, max(st.max_size) AS maxSize
       FROM op_stats st LEFT JOIN ops o ON o.id = st.op_id WHERE st.session_id = ?
       GROUP BY 1 ORDER BY ${order} DESC, name LIMIT ?`,
    )
    .all(session, limit) as ScopeTotal[];
}

/** Bytes allocated by the whole session. */
export function bytesAllocated(db: DB, session: number): number {
  return (db.prepare(`SELECT coalesce(sum(bytes), 0) AS bytes FROM op_stats WHERE session_id = ?`).get(session) as { bytes: number }).bytes;
}

/** Distinct non-empty ops and modules among the session's scopes. */
export function distinctScopes(db: DB, session: number): { ops: number; modules: number } {
  const count = (sql: string) => (db.prepare(sql).get(session) as { n: number }).n;
  return {
    ops: count(`SELECT count(DISTINCT op) AS n FROM ops WHERE session_id = ? AND op <> ''`),
    modules: count(`SELECT count(DISTINCT module) AS n FROM ops WHERE session_id = ? AND module <> ''`),
  };
}
