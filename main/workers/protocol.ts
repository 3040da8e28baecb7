import type { ApiEventName, ApiEvents } from '../../shared/api';
import { UserError } from '../../shared/errors';
import { ApiInputError } from '../api/validate';

/**
 * Messages between ApiService (main thread) and the worker threads that run its heavy calls
 * (main/workers/*-worker.ts): planning, recording / live replay, A/B, session deletion. Each
 * worker opens its own better-sqlite3 connection (WAL lets readers and one writer share the file).
 *
 * A worker posts pushed events ready to forward ('emit'), 'started' once a target runs, the
 * result ('done') or its error ('error', serialized so that UserError / ApiInputError keep their
 * kind on the wire). The main thread posts requests ('stop') that the worker answers ('reply').
 */

export interface SerializedError {
  kind: 'user' | 'input' | 'internal';
  name: string;
  message: string;
  stack?: string;
  unsupported?: boolean;
  exitCode?: number;
}

export type FromWorker =
  | { type: 'emit'; event: ApiEventName; data: ApiEvents[ApiEventName] }
  | { type: 'started'; info: unknown }
  /** The target process of a recording has exited (a stop request is then answered here: nothing to signal). */
  | { type: 'exited' }
  | { type: 'done'; result: unknown }
  | { type: 'error'; error: SerializedError }
  | { type: 'reply'; id: number; value: unknown };

export type ToWorker = { type: 'stop'; id: number; signal: 'SIGINT' | 'SIGTERM' };

/** A read query for the long-lived query thread (query-worker.ts), answered by id. */
export type QueryRequest =
  | { type: 'query'; id: number; method: 'overview.timeline'; params: { session: number; t0?: number; t1?: number; points?: number } }
  | { type: 'query'; id: number; method: 'overview.live'; params: { session: number; t?: number; iteration?: number; limit?: number } }
  | { type: 'query'; id: number; method: 'overview.top'; params: { session: number; by: 'op' | 'module'; limit?: number; t0?: number; t1?: number } };
export type QueryMessage = QueryRequest | { type: 'close' };
export type QueryAnswer = { type: 'reply'; id: number; value: unknown } | { type: 'reply-error'; id: number; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  const e = err as Error & { unsupported?: boolean; exitCode?: number };
  if (err instanceof ApiInputError) return { kind: 'input', name: e.name, message: e.message };
  if (err instanceof UserError) return { kind: 'user', name: e.name, message: e.message, unsupported: e.unsupported, exitCode: e.exitCode };
  return { kind: 'internal', name: e?.name ?? 'Error', message: e?.message ?? String(err), stack: e?.stack };
}

/** The error as the main thread's errorInfo() classifies it: UserError, ApiInputError, or a bug. */
export function reviveError(s: SerializedError): Error {
  if (s.kind === 'input') return new ApiInputError(s.message);
  if (s.kind === 'user') {
    const u = new UserError(s.message, s.exitCode);
    if (s.unsupported) (u as UserError & { unsupported?: boolean }).unsupported = true;
    return u;
  }
  const e = new Error(s.message);
  e.name = s.name;
  if (s.stack) e.stack = s.stack;
  return e;
}
