import { workerData } from 'node:worker_threads';
import type { PlanRunReply, PlanRunRequest, PlanSetRunReply } from '../../shared/api';
import { planSession } from '../plan/plan-session';
import { planSessionSet } from '../plan/plan-set';
import { planSetInfoFromOutcome } from '../plan/plan-set-info';
import { openDatabase } from '../store/db';
import { runTask } from './worker-side';

/**
 * plan.run in a worker thread on its own connection: planSession (one iteration) answering a
 * PlanRunReply, or with signatures 'all' planSessionSet (a plan set) answering a PlanSetRunReply.
 */

export interface PlanWorkerData {
  dbFile: string;
  req: PlanRunRequest;
}

const { dbFile, req: r } = workerData as PlanWorkerData;

runTask((): PlanRunReply | PlanSetRunReply => {
  const db = openDatabase(dbFile);
  try {
    if (r.signatures === 'all') {
      const out = planSessionSet(db, r.session, { algorithm: r.algorithm, timeLimitSeconds: r.timeLimit ?? 2 });
      return { session: r.session, set: planSetInfoFromOutcome(db, out) };
    }
    const out = planSession(db, r.session, { algorithm: r.algorithm, iteration: r.iteration, timeLimitSeconds: r.timeLimit ?? 2 });
    return {
      session: r.session,
      iteration: out.input.number,
      because: out.input.chosenBecause,
      buffers: out.input.buffers.length,
      rows: out.rows.map((x) => ({
        plan_id: x.plan_id, algorithm: x.algorithm, arena_bytes: x.arena_bytes, lower_bound_bytes: x.lower_bound_bytes, ratio: x.ratio,
        seconds: x.seconds, optimal: x.optimal, best: x.best, baseline_span_bytes: x.baseline_span_bytes,
      })),
    };
  } finally {
    db.close();
  }
});
