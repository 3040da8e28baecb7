import type { DB } from './db';
import { UserError } from '../../shared/errors';
import { isAllocKind, RECORD_FLAG_FAILED } from '../../shared/trace-kinds';
import { parseRanges } from './id-ranges';

/**
 * What is live at an instant: the allocations made at or before time T and not freed by then
 * (t_alloc <= T < t_free, or never freed), grouped by the scope (ops row) they were made in, so
 * that a caller groups them by module, aten op or Python stack without another scan.
 *
 * Neither events nor allocations has a time index, and a session holds millions of rows. The
 * timeline buckets (schema 5) say where their rows lie, which bounds the scan on both sides:
 *   - a row freed after T was freed in T's bucket or a later one, so its allocations.id is at
 *     least the smallest free_first of those buckets (rows are stored in the order of their
 *     frees; the live-at-exit rows come last, written when the session ends);
 *   - a row allocated at or before T has its alloc event in the event_ranges of T's bucket or an
 *     earlier one, so its alloc_event is at most the largest id of those ranges.
 * The allocations rows in that id range are read without a join and only those that pass the
 * alloc_event bound are joined to their events for the exact test. Sessions recorded before
 * schema 5 carry no ranges and are scanned whole (correct, slower).
 *
 * The session's peak is found the same way as a zoomed timeline (main/store/timeline-detail.ts):
 * the bucket with the highest live_bytes_max, then the running sum of its own allocation and
 * free events, in time order (at equal times frees first), from the live bytes at its start.
 */

export type LiveWhen = { kind: 'peak' } | { kind: 'iteration'; number: number } | { kind: 'ns'; t: number };

/** One scope's share of what is live: scope is ops.id, null for allocations made outside any scope. */
export interface LiveScope {
  scope: number | null;
  bytes: number;
  count: number;
  /** Made outside any scope before the session's first iteration began: imports, model construction (weights). */
  early?: boolean;
}

export interface LiveInstant {
  session: number;
  /** The instant (ns since the session's clock base): allocated at or before it, not freed by it. */
  t: number;
  /** What was asked: 'peak', 'iteration:K' or the time in ns. */
  at: string;
  /** Iteration running at t (its number), if any. */
  iteration: number | null;
  /** Live bytes and allocations at t: the sums of `scopes`. */
  liveBytes: number;
  liveCount: number;
  scopes: LiveScope[];
}

interface BucketRow {
  bucket: number;
  t0: number;
  t1: number;
  allocs: number;
  frees: number;
  live_bytes_end: number;
  live_bytes_max: number;
  event_ranges: string | null;
  free_first: number | null;
  free_last: number | null;
}

const ALLOC_KINDS = Array.from({ length: 32 }, (_, k) => k).filter(isAllocKind).join(',');
/** Most allocation and free events summed to find the exact peak inside one bucket. */
const PEAK_MAX_EVENTS = 2_000_000;

/** Parses `peak`, `iteration:K` or a time in ns (an integer), as `memoplan top --at` takes it. */
export function parseWhen(text: string): LiveWhen {
  const s = text.trim();
  if (s === 'peak') return { kind: 'peak' };
  const it = /^iteration:(\d+)$/.exec(s);
  if (it) return { kind: 'iteration', number: Number(it[1]) };
  if (/^\d+$/.test(s) && Number.isSafeInteger(Number(s))) return { kind: 'ns', t: Number(s) };
  throw new UserError(`--at must be peak, iteration:K or a time in ns since the session's start of clock (an integer), got ${JSON.stringify(text)}`);
}

export function whenText(w: LiveWhen): string {
  return w.kind === 'peak' ? 'peak' : w.kind === 'iteration' ? `iteration:${w.number}` : String(w.t);
}

function sessionRow(db: DB, session: number): { t_begin: number | null; t_end: number | null; status: string } {
  const s = db.prepare(`SELECT t_begin, t_end, status FROM sessions WHERE id = ?`).get(session) as { t_begin: number | null; t_end: number | null; status: string } | undefined;
  if (!s) throw new UserError(`no session ${session} in this database`);
  return s;
}

function buckets(db: DB, session: number): BucketRow[] {
  return db
    .prepare(
      `SELECT bucket, t0, t1, allocs, frees, live_bytes_end, live_bytes_max, event_ranges, free_first, free_last
       FROM timeline WHERE session_id = ? ORDER BY bucket`,
    )
    .all(session) as BucketRow[];
}

/**
 * The instant of the highest live bytes within [from, to] (whole buckets' extent when absent):
 * buckets are visited from the highest live_bytes_max down and summed exactly (clipped to the
 * range) until no unvisited bucket can beat the best found. Null when nothing was allocated.
 */
function peakIn(db: DB, session: number, bs: BucketRow[], from: number, to: number): { t: number; live: number } | null {
  const inRange = bs.filter((b) => b.t1 > from && b.t0 <= to && (b.allocs > 0 || b.frees > 0 || b.live_bytes_max > 0));
  const order = [...inRange].sort((a, b) => b.live_bytes_max - a.live_bytes_max || a.bucket - b.bucket);
  let best: { t: number; live: number } | null = null;
  const byIndex = new Map(bs.map((b, i) => [b.bucket, i]));
  for (const b of order) {
    if (best && b.live_bytes_max <= best.live) break;
    const i = byIndex.get(b.bucket)!;
    const liveBefore = i > 0 ? bs[i - 1].live_bytes_end : 0;
    const got = exactPeakInBucket(db, session, b, liveBefore, Math.max(from, b.t0), Math.min(to, b.t1 - 1));
    if (got && (!best || got.live > best.live)) best = got;
  }
  return best;
}

/** The running live bytes over one bucket's events, restricted to [lo, hi]: the highest and when. */
function exactPeakInBucket(db: DB, session: number, b: BucketRow, liveBefore: number, lo: number, hi: number): { t: number; live: number } | null {
  if (b.allocs + b.frees > PEAK_MAX_EVENTS) return null;
  const ranges = b.allocs ? (b.event_ranges === null ? null : parseRanges(b.event_ranges)) : [];
  const freeOk = b.frees === 0 || (b.free_first !== null && b.free_last !== null);
  if (ranges === null || !freeOk) {
    // No id ranges (recorded before schema 5): the bucket's own maximum, at its end.
    return b.live_bytes_max > 0 ? { t: Math.min(hi, b.t1 - 1), live: b.live_bytes_max } : null;
  }
  const row = db
    .prepare(
      `WITH r(a, b) AS (
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(@ranges)
       ), d(ts, delta, k) AS (
         SELECT e.ts, e.size, 1 FROM r CROSS JOIN events e ON e.id BETWEEN r.a AND r.b
         WHERE ts >= @T0 AND ts < @T1 AND kind IN (${ALLOC_KINDS}) AND (flags & ${RECORD_FLAG_FAILED}) = 0 AND addr != 0
           AND thread_id IN (SELECT id FROM threads WHERE session_id = @s)
         UNION ALL
         SELECT f.ts, -e.size, -1 FROM allocations a JOIN events f ON f.id = a.free_event JOIN events e ON e.id = a.alloc_event
         WHERE a.id BETWEEN @a0 AND @a1 AND a.session_id = @s AND f.ts >= @T0 AND f.ts < @T1
       ), c AS (
         SELECT ts, @live + sum(delta) OVER (ORDER BY ts, k ROWS UNBOUNDED PRECEDING) AS live FROM d
       )
       SELECT ts, live FROM c WHERE ts >= @lo AND ts <= @hi ORDER BY live DESC, ts LIMIT 1`,
    )
    .get({
      ranges: JSON.stringify(ranges), T0: b.t0, T1: b.t1, s: session, a0: b.free_first ?? 0, a1: b.free_last ?? -1, live: liveBefore, lo, hi,
    }) as { ts: number; live: number } | undefined;
  // The range may start inside the bucket after its last event: the live bytes then are those at lo.
  const atLo = liveAtBucketTime(db, session, b, ranges, liveBefore, lo);
  if (!row || atLo > row.live) return atLo > 0 || row ? { t: lo, live: atLo } : null;
  return { t: row.ts, live: row.live };
}

/** Running live bytes within bucket b at time t (events at t included). */
function liveAtBucketTime(db: DB, session: number, b: BucketRow, ranges: [number, number][], liveBefore: number, t: number): number {
  if (t < b.t0) return liveBefore;
  const r = db
    .prepare(
      `WITH r(a, b) AS (
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(@ranges)
       )
       SELECT coalesce((SELECT sum(e.size) FROM r CROSS JOIN events e ON e.id BETWEEN r.a AND r.b
         WHERE ts >= @T0 AND ts <= @t AND kind IN (${ALLOC_KINDS}) AND (flags & ${RECORD_FLAG_FAILED}) = 0 AND addr != 0
           AND thread_id IN (SELECT id FROM threads WHERE session_id = @s)), 0)
       - coalesce((SELECT sum(e.size) FROM allocations a JOIN events f ON f.id = a.free_event JOIN events e ON e.id = a.alloc_event
         WHERE a.id BETWEEN @a0 AND @a1 AND a.session_id = @s AND f.ts >= @T0 AND f.ts <= @t), 0) AS d`,
    )
    .pluck()
    .get({ ranges: JSON.stringify(ranges), T0: b.t0, t, s: session, a0: b.free_first ?? 0, a1: b.free_last ?? -1 }) as number;
  return liveBefore + r;
}

/** Resolves `when` to an instant (ns). Throws a UserError for an iteration that does not exist. */
export function resolveInstant(db: DB, session: number, when: LiveWhen): { t: number; bs: BucketRow[] } {
  const s = sessionRow(db, session);
  const bs = buckets(db, session);
  if (s.status === 'recording' && !bs.length) throw new UserError(`session ${session} is still being recorded: what is live is known once it ends`);
  if (!bs.length || s.t_begin === null) throw new UserError(`session ${session} has no allocation events`);
  const first = bs[0].t0;
  const last = bs[bs.length - 1].t1 - 1;
  if (when.kind === 'ns') {
    if (when.t < first || when.t > last) {
      throw new UserError(`--at ${when.t} is outside session ${session}, which runs from ${first} to ${last} ns`);
    }
    return { t: when.t, bs };
  }
  let from = first;
  let to = last;
  if (when.kind === 'iteration') {
    const it = db
      .prepare(`SELECT t_begin, t_end FROM iterations WHERE session_id = ? AND number = ? ORDER BY t_begin LIMIT 1`)
      .get(session, when.number) as { t_begin: number; t_end: number | null } | undefined;
    if (!it) {
      const have = db.prepare(`SELECT min(number) AS a, max(number) AS b, count(*) AS n FROM iterations WHERE session_id = ?`).get(session) as {
        a: number | null; b: number | null; n: number;
      };
      throw new UserError(
        have.n ? `session ${session} has no iteration ${when.number} (iterations ${have.a}..${have.b})` : `session ${session} has no iterations`,
      );
    }
    from = it.t_begin;
    to = it.t_end ?? last;
  }
  const p = peakIn(db, session, bs, from, to);
  return { t: p ? p.t : from, bs };
}

/** What is live at `when` in session `session`, by scope. */
export function liveAt(db: DB, session: number, when: LiveWhen): LiveInstant {
  const { t, bs } = resolveInstant(db, session, when);
  // Bounds from the buckets (see the comment at the top); none for sessions without id ranges.
  const k = bs.findIndex((b) => b.t0 <= t && t < b.t1);
  const at = k < 0 ? bs.length - 1 : k;
  let lowId = 0;
  let maxEvent = Number.MAX_SAFE_INTEGER;
  const ranged = bs.every((b) => (b.allocs === 0 || b.event_ranges !== null) && (b.frees === 0 || b.free_first !== null));
  if (ranged) {
    let low = Infinity;
    let allFreedMax = 0;
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i];
      if (b.frees > 0) {
        allFreedMax = Math.max(allFreedMax, b.free_last!);
        if (i >= at) low = Math.min(low, b.free_first!);
      }
    }
    lowId = Number.isFinite(low) ? low : allFreedMax + 1;
    maxEvent = 0;
    for (let i = 0; i <= at; i++) {
      const r = bs[i].allocs ? parseRanges(bs[i].event_ranges!) : [];
      if (r === null) {
        maxEvent = Number.MAX_SAFE_INTEGER;
        break;
      }
      for (const [, hi] of r) maxEvent = Math.max(maxEvent, hi);
    }
  }
  const rows = db
    .prepare(
      `WITH c AS (
         SELECT alloc_event, free_event FROM allocations
         WHERE id >= @low AND session_id = @s AND alloc_event <= @maxEvent
       )
       SELECT e.scope AS scope, (e.scope IS NULL AND e.ts < @first) AS early, sum(e.size) AS bytes, count(*) AS count
       FROM c JOIN events e ON e.id = c.alloc_event LEFT JOIN events f ON f.id = c.free_event
       WHERE e.ts <= @t AND (c.free_event IS NULL OR f.ts > @t)
       GROUP BY e.scope, early ORDER BY bytes DESC`,
    )
    .all({ low: lowId, s: session, maxEvent, t, first: firstIteration(db, session) }) as { scope: number | null; early: number; bytes: number; count: number }[];
  const iteration = db
    .prepare(`SELECT number FROM iterations WHERE session_id = ? AND t_begin <= ? AND (t_end IS NULL OR t_end >= ?) ORDER BY t_begin DESC LIMIT 1`)
    .pluck()
    .get(session, t, t) as number | undefined;
  return {
    session,
    t,
    at: whenText(when),
    iteration: iteration ?? null,
    liveBytes: rows.reduce((n, r) => n + r.bytes, 0),
    liveCount: rows.reduce((n, r) => n + r.count, 0),
    scopes: rows.map((r) => ({ scope: r.scope, bytes: r.bytes, count: r.count, ...(r.early ? { early: true } : {}) })),
  };
}

export type LiveBy = 'module' | 'op' | 'stack';

/** One group of what is live: key as `memoplan top --json` prints it. */
export interface LiveGroup {
  key: string;
  bytes: number;
  count: number;
  /** The parts of the key, outermost first: module path components, the op, or stack frames ("file:line function"). */
  frames: string[];
}

export const OUTSIDE_MODULE = '(outside any module)';
export const OUTSIDE_OP = '(outside any op)';
export const NO_STACK = '(no Python stack)';
/** The same, for what was allocated before the first iteration began (imports, model construction). */
export const EARLY = ', before the first iteration';
const early = (key: string) => key.slice(0, -1) + EARLY + ')';

/** When the session's first iteration began (ns); far in the past when it has none. */
function firstIteration(db: DB, session: number): number {
  const t = db.prepare(`SELECT min(t_begin) FROM iterations WHERE session_id = ?`).pluck().get(session) as number | null;
  return t ?? -Number.MAX_SAFE_INTEGER;
}

interface ScopeInfo {
  module: string;
  op: string;
  /** Frames outermost first; empty when the scope has no Python stack. */
  frames: string[];
}

/** The module, op and Python stack of each scope (ops row) of a session. */
export function scopeInfo(db: DB, session: number): Map<number, ScopeInfo> {
  const hasStacks = (db.prepare(`SELECT count(*) FROM pragma_table_info('ops') WHERE name = 'stack_id'`).pluck().get() as number) > 0;
  const rows = db
    .prepare(
      hasStacks
        ? `SELECT o.id, o.module, o.op, s.frames FROM ops o LEFT JOIN stacks s ON s.id = o.stack_id WHERE o.session_id = ?`
        : `SELECT id, module, op, NULL AS frames FROM ops WHERE session_id = ?`,
    )
    .all(session) as { id: number; module: string; op: string; frames: string | null }[];
  return new Map(rows.map((r) => [r.id, { module: r.module, op: r.op, frames: r.frames ? r.frames.split('\n') : [] }]));
}

/**
 * Groups what is live by module, aten op or Python stack, largest first (ties by key). The
 * groups add up to live.liveBytes and live.liveCount.
 */
export function groupLive(live: LiveInstant, scopes: Map<number, ScopeInfo>, by: LiveBy): LiveGroup[] {
  return groupScopes(live.scopes, scopes, by);
}

/**
 * What is live by module, op or stack cut to the `limit` largest groups, and what the cut left
 * out: [groups, bytes]. The app's live view (overview.live) and the report's peak both show this.
 */
export function cutLive(live: LiveInstant, scopes: Map<number, ScopeInfo>, by: LiveBy, limit: number): { shown: LiveGroup[]; omitted: [number, number] } {
  const all = groupLive(live, scopes, by);
  const shown = all.slice(0, limit);
  return { shown, omitted: [all.length - shown.length, all.slice(limit).reduce((n, g) => n + g.bytes, 0)] };
}

/** Groups per-scope sums (live or allocated) by module, aten op or Python stack, largest first. */
export function groupScopes(rows: readonly LiveScope[], scopes: Map<number, ScopeInfo>, by: LiveBy): LiveGroup[] {
  const groups = new Map<string, LiveGroup>();
  for (const s of rows) {
    const info = s.scope === null ? undefined : scopes.get(s.scope);
    let frames: string[];
    const none = (k: string) => (s.early ? early(k) : k);
    if (by === 'module') frames = info?.module ? info.module.split('.') : [none(OUTSIDE_MODULE)];
    else if (by === 'op') frames = [info?.op || none(OUTSIDE_OP)];
    else frames = info?.frames.length ? info.frames : [none(NO_STACK)];
    const key = by === 'module' ? (info?.module || none(OUTSIDE_MODULE)) : frames.join(';');
    const g = groups.get(key);
    if (g) {
      g.bytes += s.bytes;
      g.count += s.count;
    } else groups.set(key, { key, bytes: s.bytes, count: s.count, frames });
  }
  return [...groups.values()].sort((a, b) => b.bytes - a.bytes || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Folded-stack text (flamegraph.pl, inferno, speedscope): "frame;frame;... bytes" per group. */
export function foldedText(groups: readonly LiveGroup[]): string {
  const lines = groups.filter((g) => g.bytes > 0).map((g) => g.frames.map((f) => f.replace(/;/g, ',').replace(/[\r\n]/g, ' ')).join(';') + ' ' + g.bytes);
  return lines.map((l) => l + '\n').join('');
}
