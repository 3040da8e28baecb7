import type { WorkerRun } from '../workers/host';

/**
 * plan.run and sessions.delete calls in flight, each in its worker thread (plan-worker,
 * delete-worker), tracked so that the service can refuse to switch databases while one runs and
 * close() can end or wait for them.
 */
export class Tasks {
  private readonly tasks = new Set<{ kind: 'plan' | 'delete'; run: WorkerRun }>();

  get size(): number {
    return this.tasks.size;
  }

  /** Waits for one call's worker, tracked while it runs. */
  async run<R>(kind: 'plan' | 'delete', run: WorkerRun<R>): Promise<R> {
    const t = { kind, run: run as WorkerRun };
    this.tasks.add(t);
    try {
      return await run.done;
    } finally {
      this.tasks.delete(t);
    }
  }

  /** Ends the plans being computed (not wanted any more) and leaves deletions to finish; settles once all are over. */
  endAll(): Promise<unknown>[] {
    const tasks = [...this.tasks];
    for (const t of tasks) if (t.kind === 'plan') void t.run.terminate();
    return tasks.map((t) => t.run.done.catch(() => undefined));
  }
}
