import type { DB } from '../store/db';
import { UserError } from '../../shared/errors';
import { loadIteration, type IterationInput } from './iteration';
import type { PlanEntry, PlanFile } from './plan-file';

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

export function planFileFromDb(db: DB, planId: number): PlanFile & { sessionId: number } {
  const p = db
    .prepare(
      `SELECT p.id, p.session_id, p.arena_bytes, i.number FROM plans p
       JOIN iterations i ON i.id = p.iteration_id WHERE p.id = ?`,
    )
    .get(planId) as { id: number; session_id: number; arena_bytes: number; number: number } | undefined;
  if (!p) throw new UserError(`no plan ${planId} in this database`);
  const input = loadIteration(db, p.session_id, p.number);
  const rows = db.prepare(`SELECT ordinal, offset FROM plan_buffers WHERE plan_id = ?`).all(planId) as { ordinal: number; offset: number }[];
  return {
    planId,
    sessionId: p.session_id,
    arenaBytes: p.arena_bytes,
    signature: input.planSignature,
      sizeFloor: input.sizeFloor,
    entries: planEntries(input, new Map(rows.map((r) => [r.ordinal, r.offset]))),
  };
}
