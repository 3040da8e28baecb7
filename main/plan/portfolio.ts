/**
 * Runs planners by name, validates every plan (an invalid plan throws: it is a bug), and the
 * `all` portfolio: every heuristic, then the exact solver seeded with the best of them.
 */
import type { Buffer, PlannerName, PlannerOptions, PlannerResult } from './types';
import { pack, arenaOf, type Packed } from './packed';
import { orderByKey } from './place';
import { OverlapIndex } from './overlap';
import { lowerBoundPacked } from './lower-bound';
import { validatePacked } from './validate';
import { greedyBySize } from './greedy-by-size';
import { greedyByBreadth } from './greedy-by-breadth';
import { firstFit } from './first-fit';
import { bestFit } from './best-fit';
import { exactSolve } from './exact';
import { skylineFits, skylineImprove, skylineSearch } from './skyline';
import { tilingSearch } from './tiling';
import type { InstanceColumns } from './instance-csv';

/** Seconds the exact solver (and `all`) may take when no limit is given. */
export const DEFAULT_TIME_LIMIT = 10;

/** The heuristics, cheapest first; all share one overlap index. */
export const HEURISTICS: Record<string, (p: Packed, index: OverlapIndex) => Float64Array> = {
  'greedy-size': greedyBySize,
  'greedy-breadth': greedyByBreadth,
  'first-fit': firstFit,
  'best-fit': bestFit,
};

/** Shared per-instance work: packed arrays, ids, overlap index, lower bound. */
export interface Prepared {
  /** The buffers, when prepared from objects (not from columns). */
  buffers?: readonly Buffer[];
  p: Packed;
  ids: ArrayLike<string | number>;
  index: OverlapIndex;
  lowerBound: number;
}

export function prepare(buffers: readonly Buffer[]): Prepared {
  const p = pack(buffers);
  return { buffers, p, ids: buffers.map((b) => b.id), index: new OverlapIndex(p), lowerBound: lowerBoundPacked(p) };
}

/** The same from an instance read as columns (instance-csv.ts, already checked): no object per buffer. */
export function prepareColumns(cols: InstanceColumns): Prepared {
  const p: Packed = { n: cols.n, start: cols.start, end: cols.end, size: cols.size, align: cols.align };
  return { p, ids: cols.ids, index: new OverlapIndex(p), lowerBound: lowerBoundPacked(p) };
}

/**
 * A fast first check of a plan: true when it is valid. A sweep over time keeps the live
 * buffers in an array ordered by offset (as placeByStart does, native sorts for the event
 * order) and checks each starting buffer against its neighbours by offset; the live set stays
 * free of overlaps, so that suffices. Returns false on a violation and null when more than
 * QUICK_LIVE buffers are live at once; either way validatePacked (validate.ts) then decides
 * and words the violations. On 10^6 buffers it is several times faster than validatePacked.
 */
function quickValid(p: Packed, offsets: ArrayLike<number>): boolean | null {
  const { n, start, end, size, align } = p;
  for (let i = 0; i < n; i++) {
    const o = offsets[i];
    if (!Number.isSafeInteger(o) || o < 0 || o % align[i] !== 0) return false;
  }
  const order = orderByKey(start);
  const byEnd = orderByKey(end);
  const lOff = new Float64Array(QUICK_LIVE);
  const lTop = new Float64Array(QUICK_LIVE);
  const lIdx = new Int32Array(QUICK_LIVE);
  let live = 0;
  let e = 0;
  const at = (o: number): number => {
    let lo = 0;
    let hi = live;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (lOff[mid] < o) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (let q = 0; q < n; q++) {
    const i = order[q];
    const s = start[i];
    while (e < n && end[byEnd[e]] <= s) {
      const j = byEnd[e++];
      if (size[j] === 0) continue;
      const k = at(offsets[j]);
      if (k >= live || lIdx[k] !== j) return null;
      lOff.copyWithin(k, k + 1, live);
      lTop.copyWithin(k, k + 1, live);
      lIdx.copyWithin(k, k + 1, live);
      live--;
    }
    if (size[i] === 0) continue;
    const o = offsets[i];
    const k = at(o);
    if (k > 0 && lTop[k - 1] > o) return false;
    if (k < live && lOff[k] < o + size[i]) return false;
    if (live === QUICK_LIVE) return null;
    lOff.copyWithin(k + 1, k, live);
    lTop.copyWithin(k + 1, k, live);
    lIdx.copyWithin(k + 1, k, live);
    lOff[k] = o;
    lTop[k] = o + size[i];
    lIdx[k] = i;
    live++;
  }
  return true;
}

/** Most buffers live at once that quickValid handles (its insertions cost O(live)). */
const QUICK_LIVE = 8192;

function checked(pr: Prepared, algorithm: string, offsets: ArrayLike<number>, t0: number, proven?: boolean): PlannerResult {
  const seconds = (performance.now() - t0) / 1000;
  const violations = quickValid(pr.p, offsets) === true ? [] : validatePacked(pr.p, pr.ids, offsets);
  if (violations.length) {
    throw new Error(`planner ${algorithm} produced an invalid plan (a bug):\n  ` + violations.map((v) => v.message).join('\n  '));
  }
  const arenaBytes = arenaOf(pr.p, offsets);
  return {
    algorithm,
    arenaBytes,
    seconds,
    optimal: proven === true || arenaBytes <= pr.lowerBound,
    offsets: Array.from(offsets),
    lowerBound: pr.lowerBound,
  };
}

export function runHeuristic(pr: Prepared, name: string): PlannerResult {
  const f = HEURISTICS[name];
  if (!f) throw new Error(`unknown heuristic planner '${name}'`);
  const t0 = performance.now();
  return checked(pr, name, f(pr.p, pr.index), t0);
}

/** Smallest arena wins; ties go to the earlier planner. */
function best(results: PlannerResult[]): PlannerResult {
  return results.reduce((a, b) => (b.arenaBytes < a.arenaBytes ? b : a));
}

/**
 * The heuristics that fit in the time: best-fit always (the cheapest; a plan is needed), each
 * other one only if its expected time (a multiple of best-fit's, measured) still leaves
 * `reserve` of the limit. Small instances (all of them take milliseconds) run every one.
 * Returned in the registry's order.
 */
function heuristicsWithin(pr: Prepared, t0: number, limitMs: number, reserve: number): PlannerResult[] {
  const got = new Map<string, PlannerResult>();
  const b0 = performance.now();
  got.set('best-fit', runHeuristic(pr, 'best-fit'));
  // best-fit's whole cost, checking its plan included, is the unit of the estimates.
  const unit = Math.max(1, performance.now() - b0);
  for (const [h, factor] of [['first-fit', 1.2], ['greedy-size', 4], ['greedy-breadth', 3.2]] as const) {
    const elapsed = performance.now() - t0;
    if (pr.p.n > 5000 && elapsed + factor * unit > limitMs * (1 - reserve)) continue;
    got.set(h, runHeuristic(pr, h));
  }
  return Object.keys(HEURISTICS)
    .filter((h) => got.has(h))
    .map((h) => got.get(h)!);
}

/** Time kept back from the limit for the final validation of the plan (about 0.6 us a buffer, doubled for a loaded machine). */
function validationReserveMs(pr: Prepared): number {
  return pr.p.n * 1.2e-3;
}

/**
 * The exact solver within the time limit, all of it counted: from `t0` (before the overlap
 * index was built, when plan() built it), seeding included. Without a given plan it is seeded
 * with the best of the heuristics that fit in a fifth of the time.
 */
export function runExact(pr: Prepared, options: PlannerOptions = {}, t0 = performance.now(), seed?: PlannerResult): PlannerResult {
  const limitMs = 1000 * (options.timeLimitSeconds ?? DEFAULT_TIME_LIMIT);
  const deadline = t0 + limitMs - validationReserveMs(pr);
  let initial = options.initialOffsets;
  if (!initial) {
    seed = best(heuristicsWithin(pr, t0, limitMs, 0.8));
    initial = seed.offsets;
  } else if (!seed) {
    const v = quickValid(pr.p, initial) === true ? [] : validatePacked(pr.p, pr.ids, initial);
    if (v.length) throw new Error(`initial plan given to the exact solver is invalid: ${v[0].message}`);
  }
  // A seed (a checked heuristic plan) the search did not improve on is returned as it is,
  // without checking it again (a second or so at 10^6 buffers); so is a seed past the deadline.
  const asSeed = (s: PlannerResult): PlannerResult => ({ ...s, algorithm: 'exact', seconds: (performance.now() - t0) / 1000, provenLowerBound: pr.lowerBound });
  if (seed && performance.now() >= deadline) return asSeed(seed);
  const out = exactSolve(pr.p, { deadline, initialOffsets: initial, index: pr.index });
  if (seed && !out.optimal && out.arenaBytes >= seed.arenaBytes) {
    const r = asSeed(seed);
    r.provenLowerBound = Math.max(out.provenLowerBound, pr.lowerBound);
    return r;
  }
  const r = checked(pr, 'exact', out.offsets, t0, out.optimal);
  r.provenLowerBound = Math.max(out.provenLowerBound, pr.lowerBound);
  return r;
}

/**
 * Every heuristic, then exact from the best; returns the best with each planner's result.
 * The time limit covers the whole run: on large instances a heuristic that would not leave
 * the exact search a fifth of it is left out (and missing from perPlanner).
 */
export function runAll(pr: Prepared, options: PlannerOptions = {}, t0 = performance.now()): PlannerResult {
  const limitMs = 1000 * (options.timeLimitSeconds ?? DEFAULT_TIME_LIMIT);
  // Past 200,000 buffers the search only gets descents, which do not finish there anyway: the
  // heuristics may use all but 5% of the limit.
  const results = heuristicsWithin(pr, t0, limitMs, pr.p.n > 200_000 ? 0.05 : 0.2);
  const seed = options.initialOffsets ? undefined : best(results);
  let ex: PlannerResult;
  if (seed && pr.p.n >= SKYLINE_FROM && skylineFits(pr.p)) ex = exactWithSkyline(pr, options, t0, seed, limitMs);
  else ex = runExact(pr, { ...options, initialOffsets: options.initialOffsets ?? seed!.offsets }, t0, seed);
  results.push(ex);
  const win = best(results);
  return {
    ...win,
    algorithm: `all:${win.algorithm}`,
    seconds: (performance.now() - t0) / 1000,
    optimal: results.some((r) => r.optimal && r.arenaBytes === win.arenaBytes) || ex.optimal,
    provenLowerBound: ex.provenLowerBound,
    perPlanner: results,
  };
}

/** Instances smaller than this go straight to the exact search (it settles them in milliseconds). */
const SKYLINE_FROM = 50;
/**
 * Shares of `all`'s limit (from its start): a first exact search until SKYLINE_EXACT_FIRST,
 * the tiling search at the proven bound until TILING_UNTIL, skyline restarts until
 * SKYLINE_UNTIL, the skyline improvement phase until IMPROVE_UNTIL.
 */
const SKYLINE_EXACT_FIRST = 0.1;
const TILING_UNTIL = 0.2;
const SKYLINE_UNTIL = 0.3;
const IMPROVE_UNTIL = 0.7;

/**
 * `all`'s exact phase on instances where skyline restarts are affordable (skyline.ts): a short
 * exact search first (it proves most small or loose instances optimal at once), then the tiling
 * search for a plan at the proven bound (tiling.ts: it settles some tight instances), then skyline
 * restarts, then the improvement phase (skylineImprove: the top of the better plan dropped and
 * rebuilt, up to DIVE_MAX_BUFFERS buffers), then the exact search again for the rest of the
 * limit, seeded with the best plan so far. Returned as `exact`'s result (the bound it proved is the better of the two
 * searches'); the skyline plan is checked like any other.
 */
function exactWithSkyline(pr: Prepared, options: PlannerOptions, t0: number, seed: PlannerResult, limitMs: number): PlannerResult {
  const first = runExact(pr, { ...options, timeLimitSeconds: (SKYLINE_EXACT_FIRST * limitMs) / 1000, initialOffsets: seed.offsets }, t0, seed);
  if (first.optimal) return first;
  const proven = first.provenLowerBound ?? pr.lowerBound;
  const tiled = tilingSearch(pr.p, proven, t0 + TILING_UNTIL * limitMs);
  if (tiled) {
    const t = checked(pr, 'tiling', tiled.offsets, t0);
    if (t.arenaBytes <= proven) return { ...t, algorithm: 'exact', optimal: true, provenLowerBound: proven, seconds: (performance.now() - t0) / 1000 };
  }
  let from = first;
  const sky = skylineSearch(pr.p, t0 + SKYLINE_UNTIL * limitMs, proven);
  if (sky && sky.arenaBytes < first.arenaBytes) from = { ...checked(pr, 'skyline', sky.offsets, t0), provenLowerBound: proven };
  if (from.arenaBytes > proven) {
    const imp = skylineImprove(pr.p, from.offsets, t0 + IMPROVE_UNTIL * limitMs, proven);
    if (imp && imp.arenaBytes < from.arenaBytes) from = { ...checked(pr, 'skyline', imp.offsets, t0), provenLowerBound: proven };
  }
  if (from.arenaBytes <= proven) return { ...from, algorithm: 'exact', optimal: true, seconds: (performance.now() - t0) / 1000 };
  const ex = runExact(pr, { ...options, initialOffsets: from.offsets }, t0, from);
  const bound = Math.max(proven, ex.provenLowerBound ?? pr.lowerBound);
  return { ...ex, provenLowerBound: bound, optimal: ex.optimal || ex.arenaBytes <= bound };
}

/** What plan() takes: buffer objects, an instance read as columns, or either prepared. */
export type PlannerInput = readonly Buffer[] | InstanceColumns | Prepared;

export function runPlanner(name: PlannerName, buffers: PlannerInput, options: PlannerOptions = {}): PlannerResult {
  const t0 = performance.now();
  const pr = Array.isArray(buffers)
    ? prepare(buffers as readonly Buffer[])
    : 'index' in buffers
      ? (buffers as Prepared)
      : prepareColumns(buffers as InstanceColumns);
  switch (name) {
    case 'exact':
      return runExact(pr, options, t0);
    case 'all':
      return runAll(pr, options, t0);
    default:
      return runHeuristic(pr, name);
  }
}
