import type { DB } from './db';
import type { ReplayBuffer } from '../../shared/api';

/**
 * What storePlan needs of an iteration (main/plan/iteration.ts IterationInput is one): the
 * store declares it so that it imports nothing from main/plan (docs/ARCHITECTURE.md, layers).
 */
export interface IterationToStore {
  sessionId: number;
  iterationId: number;
  signature: string;
  sizeFloor: number;
  baselineSpanBytes: number;
  unplannable: { count: number; bytes: number };
  /** The planned buffers, parallel to the plan's offsets. */
  buffers: readonly { ordinal: number; allocationId: number; size: number; align?: number; start: number; end: number }[];
}

/** What storePlan needs of a plan (main/plan/types.ts PlannerResult is one). */
export interface PlanToStore {
  algorithm: string;
  arenaBytes: number;
  lowerBound: number;
  seconds: number;
  optimal: boolean;
  offsets: readonly number[];
}

/** A plan's membership of a plan set: the set and the iterations seen with its signature. */
export interface PlanSetMembership {
  setId: number;
  seen: number;
}

/** Stores one validated plan and its buffers; returns the plan id. */
export function storePlan(db: DB, input: IterationToStore, r: PlanToStore, isBest: boolean, set?: PlanSetMembership): number {
  return db.transaction(() => {
    const info = db
      .prepare(
        `INSERT INTO plans (session_id, iteration_id, algorithm, arena_bytes, lower_bound_bytes, baseline_span_bytes, seconds,
           optimal, is_best, buffers, unplannable_allocs, unplannable_bytes, signature, created_at, set_id, set_seen, size_floor)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        input.sessionId, input.iterationId, r.algorithm, r.arenaBytes, r.lowerBound, input.baselineSpanBytes, r.seconds,
        r.optimal ? 1 : 0, isBest ? 1 : 0, input.buffers.length, input.unplannable.count, input.unplannable.bytes,
        input.signature, new Date().toISOString(), set?.setId ?? null, set?.seen ?? null, input.sizeFloor,
      );
    const planId = Number(info.lastInsertRowid);
    const ins = db.prepare(
      `INSERT INTO plan_buffers (plan_id, ordinal, allocation_id, offset, size, align, start, end) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    input.buffers.forEach((b, i) => ins.run(planId, b.ordinal, b.allocationId, r.offsets[i], b.size, b.align ?? 1, b.start, b.end));
    return planId;
  })();
}

export interface StoredPlan {
  id: number;
  session_id: number;
  arena_bytes: number;
  signature: string;
  entries: { offset: number; size: number; align: number }[];
}

export function loadPlan(db: DB, planId: number): StoredPlan | null {
  const p = db.prepare(`SELECT id, session_id, arena_bytes, signature FROM plans WHERE id = ?`).get(planId) as Omit<StoredPlan, 'entries'> | undefined;
  if (!p) return null;
  const entries = db.prepare(`SELECT offset, size, align FROM plan_buffers WHERE plan_id = ? ORDER BY ordinal`).all(planId) as StoredPlan['entries'];
  return { ...p, entries };
}

/** A new, empty plan set of a session; returns its id. */
export function createPlanSet(db: DB, sessionId: number, algorithm: string): number {
  const info = db.prepare(`INSERT INTO plan_sets (session_id, algorithm, created_at) VALUES (?, ?, ?)`).run(sessionId, algorithm, new Date().toISOString());
  return Number(info.lastInsertRowid);
}

export interface PlanSetRow {
  id: number;
  session_id: number;
  algorithm: string;
  created_at: string;
  /** Its plans in set order (plans.id), each with the iteration it was made for. */
  plans: { plan_id: number; iteration_number: number; seen: number; arena_bytes: number; signature: string }[];
}

/** A plan set and its members, in set order; null when there is no such set. */
export function loadPlanSet(db: DB, setId: number): PlanSetRow | null {
  const s = db.prepare(`SELECT id, session_id, algorithm, created_at FROM plan_sets WHERE id = ?`).get(setId) as Omit<PlanSetRow, 'plans'> | undefined;
  if (!s) return null;
  const plans = db
    .prepare(
      `SELECT p.id AS plan_id, i.number AS iteration_number, coalesce(p.set_seen, 0) AS seen, p.arena_bytes, p.signature
       FROM plans p JOIN iterations i ON i.id = p.iteration_id WHERE p.set_id = ? ORDER BY p.id`,
    )
    .all(setId) as PlanSetRow['plans'];
  return { ...s, plans };
}

export interface PlanSetListRow {
  id: number;
  session_id: number;
  algorithm: string;
  created_at: string;
  /** Its plans in set order (plans.id). */
  plans: {
    plan_id: number;
    iteration_number: number;
    seen: number;
    signature: string;
    algorithm: string;
    buffers: number;
    arena_bytes: number;
    lower_bound_bytes: number;
  }[];
}

/** The plan sets of a session, newest first, with their plans (null: no such session). */
export function listPlanSets(db: DB, sessionId: number): PlanSetListRow[] | null {
  if (!db.prepare(`SELECT 1 FROM sessions WHERE id = ?`).get(sessionId)) return null;
  const sets = db
    .prepare(`SELECT id, session_id, algorithm, created_at FROM plan_sets WHERE session_id = ? ORDER BY id DESC`)
    .all(sessionId) as Omit<PlanSetListRow, 'plans'>[];
  const members = db.prepare(
    `SELECT p.id AS plan_id, i.number AS iteration_number, coalesce(p.set_seen, 0) AS seen, p.signature, p.algorithm, p.buffers,
            p.arena_bytes, p.lower_bound_bytes
     FROM plans p JOIN iterations i ON i.id = p.iteration_id WHERE p.set_id = ? ORDER BY p.id`,
  );
  return sets.map((s) => ({ ...s, plans: members.all(s.id) as PlanSetListRow['plans'] }));
}

/** The plans in each of the given sets (a replay of a set: its k). */
export function planSetSizes(db: DB, setIds: number[]): Map<number, number> {
  const out = new Map<number, number>();
  const q = db.prepare(`SELECT count(*) FROM plans WHERE set_id = ?`).pluck();
  for (const id of new Set(setIds)) out.set(id, q.get(id) as number);
  return out;
}

/** A stored plan as the app's plan list and the report's plan table show it. */
export interface PlanListRow {
  id: number;
  session_id: number;
  /** The number of the iteration planned (null only where its iterations row is gone). */
  iteration: number | null;
  algorithm: string;
  arena_bytes: number;
  lower_bound_bytes: number;
  baseline_span_bytes: number | null;
  seconds: number;
  optimal: number;
  is_best: number;
  buffers: number;
  unplannable_allocs: number;
  unplannable_bytes: number;
  created_at: string;
}

/** Every plan of a session, oldest first. */
export function sessionPlans(db: DB, sessionId: number): PlanListRow[] {
  return db
    .prepare(
      `SELECT p.id, p.session_id, i.number AS iteration, p.algorithm, p.arena_bytes, p.lower_bound_bytes, p.baseline_span_bytes, p.seconds,
              p.optimal, p.is_best, p.buffers, p.unplannable_allocs, p.unplannable_bytes, p.created_at
       FROM plans p LEFT JOIN iterations i ON i.id = p.iteration_id WHERE p.session_id = ? ORDER BY p.id`,
    )
    .all(sessionId) as PlanListRow[];
}

/** Whether the database holds plan `planId`. */
export function planExists(db: DB, planId: number): boolean {
  return db.prepare(`SELECT 1 FROM plans WHERE id = ?`).get(planId) !== undefined;
}

/** The session plan `planId` was made from (undefined: no such plan). */
export function planSessionId(db: DB, planId: number): number | undefined {
  return (db.prepare(`SELECT session_id FROM plans WHERE id = ?`).get(planId) as { session_id: number } | undefined)?.session_id;
}

/** Stores the plans of a plan set in one transaction: in a new set, or added to `growSetId`; returns the set and the plan ids. */
export function storePlanSet(
  db: DB,
  sessionId: number,
  algorithm: string,
  growSetId: number | undefined,
  members: readonly { input: IterationToStore; result: PlanToStore; seen: number }[],
): { setId: number; planIds: number[] } {
  return db.transaction(() => {
    const setId = growSetId !== undefined ? growSetId : createPlanSet(db, sessionId, algorithm);
    const planIds = members.map((m) => storePlan(db, m.input, m.result, true, { setId, seen: m.seen }));
    return { setId, planIds };
  })();
}

/** What a plan file needs of a stored plan: its session, arena, size floor and the number of its iteration (undefined: no such plan). */
export function planHeader(db: DB, planId: number): { id: number; session_id: number; arena_bytes: number; size_floor: number | null; number: number } | undefined {
  return db
    .prepare(
      `SELECT p.id, p.session_id, p.arena_bytes, p.size_floor, i.number FROM plans p
       JOIN iterations i ON i.id = p.iteration_id WHERE p.id = ?`,
    )
    .get(planId) as { id: number; session_id: number; arena_bytes: number; size_floor: number | null; number: number } | undefined;
}

/** The offset of each buffer of a plan, by ordinal (in the table's order). */
export function planOffsets(db: DB, planId: number): { ordinal: number; offset: number }[] {
  return db.prepare(`SELECT ordinal, offset FROM plan_buffers WHERE plan_id = ?`).all(planId) as { ordinal: number; offset: number }[];
}

/** A plan's buffers with the addresses the system allocator gave them when recorded, and their module and op, by ordinal. */
export function planBuffersWithAddresses(db: DB, planId: number): ReplayBuffer[] {
  return db
    .prepare(
      `SELECT pb.ordinal, pb.offset, pb.size, pb.start, pb.end, e.addr, coalesce(o.module, '') AS module, coalesce(o.op, '') AS op
       FROM plan_buffers pb JOIN allocations a ON a.id = pb.allocation_id JOIN events e ON e.id = a.alloc_event
       LEFT JOIN ops o ON o.id = e.scope
       WHERE pb.plan_id = ? ORDER BY pb.ordinal`,
    )
    .all(planId) as ReplayBuffer[];
}

/** A plan with the command and folder of the session it was made from (undefined: no such plan). */
export function planWithCommand(db: DB, planId: number): { session_id: number; command: string; cwd: string } | undefined {
  return db
    .prepare(`SELECT p.session_id, s.command, s.cwd FROM plans p JOIN sessions s ON s.id = p.session_id WHERE p.id = ?`)
    .get(planId) as { session_id: number; command: string; cwd: string } | undefined;
}
