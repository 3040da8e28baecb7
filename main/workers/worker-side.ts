import { parentPort } from 'node:worker_threads';
import type { ApiEventName, ApiEvents } from '../../shared/api';
import { serializeError, type FromWorker, type ToWorker } from './protocol';

/** The worker-thread side: post messages to the main thread, answer its requests, report the outcome once. */

function port() {
  if (!parentPort) throw new Error('this file runs as a worker thread (main/workers/host.ts starts it)');
  return parentPort;
}

export function post(m: FromWorker): void {
  port().postMessage(m);
}

export function emit<E extends ApiEventName>(event: E, data: ApiEvents[E]): void {
  post({ type: 'emit', event, data });
}

/** Answers each stop request with what `handler` returns. */
export function onStop(handler: (signal: 'SIGINT' | 'SIGTERM') => unknown): void {
  port().on('message', (m: ToWorker) => {
    if (m.type !== 'stop') return;
    let value: unknown = false;
    try {
      value = handler(m.signal);
    } catch {
      /* answered false */
    }
    post({ type: 'reply', id: m.id, value });
  });
}

/** Runs the task, posts its result or error, then lets the thread end. */
export function runTask(task: () => unknown): void {
  Promise.resolve()
    .then(task)
    .then(
      (result) => post({ type: 'done', result }),
      (err) => post({ type: 'error', error: serializeError(err) }),
    )
    .finally(() => {
      port().removeAllListeners('message');
      port().unref();
    });
}
