/**
 * Planner data types. A planner is a pure function from buffers (lifetimes) to offsets.
 *
 * Time is logical and half-open: a buffer is live in [start, end). Two buffers conflict
 * when their lifetimes overlap and their byte ranges [offset, offset + size) overlap.
 */

/** One allocation to place: live in [start, end) (end exclusive), `size` bytes. */
export interface Buffer {
  id: string | number;
  /** First time step the buffer is live (inclusive). */
  start: number;
  /** First time step the buffer is no longer live (exclusive); end > start. */
  end: number;
  /** Bytes, a non-negative integer. */
  size: number;
  /** Required alignment of the offset: a power of two; 1 when absent. */
  align?: number;
}

/** Offsets parallel to the buffers, and the arena they need (max offset + size). */
export interface Plan {
  offsets: number[];
  arenaBytes: number;
}

/** Names accepted by the registry in index.ts. */
export type PlannerName = 'greedy-size' | 'greedy-breadth' | 'first-fit' | 'best-fit' | 'exact' | 'all';

export interface PlannerOptions {
  /** Wall-clock limit for the exact solver and for `all` as a whole (heuristics included), in seconds (default 10). */
  timeLimitSeconds?: number;
  /** A known valid plan (offsets parallel to the buffers) the exact solver starts from. */
  initialOffsets?: ArrayLike<number>;
}

export interface PlannerResult {
  /** Registry name of the planner that produced the offsets. */
  algorithm: string;
  arenaBytes: number;
  /** Wall-clock seconds the planner took. */
  seconds: number;
  /** True only when the arena is proven minimal (it equals the lower bound, or a search proved it). */
  optimal: boolean;
  /** Offsets parallel to the input buffers. */
  offsets: number[];
  /** Peak of live bytes: no plan can use less. */
  lowerBound: number;
  /**
   * exact and all: the best lower bound the search proved (>= lowerBound). When the result is
   * not optimal, the plan is at most arenaBytes / provenLowerBound times the optimum.
   */
  provenLowerBound?: number;
  /** For `all`: every planner's own result (offsets included), in the order they ran. */
  perPlanner?: PlannerResult[];
}
