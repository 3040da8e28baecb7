import type { DB } from '../store/db';
import { UserError } from '../../shared/errors';
import { loadPlanSet, planHeader, planOffsets } from '../store/plans';
import { loadIteration, type IterationInput } from './iteration';
import type { PlanEntry, PlanFile, PlanSetFile } from './plan-file';

/**
 * The plan file of a stored plan: every allocation of its iteration in order, the planned ones
 * with their offsets (docs/PLAN_FORMAT.md).
 */

/** Every allocation of the iteration, in order; the planned ones with their offsets. */
export function planEntries(input: IterationInput, offsetOf: ReadonlyMap<number, number>): PlanEntry[] {
  return input.sequence.map((a) => {
    const offset = offsetOf.get(a.ordinal);
    if (a.planned && offset === undefined) throw new Error(`plan has no offset for planned allocation ${a.ordinal}`);
    return { planned: a.planned, offset: a.planned ? offset! : 0, size: a.size, align: a.align };
  });
}

/** The plan file of a plan just made for the iteration (offsets parallel to input.buffers). */
export function planFileOf(input: IterationInput, planId: number, r: { arenaBytes: number; offsets: readonly number[] }): PlanFile {
  return {
    planId,
    arenaBytes: r.arenaBytes,
    signature: input.planSignature,
    sizeFloor: input.sizeFloor,
    entries: planEntries(input, new Map(input.buffers.map((b, i) => [b.ordinal, r.offsets[i]]))),
  };
}

export function planFileFromDb(db: DB, planId: number): PlanFile & { sessionId: number } {
  const p = planHeader(db, planId);
  if (!p) throw new UserError(`no plan ${planId} in this database`);
  const input = loadIteration(db, p.session_id, p.number, { sizeFloor: p.size_floor });
  const rows = planOffsets(db, planId);
  return {
    planId,
    sessionId: p.session_id,
    arenaBytes: p.arena_bytes,
    signature: input.planSignature,
    sizeFloor: input.sizeFloor,
    entries: planEntries(input, new Map(rows.map((r) => [r.ordinal, r.offset]))),
  };
}

/** `--plan set:ID` names a plan set of the database (memoplan plan --signatures all). */
export const PLAN_SET_PREFIX = 'set:';

/** The set id of a `set:ID` argument; null for anything else. */
export function parsePlanSetArg(arg: string): number | null {
  const m = /^set:(\d{1,15})$/.exec(arg);
  return m ? Number(m[1]) : null;
}

/** The version-3 set file of a stored plan set: its plans in set order (plans.id), key 0. */
export function planSetFileFromDb(db: DB, setId: number): PlanSetFile & { sessionId: number } {
  const set = loadPlanSet(db, setId);
  if (!set) throw new UserError(`no plan set ${setId} in this database`);
  if (set.plans.length === 0) throw new UserError(`plan set ${setId} has no plans left (they were deleted)`);
  const plans = set.plans.map((m) => {
    const p = planFileFromDb(db, m.plan_id);
    const plan: PlanFile = { planId: p.planId, arenaBytes: p.arenaBytes, signature: p.signature, sizeFloor: p.sizeFloor, entries: p.entries };
    return { plan, key: 0n, seen: m.seen };
  });
  return { setId, sessionId: set.session_id, sizeFloor: plans[0].plan.sizeFloor, plans };
}
