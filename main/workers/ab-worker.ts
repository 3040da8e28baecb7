import fs from 'node:fs';
import { workerData } from 'node:worker_threads';
import { analyze } from '../ab/analysis';
import { runAb } from '../ab/runner';
import type { RunSpec } from '../ab/spec';
import { storeProcess } from '../ab/store';
import { finishAbRun, loadAbRun, markAbRunInterrupted } from '../store/ab-runs';
import { openDatabase } from '../store/db';
import { emit, onStop, runTask } from './worker-side';

/**
 * An A/B (ab.start) in a worker thread: runs the processes (main/ab/runner.ts), stores each
 * result, finishes the run and checks that it can be analysed. A stop request ends it after
 * the process that runs now.
 */

export interface AbWorkerData {
  dbFile: string;
  jobId: number;
  abRunId: number;
  armIds: number[];
  spec: RunSpec;
}

export interface AbDone {
  status: string;
  error: string | null;
}

const { dbFile, jobId, abRunId, armIds, spec } = workerData as AbWorkerData;
let stop = false;
onStop(() => {
  const first = !stop;
  stop = true;
  return first;
});

runTask(async (): Promise<AbDone> => {
  const db = openDatabase(dbFile);
  const warned = new Set<number>();
  let status = 'complete';
  let error: string | null = null;
  try {
    const { results, stopped } = await runAb(spec, {
      shouldStop: () => stop,
      onStart: (p) =>
        emit('ab.progress', {
          jobId, abRunId, allocator: p.arm.allocator.name, threads: p.arm.threads, run: p.runIndex, runs: spec.runs, seq: p.seq, total: p.total,
          elapsedS: p.elapsedS, etaS: p.etaS,
        }),
      onResult: (r) => {
        storeProcess(db, abRunId, armIds[r.arm.index], r);
        emit('ab.result', {
          jobId, abRunId, allocator: r.arm.allocator.name, threads: r.arm.threads, run: r.runIndex, ok: r.ok, reason: r.reason,
          samples: r.samples.reduce((n, t) => n + t.length, 0),
        });
        if (r.ok && r.threadsSeen !== r.arm.threads && !warned.has(r.arm.index)) {
          warned.add(r.arm.index);
          emit('ab.note', {
            jobId, abRunId,
            message: `${r.arm.allocator.name} x${r.arm.threads}: the workload ran ${r.threadsSeen} serving thread(s), not ${r.arm.threads} (does it read MEMOPLAN_SERVING_THREADS?)`,
          });
        }
      },
    });
    const armStatus = spec.arms.map((a) => {
      const mine = results.filter((r) => r.arm.index === a.index);
      const ok = mine.some((r) => r.ok);
      return { armId: armIds[a.index], ok, reason: ok ? null : mine.length ? `every run failed; first: ${mine[0].reason}` : 'not run (interrupted)' };
    });
    status = stopped ? 'interrupted' : 'complete';
    finishAbRun(db, abRunId, stopped ? 'interrupted' : 'complete', armStatus);
    analyze(loadAbRun(db, abRunId)!); // fails here, not in the view, if the rows cannot be analysed
  } catch (err) {
    status = 'failed';
    error = (err as Error).message;
    try {
      markAbRunInterrupted(db, abRunId);
    } catch {
      /* keep the first error */
    }
  } finally {
    if (spec.plan?.tmpDir) fs.rmSync(spec.plan.tmpDir, { recursive: true, force: true });
    db.close();
  }
  return { status, error };
});
