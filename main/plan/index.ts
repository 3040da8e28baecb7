/**
 * memoplan memory planner: assigns every buffer (a lifetime [start, end) and a size) a fixed
 * offset in one arena so that no two buffers live at the same time share a byte.
 *
 * API (all pure functions, no I/O; files are read by instance-file.ts):
 *
 *   import { plan, PLANNERS, writeOffsetsCsv, lowerBound, assertValid } from './plan';
 *   import { readInstanceCsv, readInstanceColumns } from './plan/instance-file';
 *
 *   const { buffers } = readInstanceCsv('model.csv');        // id,lower,upper,size[,alignment]
 *   const r = plan('all', buffers, { timeLimitSeconds: 10 }); // or any name in PLANNERS
 *   // large files: columns (streaming parse, typed arrays, no object per buffer)
 *   const cols = readInstanceColumns('big.csv');
 *   const r2 = plan('all', prepareColumns(cols));            // offsetsCsvBytes(cols, r2.offsets)
 *   r.offsets[i]      offset of buffers[i]
 *   r.arenaBytes      max(offset + size)
 *   r.lowerBound      peak of live bytes (no plan can do better)
 *   r.provenLowerBound exact/all: the best bound the search proved (>= lowerBound)
 *   r.optimal         true only when the arena is proven minimal
 *   r.seconds         wall time
 *   r.perPlanner      for 'all': each planner's own PlannerResult (best first is NOT implied;
 *                     in run order: greedy-size, greedy-breadth, first-fit, best-fit, exact)
 *   writeOffsetsCsv(buffers, r.offsets)                      // id,lower,upper,size,offset
 *
 * Names: 'greedy-size', 'greedy-breadth', 'first-fit', 'best-fit' (heuristics, about a second
 * or less on 100k buffers), 'exact' (seeded with heuristics; runs until optimal or
 * timeLimitSeconds, default 10, seeding included; returns its best so far), 'all' (every
 * heuristic, then exact, all within timeLimitSeconds; from 50 buffers skyline restarts
 * (skyline.ts) seed a second exact search; returns the best, algorithm 'all:<winner>'). docs/PLANNER.md describes them.
 *
 * Every returned plan has been validated; an invalid one throws (a planner bug). Malformed
 * buffers throw an Error naming the buffer. To run several planners on one instance without
 * rebuilding the overlap index, call prepare(buffers) once and pass the result to plan().
 * Given buffers or columns, plan() builds the index itself, inside the time limit.
 */
export type { Buffer, Plan, PlannerName, PlannerOptions, PlannerResult } from './types';
export { lowerBound } from './lower-bound';
export { validate, assertValid, type Violation, type ValidateOptions } from './validate';
export {
  parseInstanceCsv,
  writeInstanceCsv,
  writeOffsetsCsv,
  capacityFromName,
  parseInstanceColumns,
  offsetsCsvBytes,
  InstanceParser,
  type Instance,
  type InstanceColumns,
} from './instance-csv';
export { prepare, prepareColumns, type Prepared, type PlannerInput } from './portfolio';

import type { PlannerName, PlannerOptions, PlannerResult } from './types';
import { runPlanner, type PlannerInput } from './portfolio';

/** Every planner by name. */
export const PLANNERS: Record<PlannerName, (buffers: PlannerInput, options?: PlannerOptions) => PlannerResult> = {
  'greedy-size': (b, o) => runPlanner('greedy-size', b, o),
  'greedy-breadth': (b, o) => runPlanner('greedy-breadth', b, o),
  'first-fit': (b, o) => runPlanner('first-fit', b, o),
  'best-fit': (b, o) => runPlanner('best-fit', b, o),
  exact: (b, o) => runPlanner('exact', b, o),
  all: (b, o) => runPlanner('all', b, o),
};

export const PLANNER_NAMES = Object.keys(PLANNERS) as PlannerName[];

export function isPlannerName(s: string): s is PlannerName {
  return Object.prototype.hasOwnProperty.call(PLANNERS, s);
}

/** Runs the planner `name`; throws on an unknown name. */
export function plan(name: string, buffers: PlannerInput, options: PlannerOptions = {}): PlannerResult {
  if (!isPlannerName(name)) throw new Error(`unknown planner '${name}'; expected one of ${PLANNER_NAMES.join(', ')}`);
  return PLANNERS[name](buffers, options);
}
