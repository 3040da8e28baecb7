import path from 'node:path';
import { UserError } from '../../shared/errors';
import type { ApiEventName, ApiEvents, LaunchRequest, RecordingInfo } from '../../shared/api';
import { WorkerRun } from '../workers/host';
import type { RecordDone, RecordWorkerData, WorkerStarted } from '../workers/record-worker';
import { checkWorkload } from './launch-check';

/**
 * Recordings started from the UI (record.start): record() in a worker thread (record-worker),
 * which spawns the target and ingests its trace, so that the server keeps answering. One at a
 * time, and never beside an attach, a live replay or an A/B: they would measure each other.
 */

export interface RecordingsContext {
  dbFile(): string;
  emit<E extends ApiEventName>(event: E, data: ApiEvents[E]): void;
  /** The next run id (recordings and attaches share one sequence). */
  nextRunId(): number;
  /** Why an attach keeps a recording from starting, or null. */
  attachBusy(): string | null;
  /** Why a live replay or an A/B keeps a recording from starting, or null. */
  jobsBusy(): string | null;
}

interface Run {
  runId: number;
  sessionId: number;
  /** Signals the target (the worker that spawned it does); false once it has exited. */
  stop: (signal: 'SIGINT' | 'SIGTERM') => Promise<boolean>;
  /** Settles once the trace is stored (or storing failed). */
  done: Promise<void>;
}

export class Recordings {
  private readonly runs = new Map<number, Run>();
  /** A recording whose worker has not spawned the target yet (it already counts as running). */
  private startingRun: WorkerRun | null = null;

  constructor(private readonly ctx: RecordingsContext) {}

  /** Running and starting recordings. */
  get active(): number {
    return this.runs.size + (this.startingRun ? 1 : 0);
  }

  /** The sessions being recorded. */
  sessionIds(): number[] {
    return [...this.runs.values()].map((r) => r.sessionId);
  }

  /** Why another run (an attach, a live replay, an A/B) cannot start because of a recording, or null. */
  busy(): string | null {
    if (this.runs.size) return `a recording is running (session ${[...this.runs.values()][0].sessionId}); stop it first`;
    if (this.startingRun) return 'a recording is starting; stop it first';
    return null;
  }

  async stop(runId: number, signal: 'SIGINT' | 'SIGTERM'): Promise<boolean> {
    const run = this.runs.get(runId);
    if (!run) throw new UserError(`no recording ${runId} is running`);
    return run.stop(signal);
  }

  /** SIGTERM to every running target; the returned promises settle once their traces are stored. */
  stopAll(): Promise<void>[] {
    const pending = [...this.runs.values()];
    for (const r of pending) void r.stop('SIGTERM');
    return pending.map((r) => r.done);
  }

  /** Checks the launch form, then starts record() in a worker thread; resolves once the target is running. */
  start(req: LaunchRequest): Promise<RecordingInfo> {
    const attaching = this.ctx.attachBusy();
    if (attaching) throw new UserError(attaching);
    if (this.runs.size || this.startingRun) {
      const r = [...this.runs.values()][0];
      throw new UserError(r ? `a recording is already running (session ${r.sessionId}); stop it first` : 'a recording is already starting; stop it first');
    }
    const busy = this.ctx.jobsBusy();
    if (busy) throw new UserError(busy);
    const { cwd, script, python } = checkWorkload('record.start', req);
    const runId = this.ctx.nextRunId();
    const dbFile = this.ctx.dbFile();
    return new Promise<RecordingInfo>((resolve, reject) => {
      let started = false;
      let sessionId = 0;
      let exited = false;
      const worker = new WorkerRun<RecordDone>(
        'record-worker',
        {
          kind: 'record', dbFile, runId, command: [script, ...req.args], name: req.name?.trim() || path.basename(script), python, ops: req.ops ?? true, cwd,
          formCommand: [python ?? 'python3', script, ...req.args],
        } satisfies RecordWorkerData,
        {
          emit: (e, d) => this.ctx.emit(e, d),
          onExited: () => (exited = true),
          onStarted: (x) => {
            const s = x as WorkerStarted;
            started = true;
            sessionId = s.sessionId;
            this.startingRun = null;
            this.runs.set(runId, { runId, sessionId, stop: async (sig) => !exited && (await worker.stop(sig)) === true, done });
            this.ctx.emit('sessions.changed', { dbFile });
            resolve({ runId, sessionId, pid: s.pid, command: s.command, notes: s.notes });
          },
        },
      );
      this.startingRun = worker;
      const done: Promise<void> = worker.done
        .then(
          (r) => {
            this.ctx.emit('record.done', {
              runId, sessionId, exitCode: r.exitCode, signal: r.signal, error: null, events: r.events, iterations: r.iterations, stderrTail: r.stderrTail,
            });
          },
          (err: Error) => {
            if (!started) {
              reject(err);
              return;
            }
            this.ctx.emit('record.done', { runId, sessionId, exitCode: null, signal: null, error: err.message, events: 0, iterations: 0, stderrTail: '' });
          },
        )
        .finally(() => {
          if (this.startingRun === worker) this.startingRun = null;
          this.runs.delete(runId);
          if (started) this.ctx.emit('sessions.changed', { dbFile });
        });
    });
  }
}
