import type { DB } from '../store/db';
import { UserError } from '../../shared/errors';
import { LIMITS, type IterationsReply, type LiveReply, type LiveRequest, type MapReply, type StoredPlanInfo, type TimelinePoint, type TimelineReply, type TopReply } from '../../shared/api';
import { chooseIteration } from '../plan/iteration';
import { cutLive, groupScopes, liveAt, scopeInfo, type LiveBy, type LiveWhen } from '../store/live';
import { allocatedBySession, allocatedInRange } from '../store/allocated';
import { planMap } from '../store/memory-map';
import { sessionExtent as extentOf, type SessionExtent } from '../store/sessions';
import { iterationList, iterationSpans } from '../store/iterations';
import { sessionPlans, type PlanListRow } from '../store/plans';
import { timelineExtent, timelineGroups, zoomedDetail } from '../store/timeline';

/**
 * The read side of the UI: every query aggregates in SQL so that a reply holds no more rows
 * than the chart draws (the timeline table has at most 2048 buckets per session; ranges are
 * grouped into at most `points` groups). A range too narrow for its buckets to fill the chart
 * is aggregated from the events instead (main/store/timeline-detail.ts), still into at most `points`.
 * The SQL is main/store/'s.
 */

function sessionExtent(db: DB, session: number): SessionExtent {
  const s = extentOf(db, session);
  if (!s) throw new UserError(`no session ${session} in this database`);
  return s;
}

export function timeline(db: DB, session: number, range: { t0?: number; t1?: number; points?: number }): TimelineReply {
  const s = sessionExtent(db, session);
  const ext = timelineExtent(db, session);
  const tBegin = ext.a ?? s.t_begin ?? 0;
  const tEnd = ext.b ?? s.t_end ?? tBegin;
  let t0 = Math.floor(Math.max(tBegin, range.t0 ?? tBegin));
  let t1 = Math.ceil(Math.min(tEnd, range.t1 ?? tEnd));
  if (t1 <= t0) {
    t0 = Math.min(t0, tEnd);
    t1 = Math.max(t0 + 1, Math.min(tEnd, t0 + 1));
  }
  const points = Math.min(range.points ?? 600, LIMITS.timelinePoints);
  const rows = timelineGroups(db, session, t0, t1, points);
  const iterations = iterationSpans(db, session);
  const buckets = rows.reduce((n, r) => n + r.n, 0);
  const detail = buckets > 0 && buckets * 2 < points ? zoomedDetail(db, session, { t0, t1, points }) : null;
  return {
    session,
    tBegin,
    tEnd,
    t0,
    t1,
    buckets,
    source: detail ? 'events' : 'timeline',
    events: detail ? detail.events : null,
    points: detail ? detail.points : rows.map((r) => ({ t: r.t, live: r.live, max: r.mx, allocs: r.allocs, frees: r.frees })),
    iterations,
    peakLiveBytes: s.peak_live_bytes,
    scopes: detail ? scopeNames(db, session, detail.points) : undefined,
  };
}

/** Module and op of the scopes that event-resolution points name. */
function scopeNames(db: DB, session: number, points: TimelinePoint[]): Record<string, { module: string; op: string }> {
  const ids = new Set(points.map((p) => p.scope).filter((x): x is number => typeof x === 'number'));
  if (!ids.size) return {};
  const info = scopeInfo(db, session);
  const out: Record<string, { module: string; op: string }> = {};
  for (const id of ids) {
    const i = info.get(id);
    if (i) out[id] = { module: i.module, op: i.op };
  }
  return out;
}

/** The last range summed: the view asks for ops and modules of the same range one after the other. */
let lastRange: { db: DB; session: number; t0: number; t1: number; rows: ReturnType<typeof allocatedInRange> } | null = null;

function allocatedInRangeOnce(db: DB, session: number, t0: number, t1: number): ReturnType<typeof allocatedInRange> {
  const l = lastRange;
  if (l && l.db === db && l.session === session && l.t0 === t0 && l.t1 === t1) return l.rows;
  const rows = allocatedInRange(db, session, t0, t1);
  lastRange = { db, session, t0, t1, rows };
  return rows;
}

/**
 * Bytes allocated by op or module, over the whole session (op_stats) or a time range (summed from
 * the range's allocation events, main/store/allocated.ts): totals, not live bytes.
 */
export function top(db: DB, session: number, by: 'op' | 'module', limit: number, range?: { t0?: number; t1?: number }): TopReply {
  const s = sessionExtent(db, session);
  let t0 = range?.t0;
  let t1 = range?.t1;
  const whole = (t0 === undefined || s.t_begin === null || t0 <= s.t_begin) && (t1 === undefined || s.t_end === null || t1 >= s.t_end);
  let scoped = whole ? null : allocatedInRangeOnce(db, session, Math.floor(t0 ?? s.t_begin ?? 0), Math.ceil(t1 ?? s.t_end ?? 0));
  if (!scoped) {
    // The whole session, or a session without the timeline's id ranges (recorded before schema 5).
    scoped = allocatedBySession(db, session);
    t0 = t1 = undefined;
  }
  const info = scopeInfo(db, session);
  const maxOf = new Map<string, number>();
  const groups = groupScopes(scoped, info, by);
  for (const r of scoped) {
    const g = groupScopes([r], info, by)[0];
    maxOf.set(g.key, Math.max(maxOf.get(g.key) ?? 0, r.maxSize));
  }
  const rows = groups.map((g) => ({ name: g.key, bytes: g.bytes, allocs: g.count, maxSize: maxOf.get(g.key) ?? 0 }));
  return {
    session,
    by,
    rows: rows.slice(0, limit),
    totalBytes: rows.reduce((n, r) => n + r.bytes, 0),
    totalAllocs: rows.reduce((n, r) => n + r.allocs, 0),
    omitted: Math.max(0, rows.length - limit),
    range: t0 === undefined && t1 === undefined ? null : { t0: Math.floor(t0 ?? s.t_begin ?? 0), t1: Math.ceil(t1 ?? s.t_end ?? 0) },
  };
}

/** What is live at an instant, by module, op and stack (main/store/live.ts), each list cut to `limit` rows. */
export function live(db: DB, req: LiveRequest): LiveReply {
  const when: LiveWhen = req.t !== undefined ? { kind: 'ns', t: req.t } : req.iteration !== undefined ? { kind: 'iteration', number: req.iteration } : { kind: 'peak' };
  const l = liveAt(db, req.session, when);
  const info = scopeInfo(db, req.session);
  const limit = Math.min(req.limit ?? 100, LIMITS.liveRows);
  const cut = (by: LiveBy) => cutLive(l, info, by, limit);
  const m = cut('module');
  const o = cut('op');
  const st = cut('stack');
  return {
    session: req.session,
    t: l.t,
    at: l.at,
    iteration: l.iteration,
    liveBytes: l.liveBytes,
    liveCount: l.liveCount,
    byModule: m.shown,
    byOp: o.shown,
    byStack: st.shown,
    omitted: { module: m.omitted, op: o.omitted, stack: st.omitted },
  };
}

export function iterations(db: DB, session: number): IterationsReply {
  sessionExtent(db, session);
  const rows = iterationList(db, session);
  let defaultIteration: number | null = null;
  let because: string | null = null;
  try {
    const c = chooseIteration(db, session);
    defaultIteration = c.row.number;
    because = c.because;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    because = err.message;
  }
  return {
    session,
    iterations: rows.map((r) => ({
      number: r.number,
      allocs: r.allocs,
      allocBytes: r.alloc_bytes,
      latencyMs: r.latency_ns === null ? null : r.latency_ns / 1e6,
      complete: r.end_seq !== null && r.signature !== null,
      signature: r.signature,
    })),
    defaultIteration,
    because,
  };
}

/** The plan list of the Plan view: newest first, at most 200 (planInfos). */
export function storedPlans(db: DB, session: number): StoredPlanInfo[] {
  sessionExtent(db, session);
  return planInfos(db, session).reverse().slice(0, 200);
}

/** Every plan of a session, oldest first, as the Plan view and the report list them; a plan whose iteration row is gone is not listed. */
export function planInfos(db: DB, session: number): StoredPlanInfo[] {
  return sessionPlans(db, session)
    .filter((r): r is PlanListRow & { iteration: number } => r.iteration !== null)
    .map((r) => ({
      planId: r.id,
      session: r.session_id,
      iteration: r.iteration,
      algorithm: r.algorithm,
      arenaBytes: r.arena_bytes,
      lowerBoundBytes: r.lower_bound_bytes,
      baselineSpanBytes: r.baseline_span_bytes,
      ratio: r.lower_bound_bytes === 0 ? 1 : r.arena_bytes / r.lower_bound_bytes,
      seconds: r.seconds,
      optimal: r.optimal === 1,
      best: r.is_best === 1,
      buffers: r.buffers,
      unplannableAllocs: r.unplannable_allocs,
      unplannableBytes: r.unplannable_bytes,
      createdAt: r.created_at,
    }));
}

/** The memory map of a plan (main/store/memory-map.ts): the largest `maxRects` buffers, at most LIMITS.mapRects. */
export function memoryMap(db: DB, planId: number, maxRects: number): MapReply {
  return planMap(db, planId, Math.min(maxRects, LIMITS.mapRects));
}
