import type { DB } from './db';
import { isAllocKind, RECORD_FLAG_FAILED } from '../../shared/trace-kinds';
import { mergeRanges, parseRanges, type IdRange } from './id-ranges';
import type { LiveScope } from './live';

/**
 * Bytes allocated by scope (ops.id) over a time range of a session: totals, not live bytes. The
 * whole session comes from op_stats (built at ingest); a range is summed from the allocation
 * events its timeline buckets point to (event_ranges, schema 5), filtered by time. Null when the
 * buckets carry no id ranges (sessions recorded before schema 5).
 */

const ALLOC_KINDS = Array.from({ length: 32 }, (_, k) => k).filter(isAllocKind).join(',');

export interface AllocatedScope extends LiveScope {
  maxSize: number;
}

export function allocatedBySession(db: DB, session: number): AllocatedScope[] {
  return (
    db.prepare(`SELECT nullif(op_id, 0) AS scope, bytes, allocs AS count, max_size AS maxSize FROM op_stats WHERE session_id = ?`).all(session) as AllocatedScope[]
  );
}

export function allocatedInRange(db: DB, session: number, t0: number, t1: number): AllocatedScope[] | null {
  const bs = db
    .prepare(`SELECT allocs, event_ranges FROM timeline WHERE session_id = ? AND t1 > ? AND t0 <= ? ORDER BY bucket`)
    .all(session, t0, t1) as { allocs: number; event_ranges: string | null }[];
  const all: IdRange[] = [];
  for (const b of bs) {
    if (!b.allocs) continue;
    const r = b.event_ranges === null ? null : parseRanges(b.event_ranges);
    if (!r) return null;
    all.push(...r);
  }
  if (!all.length) return [];
  return db
    .prepare(
      `WITH r(a, b) AS (
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(@ranges)
       )
       SELECT e.scope AS scope, sum(e.size) AS bytes, count(*) AS count, max(e.size) AS maxSize
       FROM r CROSS JOIN events e ON e.id BETWEEN r.a AND r.b
       WHERE e.ts >= @t0 AND e.ts <= @t1 AND e.kind IN (${ALLOC_KINDS}) AND (e.flags & ${RECORD_FLAG_FAILED}) = 0 AND e.addr != 0
         AND e.thread_id IN (SELECT id FROM threads WHERE session_id = @s)
       GROUP BY e.scope`,
    )
    .all({ ranges: JSON.stringify(mergeRanges(all)), t0, t1, s: session }) as AllocatedScope[];
}
