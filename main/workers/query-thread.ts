import { Worker } from 'node:worker_threads';
import { workerFile } from './host';
import { reviveError, type QueryAnswer, type QueryMessage, type QueryRequest } from './protocol';
import type { QueryWorkerData } from './query-worker';

/**
 * The main-thread side of query-worker.ts: one long-lived thread per database, started at
 * once (so the first chart does not wait for it), requests answered by id. If the thread dies
 * (a bug), the requests in flight fail with its error and the next request starts a new one.
 */
export class QueryThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(private readonly dbFile: string) {
    this.start();
  }

  request<T>(method: QueryRequest['method'], params: QueryRequest['params']): Promise<T> {
    const w = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.ref(); // an answer is awaited: keep the process alive for it
      w.postMessage({ type: 'query', id, method, params } as QueryMessage);
    });
  }

  /** Ends the thread (its connection closed first); requests in flight fail. */
  close(): void {
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    w.postMessage({ type: 'close' } satisfies QueryMessage);
    this.failAll(new Error('the query thread was closed'));
  }

  private start(): Worker {
    const w = new Worker(workerFile('query-worker'), { workerData: { dbFile: this.dbFile } satisfies QueryWorkerData });
    w.unref(); // an idle query thread never keeps the process alive
    w.on('message', (m: QueryAnswer) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.type === 'reply') p.resolve(m.value);
      else p.reject(reviveError(m.error));
    });
    const lost = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = null;
      this.failAll(err);
    };
    w.on('error', lost);
    w.on('exit', (code) => lost(new Error(`the query thread exited (code ${code})`)));
    this.worker = w;
    return w;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
