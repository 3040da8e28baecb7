import type { DB } from './db';
import type { TimelinePoint } from '../../shared/api';
import { isAllocKind, RECORD_FLAG_FAILED } from '../../shared/trace-kinds';
import { mergeRanges, parseRanges, rangesWidth, type IdRange } from './id-ranges';

/**
 * Live bytes of a zoomed-in range at event resolution, for when the timeline table's buckets
 * (at most 2048 per session) are too coarse: the range's allocations (events) and frees
 * (allocations, joined to their alloc event for the size) are summed in SQL in time order and
 * grouped into at most `points` groups, starting from the live bytes the timeline holds at the
 * first covered bucket's start.
 *
 * Neither table has a time index. Instead each timeline bucket holds where the rows it counted
 * lie (schema version 5), written by the ingest (main/store/lifetimes.ts,
 * native/ingest/lifetimes.cpp): events.id ranges of its allocations, one per thread at most
 * (a thread's rows are stored in its program order, but an ingest that lagged or read whole
 * chunks stores a thread's rows far from other threads' rows of the same moment), and the
 * allocations.id range of the rows whose free it counted (stored in free order). The query
 * reads exactly those ranges, filtered by time, and its sums are checked against the buckets'
 * counts. Work is bounded by DETAIL_MAX_EVENTS and DETAIL_MAX_SPAN.
 */

/** Most events (allocations + frees in the covered buckets) aggregated per request. */
export const DETAIL_MAX_EVENTS = 120_000;
/** Most rows scanned per table (id range width) per request. */
export const DETAIL_MAX_SPAN = 2_000_000;
const ALLOC_KINDS = Array.from({ length: 32 }, (_, k) => k).filter(isAllocKind).join(',');

export interface DetailBucket {
  t0: number;
  t1: number;
  allocs: number;
  frees: number;
  /** timeline.event_ranges: JSON text (main/store/id-ranges.ts). */
  eventRanges: string | null;
  freeFirst: number | null;
  freeLast: number | null;
}

export interface Detail {
  points: TimelinePoint[];
  /** Allocation and free events aggregated (the covered buckets' events). */
  events: number;
}

/** The events.id ranges of all the buckets, merged; null when a bucket that counted allocations has none. */
function eventRanges(buckets: DetailBucket[]): IdRange[] | null {
  const all: IdRange[] = [];
  for (const b of buckets) {
    if (b.allocs === 0) continue;
    const r = b.eventRanges === null ? null : parseRanges(b.eventRanges);
    if (!r) return null;
    all.push(...r);
  }
  return mergeRanges(all);
}

/** The smallest allocations.id range holding every bucket's free range: [0, -1] (empty) when none has one. */
function freeRange(buckets: DetailBucket[]): [number, number] | null {
  let lo = Infinity;
  let hi = -1;
  for (const b of buckets) {
    if (b.frees === 0) continue;
    if (b.freeFirst === null || b.freeLast === null) return null;
    lo = Math.min(lo, b.freeFirst);
    hi = Math.max(hi, b.freeLast);
  }
  return hi < 0 ? [0, -1] : [lo, hi];
}

/**
 * `buckets`: the session's timeline rows covering [t0, t1], in order and contiguous;
 * `liveBefore`: live bytes at the end of the bucket before the first (0 for the first bucket).
 * Returns null when the range has too many events or rows to scan, the buckets carry no id
 * ranges (a session recorded before schema version 5) or the rows found disagree with the
 * buckets' counts.
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
  // A bucket that counted rows but says nothing of where they lie: recorded before version 5.
  const events = eventRanges(buckets);
  const frees = freeRange(buckets);
  if (!events || !frees) return null;
  const [a0, a1] = frees;
  if (rangesWidth(events) > DETAIL_MAX_SPAN || a1 - a0 + 1 > DETAIL_MAX_SPAN) return null;

  const p = Math.max(1, range.points - 1); // groups, after the point at t0
  const width = Math.max(1, range.t1 - range.t0);
  const rows = db
    .prepare(
      `WITH r(a, b) AS (
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(@ranges)
       ), d(ts, delta, k, sc) AS (
         SELECT e.ts, e.size, 1, e.scope FROM r CROSS JOIN events e ON e.id BETWEEN r.a AND r.b
         WHERE ts >= @T0 AND ts < @T1 AND kind IN (${ALLOC_KINDS}) AND (flags & ${RECORD_FLAG_FAILED}) = 0 AND addr != 0
           AND thread_id IN (SELECT id FROM threads WHERE session_id = @s)
         UNION ALL
         SELECT f.ts, -e.size, -1, NULL FROM allocations a JOIN events f ON f.id = a.free_event JOIN events e ON e.id = a.alloc_event
         WHERE a.id BETWEEN @a0 AND @a1 AND a.session_id = @s AND f.ts >= @T0 AND f.ts < @T1
       ), c AS (
         SELECT ts, k, delta, sc, @live + sum(delta) OVER (ORDER BY ts, k ROWS UNBOUNDED PRECEDING) AS live,
                CASE WHEN ts < @t0 THEN -1 WHEN ts >= @t1 THEN @p ELSE min(@p - 1, CAST((ts - @t0) * @p / @width AS INTEGER)) END AS g
         FROM d
       ), c2 AS (
         -- the scope of the group's largest allocation (NULL: none, or outside any scope)
         SELECT *, first_value(sc) OVER (PARTITION BY g ORDER BY k DESC, delta DESC, ts) AS big FROM c
       )
       SELECT g, max(ts) AS t, max(live) AS mx, @live + sum(sum(delta)) OVER (ORDER BY g) AS live, sum(k = 1) AS allocs, sum(k = -1) AS frees,
              max(big) AS scope
       FROM c2 GROUP BY g ORDER BY g`,
    )
    .all({ ranges: JSON.stringify(events), a0, a1, T0, T1, s: session, live: liveBefore, t0: range.t0, t1: range.t1, p, width }) as {
    g: number;
    t: number;
    mx: number;
    live: number;
    allocs: number;
    frees: number;
    scope: number | null;
  }[];
  const gotAllocs = rows.reduce((n, r) => n + r.allocs, 0);
  const gotFrees = rows.reduce((n, r) => n + r.frees, 0);
  if (gotAllocs !== wantAllocs || gotFrees !== wantFrees) return null;
  const before = rows.length && rows[0].g === -1 ? rows[0].live : liveBefore;
  const points: TimelinePoint[] = [{ t: range.t0, live: before, max: before, allocs: 0, frees: 0 }];
  for (const r of rows) if (r.g >= 0 && r.g < p) points.push({ t: r.t, live: r.live, max: r.mx, allocs: r.allocs, frees: r.frees, scope: r.scope });
  return { points, events: gotAllocs + gotFrees };
}
