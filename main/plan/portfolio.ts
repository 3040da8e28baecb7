/**
 * Runs planners by name, validates every plan (an invalid plan throws: it is a bug), and the
 * `all` portfolio: every heuristic, then the exact solver seeded with the best of them.
 */
import type { Buffer, PlannerName, PlannerOptions, PlannerResult } from './types';
import { pack, arenaOf, type Packed } from './packed';
import { OverlapIndex } from './overlap';
import { lowerBoundPacked } from './lower-bound';
import { validatePacked } from './validate';
import { greedyBySize } from './greedy-by-size';
import { greedyByBreadth } from './greedy-by-breadth';
import { firstFit } from './first-fit';
import { bestFit } from './best-fit';
import { exactSolve } from './exact';

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
  buffers: readonly Buffer[];
  p: Packed;
  ids: Array<string | number>;
  index: OverlapIndex;
  lowerBound: number;
}

export function prepare(buffers: readonly Buffer[]): Prepared {
  const p = pack(buffers);
  return { buffers, p, ids: buffers.map((b) => b.id), index: new OverlapIndex(p), lowerBound: lowerBoundPacked(p) };
}

function checked(pr: Prepared, algorithm: string, offsets: ArrayLike<number>, t0: number, proven?: boolean): PlannerResult {
  const seconds = (performance.now() - t0) / 1000;
  const violations = validatePacked(pr.p, pr.ids, offsets);
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

/** Seeding order of the heuristics for a lone `exact`. */
const SEED_ORDER = ['best-fit', 'first-fit', 'greedy-size', 'greedy-breadth'];

/**
 * The exact solver within the time limit, all of it counted: seeding included. Without a
 * given plan it is seeded with the best of the heuristics that fit in a fifth of the time.
 */
export function runExact(pr: Prepared, options: PlannerOptions = {}, t0 = performance.now()): PlannerResult {
  const deadline = t0 + 1000 * (options.timeLimitSeconds ?? DEFAULT_TIME_LIMIT);
  let initial = options.initialOffsets;
  if (!initial) {
    // Cheapest first; the others while they take under a fifth of the time limit.
    const hs: PlannerResult[] = [];
    for (const h of SEED_ORDER) {
      if (hs.length && performance.now() - t0 > (deadline - t0) / 5) break;
      hs.push(runHeuristic(pr, h));
    }
    initial = best(hs).offsets;
  } else {
    const v = validatePacked(pr.p, pr.ids, initial);
    if (v.length) throw new Error(`initial plan given to the exact solver is invalid: ${v[0].message}`);
  }
  const out = exactSolve(pr.p, { deadline, initialOffsets: initial, index: pr.index });
  const r = checked(pr, 'exact', out.offsets, t0, out.optimal);
  r.provenLowerBound = Math.max(out.provenLowerBound, pr.lowerBound);
  return r;
}

/** Every heuristic, then exact from the best; returns the best with each planner's result. The time limit covers the whole run. */
export function runAll(pr: Prepared, options: PlannerOptions = {}): PlannerResult {
  const t0 = performance.now();
  const results = Object.keys(HEURISTICS).map((h) => runHeuristic(pr, h));
  const ex = runExact(pr, { ...options, initialOffsets: options.initialOffsets ?? best(results).offsets }, t0);
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

export function runPlanner(name: PlannerName, buffers: readonly Buffer[] | Prepared, options: PlannerOptions = {}): PlannerResult {
  const pr = 'index' in buffers ? (buffers as Prepared) : prepare(buffers as readonly Buffer[]);
  switch (name) {
    case 'exact':
      return runExact(pr, options);
    case 'all':
      return runAll(pr, options);
    default:
      return runHeuristic(pr, name);
  }
}
