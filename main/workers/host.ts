import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ApiEventName, ApiEvents } from '../../shared/api';
import { reviveError, type FromWorker, type ToWorker } from './protocol';

/**
 * The main-thread side of one worker run: starts dist/main/workers/<name>.js (resolved next to
 * this file), forwards its pushed events, and settles `done` with its result or its error.
 */

export type WorkerName = 'plan-worker' | 'record-worker' | 'ab-worker' | 'delete-worker' | 'attach-worker' | 'query-worker';

/** The compiled worker entry beside this file (packaged apps ship without asar: electron-builder.yml). */
export function workerFile(name: WorkerName): string {
  return path.join(__dirname, `${name}.js`);
}

export interface WorkerRunOptions {
  emit?: <E extends ApiEventName>(event: E, data: ApiEvents[E]) => void;
  onStarted?: (info: unknown) => void;
  onExited?: () => void;
}

export class WorkerRun<R = unknown> {
  readonly done: Promise<R>;
  private readonly worker: Worker;
  private settled = false;
  private nextRequest = 1;
  private readonly pending = new Map<number, (v: unknown) => void>();

  constructor(name: WorkerName, workerData: unknown, o: WorkerRunOptions = {}) {
    this.worker = new Worker(workerFile(name), { workerData });
    this.done = new Promise<R>((resolve, reject) => {
      const settle = (f: () => void) => {
        if (this.settled) return;
        this.settled = true;
        for (const p of this.pending.values()) p(undefined);
        this.pending.clear();
        f();
      };
      this.worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'emit':
            o.emit?.(m.event, m.data as never);
            break;
          case 'started':
            o.onStarted?.(m.info);
            break;
          case 'exited':
            o.onExited?.();
            break;
          case 'reply': {
            const p = this.pending.get(m.id);
            this.pending.delete(m.id);
            p?.(m.value);
            break;
          }
          case 'done':
            settle(() => resolve(m.result as R));
            break;
          case 'error':
            settle(() => reject(reviveError(m.error)));
            break;
        }
      });
      // An uncaught exception in the worker, or it ended without an answer: a bug.
      this.worker.on('error', (err) => settle(() => reject(err)));
      this.worker.on('exit', (code) => settle(() => reject(new Error(`the ${name} thread exited (code ${code}) without a result`))));
    });
    this.done.catch(() => undefined); // the owner handles it; never an unhandled rejection
  }

  /** Sends a stop request; resolves with the worker's answer (undefined once the worker has ended). */
  stop(signal: 'SIGINT' | 'SIGTERM'): Promise<unknown> {
    if (this.settled) return Promise.resolve(undefined);
    const id = this.nextRequest++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ type: 'stop', id, signal } satisfies ToWorker);
    });
  }

  /** Ends the thread now (its result is no longer wanted). */
  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}
