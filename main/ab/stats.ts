/**
 * The statistics of an A/B comparison: quantiles, percentile-bootstrap confidence intervals
 * and a verdict per pair of arms. Pure functions, no I/O.
 *
 * Written here rather than taken from npm: simple-statistics (the well-kept candidate) has
 * quantiles but neither a bootstrap nor a seedable random source of its own, the code below
 * is ~100 lines, and a new dependency would mean editing package.json's dependencies, which
 * this module does not own. The PRNG is mulberry32 (32-bit state, passes the usual quick
 * tests, more than enough for resampling indices); a fixed seed makes every interval
 * reproducible from the stored samples.
 */

export const DEFAULT_RESAMPLES = 2000;
export const DEFAULT_SEED = 0x5eed_ab01;
/** The ratio bootstrap uses its own stream, so adding a quantile does not move ratio CIs. */
const RATIO_SEED_SALT = 0x9e3779b9;

import { mulberry32, type Rng } from '../../shared/random';
export { mulberry32, type Rng };

/**
 * Quantile of sorted values, linear interpolation between closest ranks (Hyndman & Fan type 7,
 * the default of R, NumPy and Excel's PERCENTILE.INC): h = (n - 1) p.
 */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (p <= 0) return sorted[0];
  if (p >= 1) return sorted[n - 1];
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const frac = h - lo;
  return frac === 0 ? sorted[lo] : sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

export function sortedCopy(xs: ArrayLike<number>): Float64Array {
  return Float64Array.from(xs).sort();
}

export function quantile(xs: ArrayLike<number>, p: number): number {
  return quantileSorted(sortedCopy(xs), p);
}

export function median(xs: ArrayLike<number>): number {
  return quantile(xs, 0.5);
}

/**
 * The samples of one arm, grouped by the process (run) that produced them. Latencies within a
 * run share that run's memory layout, page cache and neighbours, so they are not independent;
 * resampling runs first and samples within the chosen runs second (a two-level, "cluster"
 * bootstrap) carries the run-to-run spread into the interval. With a single group this is the
 * plain bootstrap over samples.
 */
export type Samples = ArrayLike<number> | readonly ArrayLike<number>[];

function asGroups(xs: Samples): readonly ArrayLike<number>[] {
  const g = xs as readonly ArrayLike<number>[];
  return g.length > 0 && typeof g[0] === 'object' ? g.filter((x) => x.length > 0) : [xs as ArrayLike<number>];
}

function flatten(groups: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(groups.reduce((n, g) => n + g.length, 0));
  let k = 0;
  for (const g of groups) for (let i = 0; i < g.length; i++) out[k++] = g[i];
  return out;
}

/** One bootstrap resample, sorted, in a view of `out` (sized for the largest possible resample). */
function resampleSorted(groups: readonly ArrayLike<number>[], rng: Rng, out: Float64Array): Float64Array {
  const G = groups.length;
  let k = 0;
  for (let j = 0; j < G; j++) {
    const g = G === 1 ? groups[0] : groups[Math.floor(rng() * G)];
    const n = g.length;
    for (let i = 0; i < n; i++) out[k++] = g[Math.floor(rng() * n)];
  }
  return out.subarray(0, k).sort();
}

function bufferFor(groups: readonly ArrayLike<number>[]): Float64Array {
  return new Float64Array(groups.length * Math.max(...groups.map((g) => g.length)));
}

export interface Interval {
  low: number;
  high: number;
}

/** The 2.5th and 97.5th percentiles of a bootstrap distribution: a 95% percentile interval. */
function percentileInterval(dist: Float64Array): Interval {
  dist.sort();
  return { low: quantileSorted(dist, 0.025), high: quantileSorted(dist, 0.975) };
}

export interface QuantileEstimate {
  value: number;
  ci: Interval;
}

export interface Summary {
  n: number;
  median: QuantileEstimate;
  p90: QuantileEstimate;
  p99: QuantileEstimate;
  min: number;
  max: number;
}

export interface BootstrapOptions {
  resamples?: number;
  seed?: number;
}

/**
 * Median, p90 and p99 of the pooled samples, each with a 95% percentile-bootstrap interval from
 * the same resamples. The order of groups and samples is part of what the seed reproduces.
 */
export function summarize(xs: Samples, o: BootstrapOptions = {}): Summary {
  const groups = asGroups(xs);
  const all = flatten(groups);
  const n = all.length;
  if (n === 0) throw new Error('summarize: no samples');
  const B = o.resamples ?? DEFAULT_RESAMPLES;
  const rng = mulberry32(o.seed ?? DEFAULT_SEED);
  const ps = [0.5, 0.9, 0.99];
  const dists = ps.map(() => new Float64Array(B));
  const buf = bufferFor(groups);
  for (let b = 0; b < B; b++) {
    const s = resampleSorted(groups, rng, buf);
    for (let k = 0; k < ps.length; k++) dists[k][b] = quantileSorted(s, ps[k]);
  }
  const sorted = all.sort();
  const est = (k: number): QuantileEstimate => ({ value: quantileSorted(sorted, ps[k]), ci: percentileInterval(dists[k]) });
  return { n, median: est(0), p90: est(1), p99: est(2), min: sorted[0], max: sorted[n - 1] };
}

import type { Verdict } from '../../shared/types';
export type { Verdict };

export interface RatioEstimate {
  /** statistic(arm) / statistic(baseline): below 1 means the arm is faster. */
  ratio: number;
  ci: Interval;
  verdict: Verdict;
}

/** "faster"/"slower" only when the interval excludes 1 (no change). */
export function verdictOf(ci: Interval): Verdict {
  if (ci.high < 1) return 'faster';
  if (ci.low > 1) return 'slower';
  return 'no detectable difference';
}

/**
 * Ratio of the median (and of the p99) of `arm` to that of `baseline`, with 95% bootstrap
 * intervals: each resample draws both arms independently (runs, then samples within runs).
 */
export function compare(arm: Samples, baseline: Samples, o: BootstrapOptions = {}): { median: RatioEstimate; p99: RatioEstimate } {
  const ga = asGroups(arm);
  const gb = asGroups(baseline);
  const a = flatten(ga).sort();
  const base = flatten(gb).sort();
  if (a.length === 0 || base.length === 0) throw new Error('compare: no samples');
  const B = o.resamples ?? DEFAULT_RESAMPLES;
  const rng = mulberry32(((o.seed ?? DEFAULT_SEED) ^ RATIO_SEED_SALT) >>> 0);
  const ps = [0.5, 0.99];
  const dists = ps.map(() => new Float64Array(B));
  const bufA = bufferFor(ga);
  const bufB = bufferFor(gb);
  for (let b = 0; b < B; b++) {
    const sa = resampleSorted(ga, rng, bufA);
    const sb = resampleSorted(gb, rng, bufB);
    for (let k = 0; k < ps.length; k++) dists[k][b] = quantileSorted(sa, ps[k]) / quantileSorted(sb, ps[k]);
  }
  const est = (k: number): RatioEstimate => {
    const ci = percentileInterval(dists[k]);
    return { ratio: quantileSorted(a, ps[k]) / quantileSorted(base, ps[k]), ci, verdict: verdictOf(ci) };
  };
  return { median: est(0), p99: est(1) };
}
