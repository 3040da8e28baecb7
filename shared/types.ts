/**
 * Types that cross a boundary: the CLI's --json output, the IPC contract, the SQLite rows the
 * UI reads. Keep the JSON keys stable: scripts rely on them.
 */

/** One row of `memoplan sessions --json`. */
export interface SessionSummary {
  id: number;
  name: string;
  /** argv of the target, as launched. */
  command: string[];
  /** recording | complete | killed | failed */
  status: string;
  /** The target's exit code; 128 + signal number when it was killed by a signal. */
  exit_code: number | null;
  started_at: string;
  ended_at: string | null;
  /** Allocation-family events stored (markers not counted). */
  events: number;
  /** What the interposers reported writing (null when a process did not exit cleanly). */
  events_claimed: number | null;
  allocations: number;
  live_at_exit: number;
  iterations: number;
  ops: number;
  peak_live_bytes: number | null;
}

/** One row of `memoplan plan --json`: one planner's result. */
export interface PlanRow {
  /** The stored plan (sessions only; null for instance files). */
  plan_id: number | null;
  algorithm: string;
  arena_bytes: number;
  lower_bound_bytes: number;
  /** arena_bytes / lower_bound_bytes */
  ratio: number;
  seconds: number;
  /** True only when the arena is proven minimal. */
  optimal: boolean;
  /** The plan `all` kept. */
  best: boolean;
}

/** The A/B verdict: given only where the bootstrap interval of the ratio excludes 1. */
export type Verdict = 'faster' | 'slower' | 'no detectable difference';
/** The peak-RSS verdict, by the same rule over the runs' peak RSS. */
export type RssVerdict = 'smaller' | 'larger' | 'no detectable difference';

/** One arm of `memoplan ab --json` (allocator x thread count); the UI shows the same objects. */
export interface ArmReport {
  allocator: string;
  library: string | null;
  threads: number;
  status: 'ok' | 'failed';
  reason: string | null;
  runs_ok: number;
  runs_failed: number;
  failures: { run: number; reason: string | null; exit_code: number | null; signal: number | null }[];
  samples: number;
  median_ms: number | null;
  median_ci_low_ms: number | null;
  median_ci_high_ms: number | null;
  p90_ms: number | null;
  p90_ci_low_ms: number | null;
  p90_ci_high_ms: number | null;
  p99_ms: number | null;
  p99_ci_low_ms: number | null;
  p99_ci_high_ms: number | null;
  min_ms: number | null;
  max_ms: number | null;
  /** median(arm) / median(baseline at the same threads); 1 for the baseline itself. */
  median_ratio: number | null;
  ratio_ci_low: number | null;
  ratio_ci_high: number | null;
  verdict: Verdict | 'baseline' | null;
  p99_ratio: number | null;
  p99_ratio_ci_low: number | null;
  p99_ratio_ci_high: number | null;
  p99_verdict: Verdict | 'baseline' | null;
  /** Medians over the arm's successful runs. */
  peak_rss_bytes: number | null;
  /** median peak RSS (arm) / (baseline at the same threads), runs resampled; 1 for the baseline. */
  rss_ratio: number | null;
  rss_ratio_ci_low: number | null;
  rss_ratio_ci_high: number | null;
  rss_verdict: RssVerdict | 'baseline' | null;
  wall_s: number | null;
  /** Median system CPU seconds of the arm's runs (rusage). */
  system_s: number | null;
  minor_faults: number | null;
  major_faults: number | null;
  voluntary_cs: number | null;
  involuntary_cs: number | null;
  threads_seen: number | null;
  plan_status: string | null;
  plan_hits: number | null;
  plan_misses: number | null;
  plan_hit_rate: number | null;
  plan_refusal: string | null;
  /**
   * A plan arm whose plan was refused or served under 99% of its allocations: why. Such an arm
   * keeps its ratios but gets no latency verdict of its own (it ran mostly as its base allocator).
   */
  plan_note: string | null;
  /**
   * A plan arm, over its successful runs: the most signatures (plans of its set) one run served,
   * the unplanned iterations of all, and per plan (set order; one for a single plan) what all
   * runs served; null where the runs wrote no MEMOPLAN_PLAN_STATS.
   */
  plan_signatures_served?: number | null;
  plan_iterations_unplanned?: number | null;
  plan_signatures?: { signature: string; iterations_served: number; hits: number; misses: number }[] | null;
}

/** `memoplan replay -- CMD --json`: what a run in plan mode was served. */
export interface ReplaySummary {
  session: number;
  /** The single plan run; null for a plan set or a file that could not be decoded. */
  plan_id: number | null;
  /** The plan set run (set:ID, or a set file's set_id); null for a single plan. */
  set_id: number | null;
  /** Plans in the file: 1 for a single plan, k for a set; null when it could not be decoded. */
  plans: number | null;
  plan_file: string;
  threads: number;
  status: string;
  hits: number;
  misses: number;
  hit_rate: number | null;
  byte_hit_rate: number | null;
  fallback_bytes: number;
  arena_bytes: number;
  iterations_served: number;
  retirements: number;
  /** Plans (of the set, or the single plan) that served at least one iteration (trace header 160). */
  signatures_served: number;
  /** Iterations in which no plan of the set was left (trace header 168); always 0 with a single plan. */
  iterations_unplanned: number;
  /**
   * Per plan, in set order: what it served (MEMOPLAN_PLAN_STATS, written by the target's main
   * process at exit); null when the target wrote none (it died first, or never marked an iteration).
   */
  signatures: { signature: string; iterations_served: number; hits: number; misses: number }[] | null;
  exit_code: number;
  latencies_ms: number[];
  median_latency_ms: number | null;
}
