import { compare, median, summarize } from './stats';
import type { ArmReport, RssVerdict } from '../../shared/types';
import { isPlanArmName } from '../../shared/api';
import type { StoredAbRun, StoredArm, StoredProcess } from '../store/ab-runs';

/**
 * The A/B result, computed from the stored rows only (so `memoplan ab --json` and a
 * recomputation from SQLite agree to the last bit): per arm, latency quantiles with bootstrap
 * intervals (runs resampled, then samples within runs: main/ab/stats.ts) and the medians over runs of what the kernel counted; per arm against the baseline
 * arm at the same thread count, the ratio of medians (and of p99s) with an interval and a verdict.
 */

export type { ArmReport };

export interface AbReport {
  ab_run_id: number;
  status: string;
  command: string[];
  baseline: string;
  runs: number;
  warmup: number;
  iterations: number | null;
  seed: number;
  resamples: number;
  confidence: number;
  /** How the intervals were made. */
  bootstrap: string;
  skipped: { name: string; reason: string }[];
  arms: ArmReport[];
}

const ms = (ns: number | null | undefined) => (ns === null || ns === undefined ? null : ns / 1e6);

function medianOf(ps: StoredProcess[], key: keyof StoredProcess): number | null {
  const xs = ps.map((p) => p[key]).filter((v): v is number => typeof v === 'number');
  return xs.length ? median(xs) : null;
}

function sumOf(ps: StoredProcess[], key: keyof StoredProcess): number | null {
  const xs = ps.map((p) => p[key]).filter((v): v is number => typeof v === 'number');
  return xs.length ? xs.reduce((a, b) => a + b, 0) : null;
}

/** A plan arm counts as planned when every run served its plan and at least this share of allocations hit. */
export const PLAN_SERVED_MIN_HIT_RATE = 0.99;

const rssVerdict = (v: string): RssVerdict => (v === 'faster' ? 'smaller' : v === 'slower' ? 'larger' : 'no detectable difference');

function armReport(a: StoredArm, run: StoredAbRun, baseline: StoredArm | undefined): ArmReport {
  const ok = a.processes.filter((p) => p.status === 'ok');
  const failed = a.processes.filter((p) => p.status !== 'ok');
  const usable = ok.length > 0 && a.samples.length > 0;
  const s = usable ? summarize(a.groups, { seed: run.seed, resamples: run.resamples }) : null;
  const isBaseline = baseline !== undefined && baseline.id === a.id;
  const baseOk = baseline !== undefined && baseline.samples.length > 0 && baseline.processes.some((p) => p.status === 'ok');
  const cmp = usable && baseOk && !isBaseline ? compare(a.groups, baseline!.groups, { seed: run.seed, resamples: run.resamples }) : null;
  const hits = sumOf(ok, 'plan_hits');
  const misses = sumOf(ok, 'plan_misses');
  const planStatuses = [...new Set(a.processes.map((p) => p.plan_status).filter((x): x is string => x !== null))];
  const refusals = [...new Set(a.processes.map((p) => p.plan_refusal).filter((x): x is string => x !== null))];
  const hitRate = hits !== null && misses !== null && hits + misses > 0 ? hits / (hits + misses) : null;
  let planNote: string | null = null;
  if (isPlanArmName(a.allocator) && usable) {
    if (planStatuses.some((x) => x !== 'serving')) planNote = `plan not served in every run (${planStatuses.join(', ')}${refusals.length ? `: ${refusals.join('; ')}` : ''})`;
    else if (hitRate === null || hitRate < PLAN_SERVED_MIN_HIT_RATE) planNote = `plan served ${hitRate === null ? 'no' : `${(hitRate * 100).toFixed(1)}% of`} allocations (under ${PLAN_SERVED_MIN_HIT_RATE * 100}%)`;
  }
  const rssOf = (x: StoredArm) => x.processes.filter((p) => p.status === 'ok' && typeof p.peak_rss_bytes === 'number').map((p) => [p.peak_rss_bytes as number]);
  const rssA = usable ? rssOf(a) : [];
  const rssB = baseOk ? rssOf(baseline!) : [];
  const rss = !isBaseline && rssA.length > 0 && rssB.length > 0 ? compare(rssA, rssB, { seed: run.seed, resamples: run.resamples }).median : null;
  const noVerdict = planNote !== null;
  return {
    allocator: a.allocator,
    library: a.library,
    threads: a.threads,
    status: usable ? 'ok' : 'failed',
    reason: usable ? null : a.reason ?? (failed[0]?.reason ? `every run failed; first: ${failed[0].reason}` : 'no samples'),
    runs_ok: ok.length,
    runs_failed: failed.length,
    failures: failed.map((p) => ({ run: p.run_index, reason: p.reason, exit_code: p.exit_code, signal: p.signal })),
    samples: usable ? a.samples.length : 0,
    median_ms: ms(s?.median.value),
    median_ci_low_ms: ms(s?.median.ci.low),
    median_ci_high_ms: ms(s?.median.ci.high),
    p90_ms: ms(s?.p90.value),
    p90_ci_low_ms: ms(s?.p90.ci.low),
    p90_ci_high_ms: ms(s?.p90.ci.high),
    p99_ms: ms(s?.p99.value),
    p99_ci_low_ms: ms(s?.p99.ci.low),
    p99_ci_high_ms: ms(s?.p99.ci.high),
    min_ms: ms(s?.min),
    max_ms: ms(s?.max),
    median_ratio: isBaseline && usable ? 1 : cmp?.median.ratio ?? null,
    ratio_ci_low: isBaseline && usable ? 1 : cmp?.median.ci.low ?? null,
    ratio_ci_high: isBaseline && usable ? 1 : cmp?.median.ci.high ?? null,
    verdict: isBaseline && usable ? 'baseline' : noVerdict ? null : cmp?.median.verdict ?? null,
    p99_ratio: isBaseline && usable ? 1 : cmp?.p99.ratio ?? null,
    p99_ratio_ci_low: isBaseline && usable ? 1 : cmp?.p99.ci.low ?? null,
    p99_ratio_ci_high: isBaseline && usable ? 1 : cmp?.p99.ci.high ?? null,
    p99_verdict: isBaseline && usable ? 'baseline' : noVerdict ? null : cmp?.p99.verdict ?? null,
    peak_rss_bytes: medianOf(ok, 'peak_rss_bytes'),
    rss_ratio: isBaseline && usable && rssA.length ? 1 : rss?.ratio ?? null,
    rss_ratio_ci_low: isBaseline && usable && rssA.length ? 1 : rss?.ci.low ?? null,
    rss_ratio_ci_high: isBaseline && usable && rssA.length ? 1 : rss?.ci.high ?? null,
    rss_verdict: isBaseline && usable && rssA.length ? 'baseline' : rss ? rssVerdict(rss.verdict) : null,
    wall_s: ms(medianOf(ok, 'wall_ns')) === null ? null : ms(medianOf(ok, 'wall_ns'))! / 1000,
    system_s: medianOf(ok, 'stime_us') === null ? null : medianOf(ok, 'stime_us')! / 1e6,
    minor_faults: medianOf(ok, 'minor_faults'),
    major_faults: medianOf(ok, 'major_faults'),
    voluntary_cs: medianOf(ok, 'voluntary_cs'),
    involuntary_cs: medianOf(ok, 'involuntary_cs'),
    threads_seen: medianOf(ok, 'threads_seen'),
    plan_status: planStatuses.length ? planStatuses.join(',') : null,
    plan_hits: hits,
    plan_misses: misses,
    plan_hit_rate: hitRate,
    plan_refusal: refusals.length ? refusals.join('; ') : null,
    plan_note: planNote,
    ...planSetCounters(ok),
  };
}

/** What the runs of a plan-set arm served, per plan (MEMOPLAN_PLAN_STATS), summed over its runs. */
function planSetCounters(ok: StoredArm['processes']): Pick<ArmReport, 'plan_signatures_served' | 'plan_iterations_unplanned' | 'plan_signatures'> {
  const per = new Map<string, { signature: string; iterations_served: number; hits: number; misses: number }>();
  let served: number | null = null;
  let unplanned: number | null = null;
  for (const p of ok) {
    if (typeof p.plan_signatures_served === 'number') served = Math.max(served ?? 0, p.plan_signatures_served);
    if (typeof p.plan_iterations_unplanned === 'number') unplanned = (unplanned ?? 0) + p.plan_iterations_unplanned;
    if (!p.plan_signatures) continue;
    let list: { signature: string; iterations_served: number | null; hits: number | null; misses: number | null }[];
    try {
      list = JSON.parse(p.plan_signatures);
    } catch {
      continue;
    }
    for (const x of list) {
      const acc = per.get(x.signature) ?? { signature: x.signature, iterations_served: 0, hits: 0, misses: 0 };
      acc.iterations_served += x.iterations_served ?? 0;
      acc.hits += x.hits ?? 0;
      acc.misses += x.misses ?? 0;
      per.set(x.signature, acc);
    }
  }
  return { plan_signatures_served: served, plan_iterations_unplanned: unplanned, plan_signatures: per.size ? [...per.values()] : null };
}

export function analyze(run: StoredAbRun): AbReport {
  const baselineName = run.config.baseline;
  return {
    ab_run_id: run.id,
    status: run.status,
    command: run.command,
    baseline: baselineName,
    runs: run.config.runs,
    warmup: run.config.warmup,
    iterations: run.config.iterations,
    seed: run.seed,
    resamples: run.resamples,
    confidence: 0.95,
    bootstrap: 'percentile, two-level: runs with replacement, then samples within each chosen run',
    skipped: run.config.skipped ?? [],
    arms: run.arms.map((a) => armReport(a, run, run.arms.find((b) => b.allocator === baselineName && b.threads === a.threads))),
  };
}
