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
