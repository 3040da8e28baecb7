import { UserError } from '../../shared/errors';
import type { DB } from '../store/db';
import { loadPlanSet, storePlanSet } from '../store/plans';
import { listIterations, type IterationListRow } from '../store/iterations';
import { plan, type PlannerName, type PlannerResult } from './index';
import { loadIteration, type IterationInput } from './iteration';
import { PLAN_SET_MAX_PLANS, writePlanSet, type PlanSetFile } from './plan-file';
import { planFileFromDb, planFileOf, planSetFileFromDb } from './plan-export';
import { planFigures } from './plan-session';

/**
 * `memoplan plan --signatures all`: one plan for every iteration signature of a recorded session
 * (batch sizes, sequence lengths), grouped as one plan set (plan_sets row) and optionally written
 * as a version-3 set file (docs/PLAN_FORMAT.md "Plan sets").
 *
 * A signature is planned when it repeats (steady state): the first iteration of a thread, and
 * the first run of each new shape, carry one-off caches and workspaces that later iterations
 * with the same input do not allocate, and their signatures are seen once. Planning those gave
 * plans no later iteration ran, whose batch-independent one-off allocations a never-recorded
 * shape could be mistaken for at run time. Signatures that are equal after the size floor
 * (IterationInput.planSignature) share one plan, their iterations counted together.
 */

/** Each plan's share of --time-limit is at least this many seconds. */
export const MIN_SECONDS_PER_PLAN = 0.5;

export interface PlanSetOptions {
  algorithm: PlannerName;
  /** For the whole set: each plan gets timeLimitSeconds / plans, at least MIN_SECONDS_PER_PLAN. */
  timeLimitSeconds: number;
  /** Version-3 set file for the interposer (with growSet: the whole grown set). */
  out?: string;
  /**
   * Grow this stored set instead of making a new one: plan the session's repeating signatures
   * that no plan of the set has (a replay's unplanned shapes), with the set's size floor, and
   * add them to it.
   */
  growSet?: number;
}

export interface PlanSetPlanRow {
  plan_id: number;
  /** The plan's signature (after the size floor): the one in the set file. */
  signature: string;
  /** The iteration signatures (as stored, no floor) this plan serves. */
  iteration_signatures: string[];
  /** Iterations of the recording with this signature. */
  iterations_seen: number;
  /** The iteration planned. */
  iteration: number;
  buffers: number;
  unplannable_allocs: number;
  algorithm: string;
  arena_bytes: number;
  lower_bound_bytes: number;
  ratio: number;
  seconds: number;
  optimal: boolean;
}

export interface PlanSetLeftOut {
  signature: string;
  iterations: number;
  reason: string;
}

export interface PlanSetOutcome {
  session: number;
  set_id: number;
  algorithm: string;
  size_floor: number;
  seconds_per_plan: number;
  /** Set in growSet mode: the plans the set had before (plans lists the ones added). */
  grown_from: number | null;
  /** In set order (the set file's directory order). */
  plans: PlanSetPlanRow[];
  left_out: PlanSetLeftOut[];
  out: string | null;
}

interface Candidate {
  input: IterationInput;
  iterationSignatures: string[];
  seen: number;
  /** Position of its first iteration in the session, for a stable order. */
  first: number;
}

export function planSessionSet(db: DB, sessionId: number, o: PlanSetOptions): PlanSetOutcome {
  const rows = listIterations(db, sessionId);
  if (rows === null) throw new UserError(`no session ${sessionId} in this database`);
  // Growing: the set's floor, and the plan signatures it has already.
  let grow: { setId: number; floor: number; has: Set<string>; count: number } | null = null;
  if (o.growSet !== undefined) {
    const set = loadPlanSet(db, o.growSet);
    if (!set) throw new UserError(`no plan set ${o.growSet} in this database`);
    if (set.plans.length === 0) throw new UserError(`plan set ${o.growSet} has no plans left (they were deleted): plan the session afresh`);
    const members = set.plans.map((m) => planFileFromDb(db, m.plan_id));
    grow = { setId: o.growSet, floor: members[0].sizeFloor, has: new Set(members.map((m) => m.signature)), count: members.length };
  }
  // A thread's first iteration (complete or not) is the one that fills its one-off caches.
  const firstOfThread = new Set<number>();
  const threadsSeen = new Set<number>();
  for (const r of rows) {
    if (!threadsSeen.has(r.thread_id)) {
      threadsSeen.add(r.thread_id);
      firstOfThread.add(r.id);
    }
  }
  const complete = rows.filter((r) => r.end_seq !== null && r.signature !== null);
  if (complete.length === 0) {
    throw new UserError(
      `session ${sessionId} has no complete iteration (the agent marks each top-level forward(); scripts can use memoplan_agent.iteration())`,
    );
  }
  // loadIteration finds an iteration by number (the first complete one so numbered).
  const byNumber = new Map<number, number>();
  for (const r of [...complete].sort((a, b) => a.number - b.number || a.id - b.id)) if (!byNumber.has(r.number)) byNumber.set(r.number, r.id);

  const groups = new Map<string, IterationListRow[]>();
  for (const r of complete) {
    const g = groups.get(r.signature!);
    if (g) g.push(r);
    else groups.set(r.signature!, [r]);
  }
  const leftOut: PlanSetLeftOut[] = [];
  const loaded: { input: IterationInput; signature: string; seen: number; first: number }[] = [];
  let position = 0;
  for (const [signature, its] of groups) {
    const first = position++;
    const later = its.filter((r) => !firstOfThread.has(r.id));
    if (its.length < 2) {
      leftOut.push({
        signature,
        iterations: its.length,
        reason: later.length === 0
          ? "seen once, as its thread's first iteration (one-off caches and workspaces)"
          : "seen once (a shape's first run carries one-off caches; record it at least twice to plan it)",
      });
      continue;
    }
    // Plan an iteration that is not its thread's first where there is one.
    const pick = [...later, ...its].find((r) => byNumber.get(r.number) === r.id);
    if (!pick) {
      leftOut.push({ signature, iterations: its.length, reason: 'its iterations share their numbers with earlier ones (several processes?) and cannot be loaded' });
      continue;
    }
    const input = loadIteration(db, sessionId, pick.number, grow ? { sizeFloor: grow.floor } : {});
    if (grow?.has.has(input.planSignature)) {
      leftOut.push({ signature, iterations: its.length, reason: `plan set ${grow.setId} has a plan for it already` });
      continue;
    }
    if (input.buffers.length === 0) {
      leftOut.push({ signature, iterations: its.length, reason: 'no allocation is freed within the iteration: nothing to plan' });
      continue;
    }
    loaded.push({ input, signature, seen: its.length, first });
  }

  // One size floor for the set: an iteration whose own floor differs has nothing above it to plan.
  const sizeFloor = Math.max(0, ...loaded.map((l) => l.input.sizeFloor));
  const byPlanSignature = new Map<string, Candidate>();
  for (const l of loaded) {
    if (l.input.sizeFloor !== sizeFloor) {
      leftOut.push({ signature: l.signature, iterations: l.seen, reason: `no allocation above the size floor of ${sizeFloor} bytes is freed within it: nothing to plan` });
      continue;
    }
    const c = byPlanSignature.get(l.input.planSignature);
    if (!c) byPlanSignature.set(l.input.planSignature, { input: l.input, iterationSignatures: [l.signature], seen: l.seen, first: l.first });
    else {
      // Equal after the size floor: one plan, made from the iteration seen more often.
      c.iterationSignatures.push(l.signature);
      if (l.seen > c.seen) c.input = l.input;
      c.seen += l.seen;
    }
  }
  let candidates = [...byPlanSignature.values()].sort((a, b) => b.seen - a.seen || a.first - b.first);
  const room = PLAN_SET_MAX_PLANS - (grow?.count ?? 0);
  if (candidates.length > room) {
    for (const c of candidates.slice(room)) {
      for (const s of c.iterationSignatures) leftOut.push({ signature: s, iterations: c.seen, reason: `a plan set holds at most ${PLAN_SET_MAX_PLANS} plans: the least seen are left out` });
    }
    candidates = candidates.slice(0, Math.max(0, room));
  }
  if (candidates.length === 0) {
    const why = leftOut.map((l) => `${l.signature} (${l.iterations} iteration${l.iterations === 1 ? '' : 's'}): ${l.reason}`).join('; ');
    throw new UserError(`nothing ${grow ? `to add to plan set ${grow.setId} from` : 'to plan in'} session ${sessionId}: ${why}`);
  }

  const secondsPerPlan = Math.max(MIN_SECONDS_PER_PLAN, o.timeLimitSeconds / candidates.length);
  const results: PlannerResult[] = candidates.map((c) => {
    const r = plan(o.algorithm, c.input.buffers, { timeLimitSeconds: secondsPerPlan });
    const winner = r.algorithm.replace(/^all:/, '');
    // The winner alone is stored: the set's plans are its members, one per signature.
    return (r.perPlanner ?? [r]).find((p) => p.algorithm === winner) ?? r;
  });
  const { setId, planIds } = storePlanSet(
    db,
    sessionId,
    o.algorithm,
    grow ? grow.setId : undefined,
    candidates.map((c, i) => ({ input: c.input, result: results[i], seen: c.seen })),
  );

  const plans: PlanSetPlanRow[] = candidates.map((c, i) => {
    const r = results[i];
    return {
      plan_id: planIds[i],
      signature: c.input.planSignature,
      iteration_signatures: c.iterationSignatures,
      iterations_seen: c.seen,
      iteration: c.input.number,
      buffers: c.input.buffers.length,
      unplannable_allocs: c.input.unplannable.count,
      ...planFigures(r),
    };
  });
  if (o.out && grow) {
    const { sessionId: _, ...file } = planSetFileFromDb(db, setId);
    writePlanSet(o.out, file);
  } else if (o.out) {
    writePlanSet(o.out, {
      setId,
      sizeFloor,
      plans: candidates.map((c, i) => ({
        plan: planFileOf(c.input, planIds[i], results[i]),
        key: 0n,
        seen: c.seen,
      })),
    } satisfies PlanSetFile);
  }
  return {
    session: sessionId,
    set_id: setId,
    algorithm: o.algorithm,
    size_floor: sizeFloor,
    seconds_per_plan: secondsPerPlan,
    grown_from: grow ? grow.count : null,
    plans,
    left_out: leftOut,
    out: o.out ?? null,
  };
}
