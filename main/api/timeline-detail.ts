import type { DB } from '../store/db';
import type { TimelinePoint } from '../../shared/api';
import { isAllocKind, RECORD_FLAG_FAILED } from '../../shared/trace-kinds';

/**
 * Live bytes of a zoomed-in range at event resolution, for when the timeline table's buckets
 * (at most 2048 per session) are too coarse: the range's allocations (events) and frees
 * (allocations, joined to their alloc event for the size) are summed in SQL in time order and
 * grouped into at most `points` groups, starting from the live bytes the timeline holds at the
 * first covered bucket's start.
 *
 * Neither table has a time index. Both are in time order by construction, nearly: events are
 * stored in the order they are read (each thread in program order), allocation rows in the
 * order their frees were fed to the lifetime builder (time order). So each id range is found by
 * binary search on time, widened by a margin, and the result is checked against the timeline:
 * the rows found must be exactly the buckets' alloc and free counts, else the margin grows, and
 * after a few tries the caller keeps the bucket answer. Work is bounded by DETAIL_MAX_EVENTS.
 */

/** Most events (allocations + frees in the covered buckets) aggregated per request. */
export const DETAIL_MAX_EVENTS = 120_000;
const ATTEMPTS = 2;
const ALLOC_KINDS = Array.from({ length: 32 }, (_, k) => k).filter(isAllocKind).join(',');

export interface DetailBucket {
  t0: number;
  t1: number;
  allocs: number;
  frees: number;
}

export interface Detail {
  points: TimelinePoint[];
  /** Allocation and free events aggregated (the covered buckets' events). */
  events: number;
}

/** The first id in [lo, hi) whose key is not less than the target, for keys that rise with id. */
function lowerBound(lo: number, hi: number, less: (id: number) => boolean): number {
  while (lo < hi) {
    const m = Math.floor((lo + hi) / 2);
    if (less(m)) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/**
 * `buckets`: the session's timeline rows covering [t0, t1], in order and contiguous;
 * `liveBefore`: live bytes at the end of the bucket before the first (0 for the first bucket).
 * Returns null when the range has too many events or the id ranges could not be confirmed.
 */
export function detailFromEvents(
  db: DB,
  session: number,
  range: { t0: number; t1: number; points: number },
  buckets: DetailBucket[],
  liveBefore: number,
): Detail | null {
  if (!buckets.length) return null;
  const T0 = buckets[0].t0;
  const T1 = buckets[buckets.length - 1].t1;
  const wantAllocs = buckets.reduce((n, b) => n + b.allocs, 0);
  const wantFrees = buckets.reduce((n, b) => n + b.frees, 0);
  if (wantAllocs + wantFrees > DETAIL_MAX_EVENTS) return null;
  const s = db.prepare(`SELECT first_event, last_event FROM sessions WHERE id = ?`).get(session) as { first_event: number | null; last_event: number | null } | undefined;
  if (!s || s.first_event === null || s.last_event === null) return null;

  const eventTs = db.prepare(`SELECT ts FROM events WHERE id >= ? ORDER BY id LIMIT 1`).pluck();
  const eventAt = (T: number) => lowerBound(s.first_event!, s.last_event! + 1, (id) => {
    const ts = eventTs.get(id) as number | undefined;
    return ts !== undefined && ts < T;
  });
  // Allocation rows: ordered by (session, free time), live-at-exit rows last in their session.
  const allocKey = db.prepare(`SELECT a.session_id AS s, f.ts AS ts FROM allocations a LEFT JOIN events f ON f.id = a.free_event WHERE a.id >= ? ORDER BY a.id LIMIT 1`);
  const maxAlloc = (db.prepare(`SELECT coalesce(max(id), 0) FROM allocations`).pluck().get() as number) + 1;
  const allocAt = (T: number) => lowerBound(1, maxAlloc, (id) => {
    const r = allocKey.get(id) as { s: number; ts: number | null } | undefined;
    return !!r && (r.s < session || (r.s === session && r.ts !== null && r.ts < T));
  });
  const e0 = eventAt(T0);
  const e1 = eventAt(T1);
  const a0 = allocAt(T0);
  const a1 = allocAt(T1);

  const p = Math.max(1, range.points - 1); // groups, after the point at t0
  const span = Math.max(1, range.t1 - range.t0);
  const query = db.prepare(
    `WITH d(ts, delta, k) AS (
       SELECT ts, size, 1 FROM events
       WHERE id BETWEEN @e0 AND @e1 AND ts >= @T0 AND ts < @T1 AND kind IN (${ALLOC_KINDS}) AND (flags & ${RECORD_FLAG_FAILED}) = 0 AND addr != 0
         AND thread_id IN (SELECT id FROM threads WHERE session_id = @s)
       UNION ALL
       SELECT f.ts, -e.size, -1 FROM allocations a JOIN events f ON f.id = a.free_event JOIN events e ON e.id = a.alloc_event
       WHERE a.id BETWEEN @a0 AND @a1 AND a.session_id = @s AND f.ts >= @T0 AND f.ts < @T1
     ), c AS (
       SELECT ts, k, delta, @live + sum(delta) OVER (ORDER BY ts, k ROWS UNBOUNDED PRECEDING) AS live,
              CASE WHEN ts < @t0 THEN -1 WHEN ts >= @t1 THEN @p ELSE min(@p - 1, CAST((ts - @t0) * @p / @span AS INTEGER)) END AS g
       FROM d
     )
     SELECT g, max(ts) AS t, max(live) AS mx, @live + sum(sum(delta)) OVER (ORDER BY g) AS live, sum(k = 1) AS allocs, sum(k = -1) AS frees
     FROM c GROUP BY g ORDER BY g`,
  );
  let margin = 1024 + Math.ceil((wantAllocs + wantFrees) / 16);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++, margin *= 8) {
    const rows = query.all({
      e0: e0 - margin, e1: e1 + margin, a0: a0 - margin, a1: a1 + margin, T0, T1, s: session, live: liveBefore, t0: range.t0, t1: range.t1, p, span,
    }) as { g: number; t: number; mx: number; live: number; allocs: number; frees: number }[];
    const allocs = rows.reduce((n, r) => n + r.allocs, 0);
    const frees = rows.reduce((n, r) => n + r.frees, 0);
    if (allocs !== wantAllocs || frees !== wantFrees) continue;
    const before = rows.length && rows[0].g === -1 ? rows[0].live : liveBefore;
    const points: TimelinePoint[] = [{ t: range.t0, live: before, max: before, allocs: 0, frees: 0 }];
    for (const r of rows) if (r.g >= 0 && r.g < p) points.push({ t: r.t, live: r.live, max: r.mx, allocs: r.allocs, frees: r.frees });
    return { points, events: allocs + frees };
  }
  return null;
}
