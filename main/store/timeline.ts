import type { DB } from './db';
import { detailFromEvents, type Detail, type DetailBucket } from './timeline-detail';

/**
 * The timeline table of a session (at most 2048 buckets, built at ingest): the app's overview
 * chart (main/api/queries.ts timeline, grouped by visible range) and the report's (every bucket).
 */

/** First bucket start and last bucket end; nulls when the session has no bucket. */
export function timelineExtent(db: DB, session: number): { a: number | null; b: number | null } {
  return db.prepare(`SELECT min(t0) AS a, max(t1) AS b FROM timeline WHERE session_id = ?`).get(session) as { a: number | null; b: number | null };
}

export interface TimelineGroup {
  /** End of the group's last bucket. */
  t: number;
  /** Highest live bytes in the group. */
  mx: number;
  allocs: number;
  frees: number;
  /** Buckets in the group. */
  n: number;
  /** Live bytes at the end of the group's last bucket. */
  live: number;
}

/** The buckets that meet [t0, t1], in `points` groups of equal time (by bucket middle), in order. */
export function timelineGroups(db: DB, session: number, t0: number, t1: number, points: number): TimelineGroup[] {
  const span = Math.max(1, t1 - t0);
  return db
    .prepare(
      `WITH b AS (
         SELECT bucket, t0, t1, allocs, frees, live_bytes_end, live_bytes_max,
                max(0, min(@p - 1, CAST(((t0 + t1) / 2 - @a) * @p / @span AS INTEGER))) AS g
         FROM timeline WHERE session_id = @s AND t1 >= @a AND t0 <= @b
       ), grp AS (
         SELECT g, max(t1) AS t, max(live_bytes_max) AS mx, sum(allocs) AS allocs, sum(frees) AS frees, max(bucket) AS last, count(*) AS n
         FROM b GROUP BY g
       )
       SELECT grp.t, grp.mx, grp.allocs, grp.frees, grp.n, tl.live_bytes_end AS live
       FROM grp JOIN timeline tl ON tl.session_id = @s AND tl.bucket = grp.last ORDER BY grp.g`,
    )
    .all({ s: session, a: t0, b: t1, p: points, span }) as TimelineGroup[];
}

/**
 * The range [t0, t1] at event resolution (main/store/timeline-detail.ts), or null where that
 * declines (too many events, no id ranges, unconfirmed) or the buckets covering it are not
 * contiguous.
 */
export function zoomedDetail(db: DB, session: number, range: { t0: number; t1: number; points: number }): Detail | null {
  const covered = db
    .prepare(
      `SELECT bucket, t0, t1, allocs, frees, event_ranges AS eventRanges, free_first AS freeFirst, free_last AS freeLast
       FROM timeline WHERE session_id = ? AND t1 > ? AND t0 <= ? ORDER BY bucket`,
    )
    .all(session, range.t0, range.t1) as (DetailBucket & { bucket: number })[];
  if (!covered.length || covered[covered.length - 1].bucket - covered[0].bucket + 1 !== covered.length) return null;
  const prev = db.prepare(`SELECT live_bytes_end FROM timeline WHERE session_id = ? AND bucket = ?`).pluck().get(session, covered[0].bucket - 1) as number | undefined;
  return detailFromEvents(db, session, range, covered, prev ?? 0);
}

export interface TimelineBucket {
  t0: number;
  t1: number;
  allocs: number;
  frees: number;
  bytes_allocated: number;
  live_bytes_end: number;
  live_bytes_max: number;
}

/** Every bucket of the session, in order. */
export function timelineBuckets(db: DB, session: number): TimelineBucket[] {
  return db
    .prepare(`SELECT t0, t1, allocs, frees, bytes_allocated, live_bytes_end, live_bytes_max FROM timeline WHERE session_id = ? ORDER BY bucket`)
    .all(session) as TimelineBucket[];
}

/** How many buckets the session has (0: no allocation event was stored). */
export function timelineBucketCount(db: DB, session: number): number {
  return db.prepare(`SELECT count(*) FROM timeline WHERE session_id = ?`).pluck().get(session) as number;
}
