import type { DB } from './db';
import type { IterationInput } from '../plan/iteration';
import type { PlannerResult } from '../plan/types';

/** Stores one validated plan and its buffers; returns the plan id. */
export function storePlan(db: DB, input: IterationInput, r: PlannerResult, isBest: boolean): number {
  return db.transaction(() => {
    const info = db
      .prepare(
        `INSERT INTO plans (session_id, iteration_id, algorithm, arena_bytes, lower_bound_bytes, baseline_span_bytes, seconds,
           optimal, is_best, buffers, unplannable_allocs, unplannable_bytes, signature, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        input.sessionId, input.iterationId, r.algorithm, r.arenaBytes, r.lowerBound, input.baselineSpanBytes, r.seconds,
        r.optimal ? 1 : 0, isBest ? 1 : 0, input.buffers.length, input.unplannable.count, input.unplannable.bytes,
        input.signature, new Date().toISOString(),
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
