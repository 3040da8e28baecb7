import { UserError } from '../../shared/errors';
import type { PlanSetInfo, PlanSetLeftOutInfo, PlanSetMemberInfo } from '../../shared/api';
import type { DB } from '../store/db';
import { listPlanSets, loadPlanSet, type PlanSetListRow } from '../store/plans';
import { listIterations, type IterationListRow } from '../store/iterations';
import { PLAN_SET_MAX_PLANS } from './plan-file';
import type { PlanSetOutcome } from './plan-set';

/**
 * Plan sets as the app and the report show them (shared/api.ts PlanSetInfo): from a planning
 * run's outcome (plan.run with signatures 'all': its own left-out reasons), or listed from the
 * store afterwards. The left-out reasons are not stored: a listing derives them from the
 * recording's iterations (which signatures have no plan of the set, and whether they repeat).
 */

const ratio = (arena: number, bound: number) => (bound === 0 ? 1 : arena / bound);

/** The reply of plan.run with signatures 'all', for the set as stored (`db`: its creation time and each plan's iteration signature). */
export function planSetInfoFromOutcome(db: DB, o: PlanSetOutcome): PlanSetInfo {
  const stored = loadPlanSet(db, o.set_id);
  const storedSignature = new Map(stored?.plans.map((p) => [p.plan_id, p.signature]));
  return {
    setId: o.set_id,
    session: o.session,
    algorithm: o.algorithm,
    createdAt: stored?.created_at ?? new Date().toISOString(),
    sizeFloor: o.size_floor,
    plans: o.plans.map((p) => ({
      planId: p.plan_id,
      signature: storedSignature.get(p.plan_id) ?? p.iteration_signatures[0],
      planSignature: p.signature,
      iterationSignatures: p.iteration_signatures,
      iterationsSeen: p.iterations_seen,
      iteration: p.iteration,
      shapeKey: null,
      algorithm: p.algorithm,
      buffers: p.buffers,
      arenaBytes: p.arena_bytes,
      lowerBoundBytes: p.lower_bound_bytes,
      ratio: p.ratio,
    })),
    leftOut: o.left_out.map((l) => ({ signature: l.signature, iterations: l.iterations, reason: l.reason })),
    leftOutFrom: 'planning',
  };
}

/** The session's plan sets, newest first (plan.sets, the report). */
export function listPlanSetInfo(db: DB, sessionId: number): PlanSetInfo[] {
  const sets = listPlanSets(db, sessionId);
  if (sets === null) throw new UserError(`no session ${sessionId} in this database`);
  if (!sets.length) return [];
  const iterations = listIterations(db, sessionId) ?? [];
  return sets.map((s) => toInfo(s, iterations));
}

function toInfo(s: PlanSetListRow, iterations: IterationListRow[]): PlanSetInfo {
  const plans: PlanSetMemberInfo[] = s.plans.map((p) => ({
    planId: p.plan_id,
    signature: p.signature,
    planSignature: null,
    iterationSignatures: [p.signature],
    iterationsSeen: p.seen,
    iteration: p.iteration_number,
    shapeKey: null,
    algorithm: p.algorithm,
    buffers: p.buffers,
    arenaBytes: p.arena_bytes,
    lowerBoundBytes: p.lower_bound_bytes,
    ratio: ratio(p.arena_bytes, p.lower_bound_bytes),
  }));
  return {
    setId: s.id,
    session: s.session_id,
    algorithm: s.algorithm,
    createdAt: s.created_at,
    sizeFloor: null,
    plans,
    leftOut: derivedLeftOut(plans, iterations),
    leftOutFrom: 'recording',
  };
}

/**
 * The recorded signatures no plan of the set was made from, with the reason planSessionSet
 * gives where the recording alone tells it (seen once), else the reasons it could have had.
 */
function derivedLeftOut(plans: PlanSetMemberInfo[], iterations: IterationListRow[]): PlanSetLeftOutInfo[] {
  const firstOfThread = new Set<number>();
  const threads = new Set<number>();
  for (const r of iterations) {
    if (threads.has(r.thread_id)) continue;
    threads.add(r.thread_id);
    firstOfThread.add(r.id);
  }
  const groups = new Map<string, IterationListRow[]>();
  for (const r of iterations) {
    if (r.end_seq === null || r.signature === null) continue;
    const g = groups.get(r.signature);
    if (g) g.push(r);
    else groups.set(r.signature, [r]);
  }
  const planned = new Set(plans.map((p) => p.signature));
  // A plan serves more iterations than its own signature has when signatures equal above the size floor were merged into it.
  const merged = plans.some((p) => p.iterationsSeen > (groups.get(p.signature)?.length ?? 0));
  const out: PlanSetLeftOutInfo[] = [];
  for (const [signature, its] of groups) {
    if (planned.has(signature)) continue;
    let reason: string;
    if (its.length < 2) {
      reason = its.every((r) => firstOfThread.has(r.id))
        ? "seen once, as its thread's first iteration (one-off caches and workspaces)"
        : 'seen once (a shape\'s first run carries one-off caches; record it at least twice to plan it)';
    } else {
      const why = ['nothing above the size floor is freed within it'];
      if (merged) why.unshift('it equals a planned signature above the size floor (that plan serves it)');
      if (plans.length >= PLAN_SET_MAX_PLANS) why.push(`the set's limit of ${PLAN_SET_MAX_PLANS} plans`);
      reason = `repeats, but has no plan of its own: ${why.join(', or ')}`;
    }
    out.push({ signature, iterations: its.length, reason });
  }
  return out;
}
