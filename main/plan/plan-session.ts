import { writeFileAtomic } from '../fs/files';
import { UserError } from '../../shared/errors';
import type { PlanRow } from '../../shared/types';
import type { DB } from '../store/db';
import { storePlan } from '../store/plans';
import { plan, writeOffsetsCsv, type PlannerName, type PlannerResult } from './index';
import { loadIteration, type IterationInput } from './iteration';
import { writePlanFile } from './plan-file';
import { planFileOf } from './plan-export';

/**
 * Planning one iteration of a recorded session: pick the iteration, run the planner(s), store
 * every plan (the winner marked best), optionally write the plan file and the offsets CSV.
 * `memoplan plan --session` and the UI's plan.run both call this.
 */

export interface SessionPlanOptions {
  algorithm: PlannerName;
  /** Iteration number; absent = the first steady-state one (plan/iteration.ts). */
  iteration?: number;
  timeLimitSeconds: number;
  /** Plan file for the interposer. */
  out?: string;
  /** id,lower,upper,size,offset CSV of the best plan. */
  offsets?: string;
}

export interface SessionPlanRow extends PlanRow {
  session: number;
  iteration: number;
  buffers: number;
  baseline_span_bytes: number;
  unplannable_allocs: number;
  unplannable_bytes: number;
}

export interface SessionPlanOutcome {
  input: IterationInput;
  result: PlannerResult;
  rows: SessionPlanRow[];
  best: SessionPlanRow;
}

export function planSession(db: DB, sessionId: number, o: SessionPlanOptions): SessionPlanOutcome {
  const input = loadIteration(db, sessionId, o.iteration);
  if (input.buffers.length === 0) throw new UserError(`iteration ${input.number} of session ${sessionId} has no allocation freed within it: nothing to plan`);
  const result = plan(o.algorithm, input.buffers, { timeLimitSeconds: o.timeLimitSeconds });
  const winner = result.algorithm.replace(/^all:/, '');
  const each = result.perPlanner ?? [result];
  const ids = each.map((r) => storePlan(db, input, r, r.algorithm === winner));
  const rows: SessionPlanRow[] = toRows(result, ids).map((r) => ({
    ...r,
    session: sessionId,
    iteration: input.number,
    buffers: input.buffers.length,
    baseline_span_bytes: input.baselineSpanBytes,
    unplannable_allocs: input.unplannable.count,
    unplannable_bytes: input.unplannable.bytes,
  }));
  const best = rows.find((r) => r.best)!;
  if (o.out) {
    writePlanFile(o.out, planFileOf(input, best.plan_id!, result));
  }
  if (o.offsets) writeFileAtomic(o.offsets, writeOffsetsCsv(input.buffers, result.offsets), 'offsets CSV');
  return { input, result, rows, best };
}

export function toRows(result: PlannerResult, planIds: (number | null)[] | null): PlanRow[] {
  const each = result.perPlanner ?? [result];
  return each.map((r, i) => ({
    plan_id: planIds ? planIds[i] : null,
    ...planFigures(r),
    best: r.algorithm === result.algorithm.replace(/^all:/, ''),
  }));
}

/** What a table row says of one planner's result: its arena against the lower bound. */
export function planFigures(r: PlannerResult): Pick<PlanRow, 'algorithm' | 'arena_bytes' | 'lower_bound_bytes' | 'ratio' | 'seconds' | 'optimal'> {
  return {
    algorithm: r.algorithm,
    arena_bytes: r.arenaBytes,
    lower_bound_bytes: r.lowerBound,
    ratio: r.lowerBound === 0 ? 1 : r.arenaBytes / r.lowerBound,
    seconds: r.seconds,
    optimal: r.optimal,
  };
}
