import { UserError } from '../../shared/errors';
import type { ApiEventName, ApiEvents, AttachInfo, AttachRequest } from '../../shared/api';
import { WorkerRun } from '../workers/host';
import type { AttachDone, AttachStarted, AttachWorkerData } from '../workers/attach-worker';

/**
 * Attaches from the UI (attach.start): attachProcess() (main/session/attach.ts) and the ingest
 * of the trace in a worker thread (attach-worker), to a process the processes list shows
 * (never an arbitrary pid). attach.stop detaches; the target keeps running.
 */

export interface AttachesContext {
  dbFile(): string;
  emit<E extends ApiEventName>(event: E, data: ApiEvents[E]): void;
  /** The next run id (recordings and attaches share one sequence). */
  nextRunId(): number;
  /** Why an attach cannot start now (a recording, an attach, a live replay or an A/B), or null. */
  busy(): string | null;
  /** Whether the processes list (main/api/processes.ts) shows this pid. */
  listed(pid: number): boolean;
}

interface Attach {
  runId: number;
  pid: number;
  /** 0 until attached. */
  sessionId: number;
  worker: WorkerRun<AttachDone>;
  /** Settles once what was recorded is stored (or storing failed). */
  done: Promise<void>;
}

export class Attaches {
  private readonly attaches = new Map<number, Attach>();

  constructor(private readonly ctx: AttachesContext) {}

  get active(): number {
    return this.attaches.size;
  }

  /** The sessions attaches record into (those attached so far). */
  sessionIds(): number[] {
    return [...this.attaches.values()].map((a) => a.sessionId).filter((id) => id > 0);
  }

  /** Why another run cannot start because of an attach, or null. */
  busy(): string | null {
    const a = [...this.attaches.values()][0];
    if (a) return a.sessionId ? `an attach to process ${a.pid} is recording (session ${a.sessionId}); detach it first` : `an attach to process ${a.pid} is starting; wait for it or detach it first`;
    return null;
  }

  async stop(runId: number): Promise<boolean> {
    const a = this.attaches.get(runId);
    if (!a) throw new UserError(`no attach ${runId} is running`);
    return (await a.worker.stop('SIGINT')) === true;
  }

  /** Detaches every attach (the targets keep running); the returned promises settle once what they recorded is stored. */
  detachAll(): Promise<void>[] {
    const pending = [...this.attaches.values()];
    for (const a of pending) void a.worker.stop('SIGINT');
    return pending.map((a) => a.done);
  }

  /**
   * Attaches to a process the processes list shows, in a worker thread that runs
   * attachProcess() and ingests the trace; resolves once attached. attach.ts's own refusals
   * (already attached, ptrace not allowed, exited) come back as user errors.
   */
  start(req: AttachRequest): Promise<AttachInfo> {
    const busy = this.ctx.busy();
    if (busy) throw new UserError(busy);
    if (!this.ctx.listed(req.pid)) {
      throw new UserError(`process ${req.pid} is not one of the local processes with torch loaded that memoplan can read (the Attach view's list); pick one from the list`);
    }
    const runId = this.ctx.nextRunId();
    const dbFile = this.ctx.dbFile();
    return new Promise<AttachInfo>((resolve, reject) => {
      let started = false;
      const worker = new WorkerRun<AttachDone>('attach-worker', { dbFile, runId, pid: req.pid, duration: req.duration } satisfies AttachWorkerData, {
        emit: (e, d) => this.ctx.emit(e, d),
        onStarted: (x) => {
          const s = x as AttachStarted;
          started = true;
          entry.sessionId = s.sessionId;
          this.ctx.emit('sessions.changed', { dbFile });
          resolve({ runId, sessionId: s.sessionId, pid: s.pid, notes: s.notes });
        },
      });
      const entry: Attach = { runId, pid: req.pid, sessionId: 0, worker, done: Promise.resolve() };
      this.attaches.set(runId, entry);
      entry.done = worker.done
        .then(
          (r) => {
            this.ctx.emit('attach.done', {
              runId, sessionId: entry.sessionId, pid: req.pid, error: null, events: r.events, iterations: r.iterations, targetExited: r.targetExited, detachedElsewhere: r.detachedElsewhere,
            });
          },
          (err: Error) => {
            if (!started) {
              reject(err);
              return;
            }
            this.ctx.emit('attach.done', {
              runId, sessionId: entry.sessionId, pid: req.pid, error: err.message, events: 0, iterations: 0, targetExited: false, detachedElsewhere: false,
            });
          },
        )
        .finally(() => {
          this.attaches.delete(runId);
          if (started) this.ctx.emit('sessions.changed', { dbFile });
        });
    });
  }
}
