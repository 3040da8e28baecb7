import path from 'node:path';
import { UserError } from '../../shared/errors';
import {
  LIMITS,
  type ApiErrorInfo,
  type ApiEvent,
  type ApiEventName,
  type ApiEvents,
  type ApiMethod,
  type ApiMethods,
  type ApiReply,
  type ApiRequest,
  type ApiResponse,
  type AttachInfo,
  type AttachRequest,
  type LaunchRequest,
  type RecordingInfo,
  type ReplayState,
} from '../../shared/api';
import { openDatabase, type DB } from '../store/db';
import { getSession, listSessions, renameSession } from '../store/sessions';
import { loadStepper, type PlanStepper } from '../replay/step';
import { workloadsDir } from '../paths';
import { ApiInputError, isApiMethod, validateRequest } from './validate';
import * as q from './queries';
import { listAbRuns, getAbRun, getAbSweep } from './ab-queries';
import { discoverAllocators } from '../ab/allocators';
import { Exports, type Download, type SaveDialog } from './exports';
import { Jobs } from './jobs';
import { checkWorkload, formFromCommand } from './launch-check';
import { ProcessWatcher } from './processes';
import { AB_ALLOCATORS, type PlanRunReply, type PlanSetRunReply } from '../../shared/api';
import { listPlanSetInfo } from '../plan/plan-set-info';
import { WorkerRun } from '../workers/host';
import { QueryThread } from '../workers/query-thread';
import type { PlanWorkerData } from '../workers/plan-worker';
import type { DeleteWorkerData } from '../workers/delete-worker';
import type { RecordDone, RecordWorkerData, WorkerStarted } from '../workers/record-worker';
import type { AttachDone, AttachStarted, AttachWorkerData } from '../workers/attach-worker';
import { ENV } from '../../shared/env-vars';
import { replaySessionIds } from '../store/replays';
import { planWithCommand } from '../store/plans';

/**
 * The server side of shared/api.ts, independent of the transport: `call(method, params)`
 * validates, dispatches to a handler over the existing modules, and turns every outcome into an
 * ApiReply; `onEvent` streams pushed events. serve.ts (HTTP + WebSocket) and app.ts (Electron
 * IPC) are thin layers over one ApiService.
 *
 * Heavy calls run in worker threads (main/workers/), each on its own database connection, so
 * that this thread keeps answering: plan.run, recordings (the target is spawned and its trace
 * ingested by the worker), live replays and A/Bs (jobs.ts), sessions.delete, and the timeline
 * (a zoom may be summed from events: a long-lived query thread, query-thread.ts).
 */

export interface ApiServiceOptions {
  dbFile: string;
  /** Desktop only: shows an open dialog and returns the chosen file (null when cancelled). */
  pickDatabase?: () => Promise<string | null>;
  /** Desktop only: a save dialog for an export (null when cancelled). Over HTTP exports go to an exports/ folder. */
  pickSavePath?: SaveDialog;
}

interface Run {
  runId: number;
  sessionId: number;
  /** Signals the target (the worker that spawned it does); false once it has exited. */
  stop: (signal: 'SIGINT' | 'SIGTERM') => Promise<boolean>;
  /** Settles once the trace is stored (or storing failed). */
  done: Promise<void>;
}

type Handlers = { [M in ApiMethod]: (req: ApiRequest<M>) => ApiResponse<M> | Promise<ApiResponse<M>> };

export const EXAMPLE_ARGS = ['--model', 'resnet18', '--iterations', '3', '--warmup', '2'];
const STEPPER_CACHE = 4;

export class ApiService {
  private dbFileAbs: string;
  private dbConn: DB | null = null;
  private queryThread: QueryThread | null = null;
  /** A second query thread for the allocated-over-a-range sums (a second or more on millions of events), so that they never hold up the timeline. */
  private rangeThread: QueryThread | null = null;
  private readonly listeners = new Set<(e: ApiEvent) => void>();
  private readonly runs = new Map<number, Run>();
  /** A recording whose worker has not spawned the target yet (it already counts as running). */
  private startingRun: WorkerRun | null = null;
  /** Attaches from the UI (attach.start), each in its worker; `sessionId` is 0 until attached. */
  private readonly attaches = new Map<number, { runId: number; pid: number; sessionId: number; worker: WorkerRun<AttachDone>; done: Promise<void> }>();
  /** plan.run and sessions.delete calls in flight, each in its worker. */
  private readonly tasks = new Set<{ kind: 'plan' | 'delete'; run: WorkerRun }>();
  private nextRunId = 1;
  /** One stepper per plan, most recently used last. */
  private readonly steppers = new Map<number, PlanStepper>();
  private readonly jobs: Jobs;
  private readonly exports: Exports;
  private readonly processes: ProcessWatcher;

  constructor(private readonly opts: ApiServiceOptions) {
    this.dbFileAbs = path.resolve(opts.dbFile);
    // A database that cannot be used (not SQLite, someone else's, a newer schema) does not stop
    // the UI: sessions.list says why (dbError, shown in the Sessions view) and every call that
    // needs the database refuses with the same message. Each call tries to open it again.
    this.dbProblem();
    this.jobs = new Jobs({
      dbFile: () => this.dbFileAbs,
      emit: (e, d) => this.emit(e, d),
      recordingBusy: () => this.recordingBusy(),
    });
    this.exports = new Exports({ dbFile: () => this.dbFileAbs, db: () => this.db(), pickSavePath: opts.pickSavePath });
    this.processes = new ProcessWatcher((r) => this.emit('processes.changed', r));
  }

  /** Why a recording, a live replay or an A/B cannot start because of a recording or an attach, or null. */
  private recordingBusy(): string | null {
    if (this.runs.size) return `a recording is running (session ${[...this.runs.values()][0].sessionId}); stop it first`;
    if (this.startingRun) return 'a recording is starting; stop it first';
    const a = [...this.attaches.values()][0];
    if (a) return a.sessionId ? `an attach to process ${a.pid} is recording (session ${a.sessionId}); detach it first` : `an attach to process ${a.pid} is starting; wait for it or detach it first`;
    return null;
  }

  /** A file export.run registered for download (serve.ts /download/<id>), or null. */
  download(id: string): Download | null {
    return this.exports.download(id);
  }

  get dbFile(): string {
    return this.dbFileAbs;
  }

  onEvent(listener: (e: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit<E extends ApiEventName>(event: E, data: ApiEvents[E]): void {
    const e = { event, data } as ApiEvent;
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        /* a broken listener must not stop the others */
      }
    }
  }

  /** The open database; throws openDatabase's UserError (a readable reason) when it cannot be used. */
  private db(): DB {
    if (!this.dbConn) this.dbConn = openDatabase(this.dbFileAbs);
    return this.dbConn;
  }

  /** The query thread of the open database (started with its first use). */
  private queries(): QueryThread {
    this.db(); // a database that cannot be used says so here, as for every other call
    if (!this.queryThread) this.queryThread = new QueryThread(this.dbFileAbs);
    return this.queryThread;
  }

  /** The thread for overview.top (started with its first use). */
  private rangeQueries(): QueryThread {
    this.db();
    if (!this.rangeThread) this.rangeThread = new QueryThread(this.dbFileAbs);
    return this.rangeThread;
  }

  /** Why the database cannot be used, or null when it can. */
  dbProblem(): string | null {
    try {
      this.db();
      return null;
    } catch (err) {
      if (err instanceof UserError) return err.message;
      return `cannot open the database ${this.dbFileAbs}: ${(err as Error).message}`;
    }
  }

  /** Validates and runs one call; never throws. */
  async call(method: unknown, params: unknown): Promise<ApiReply> {
    try {
      if (!isApiMethod(method)) {
        return { ok: false, error: { kind: 'not-found', message: `unknown method ${JSON.stringify(String(method).slice(0, 60))}` } };
      }
      const req = validateRequest(method, params);
      const handler = this.handlers[method] as (r: unknown) => unknown;
      const result = await handler(req);
      return { ok: true, result };
    } catch (err) {
      return { ok: false, error: errorInfo(err) };
    }
  }

  /** Ends active recordings (SIGTERM to the targets), waits for their traces to be stored, closes the database. */
  async close(timeoutMs = 30_000): Promise<void> {
    this.processes.stop();
    const pending: { done: Promise<void> }[] = [...this.runs.values()];
    for (const r of this.runs.values()) void r.stop('SIGTERM');
    // An attach detaches (the target keeps running) and stores what it recorded.
    for (const a of this.attaches.values()) {
      void a.worker.stop('SIGINT');
      pending.push(a);
    }
    // A plan being computed is not wanted any more; a deletion is left to finish.
    const tasks = [...this.tasks];
    for (const t of tasks) if (t.kind === 'plan') void t.run.terminate();
    await Promise.all([
      Promise.race([
        Promise.all([...pending.map((r) => r.done), ...tasks.map((t) => t.run.done.catch(() => undefined))]),
        new Promise((res) => setTimeout(res, timeoutMs).unref()),
      ]),
      this.jobs.close(timeoutMs),
    ]);
    this.queryThread?.close();
    this.queryThread = null;
    this.rangeThread?.close();
    this.rangeThread = null;
    this.dbConn?.close();
    this.dbConn = null;
  }

  get activeRecordings(): number {
    return this.runs.size + (this.startingRun ? 1 : 0) + this.attaches.size + this.jobs.active;
  }

  /** Runs one call in a worker thread, tracked so that close() can wait for it or end it. */
  private async task<R>(kind: 'plan' | 'delete', run: WorkerRun<R>): Promise<R> {
    const t = { kind, run: run as WorkerRun };
    this.tasks.add(t);
    try {
      return await run.done;
    } finally {
      this.tasks.delete(t);
    }
  }

  private readonly handlers: Handlers = {
    'sessions.list': () => {
      const dbError = this.dbProblem();
      if (!dbError) this.queries(); // the first view opens next: its chart need not wait for the thread to start
      return {
        dbFile: this.dbFileAbs,
        canOpenDatabase: !!this.opts.pickDatabase,
        dbError,
        sessions: dbError ? [] : listSessions(this.db()),
        recording: [...[...this.runs.values()].map((r) => r.sessionId), ...[...this.attaches.values()].map((a) => a.sessionId).filter((id) => id > 0)],
        replays: dbError ? [] : replaySessionIds(this.db()),
      };
    },

    'sessions.rename': ({ id, name }) => {
      const clean = name.trim();
      if (!clean) throw new ApiInputError('sessions.rename: name must not be blank');
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f\u007f]/.test(clean)) throw new ApiInputError('sessions.rename: name must not contain control characters');
      if (renameSession(this.db(), id, clean) === 0) throw new UserError(`no session ${id} in this database`);
      this.emit('sessions.changed', { dbFile: this.dbFileAbs });
      return getSession(this.db(), id);
    },

    'sessions.delete': async ({ id }) => {
      if ([...this.runs.values(), ...this.attaches.values()].some((r) => r.sessionId === id)) throw new UserError(`session ${id} is being recorded; stop it first`);
      this.db(); // a database that cannot be used says so before a worker starts
      // A huge session takes seconds to delete: done on the worker's own connection.
      await this.task('delete', new WorkerRun('delete-worker', { dbFile: this.dbFileAbs, id } satisfies DeleteWorkerData));
      this.steppers.clear();
      this.emit('sessions.changed', { dbFile: this.dbFileAbs });
      return { deleted: id };
    },

    'db.open': async () => {
      if (!this.opts.pickDatabase) {
        const e = new UserError('opening another database needs the desktop app; restart memoplan serve with --db FILE');
        (e as UserError & { unsupported?: boolean }).unsupported = true;
        throw e;
      }
      if (this.runs.size || this.startingRun || this.attaches.size || this.jobs.active || this.tasks.size) throw new UserError('a recording, replay or A/B is running; stop it before opening another database');
      const file = await this.opts.pickDatabase();
      if (!file) return { dbFile: null };
      const next = openDatabase(file); // validates: SQLite, memoplan schema, not newer
      this.queryThread?.close();
      this.queryThread = null;
      this.rangeThread?.close();
      this.rangeThread = null;
      this.dbConn?.close();
      this.dbConn = next;
      this.dbFileAbs = path.resolve(file);
      this.steppers.clear();
      this.emit('sessions.changed', { dbFile: this.dbFileAbs });
      return { dbFile: this.dbFileAbs };
    },

    'record.defaults': () => ({
      exampleScript: path.join(workloadsDir(), 'torchvision_infer.py'),
      exampleArgs: EXAMPLE_ARGS,
      cwd: process.cwd(),
      interpreter: '',
    }),

    'record.start': (req) => this.startRecording(req),

    'record.stop': async ({ runId, signal }) => {
      const run = this.runs.get(runId);
      if (!run) throw new UserError(`no recording ${runId} is running`);
      return { sent: await run.stop(signal) };
    },

    'overview.timeline': (r) => {
      if (r.t0 !== undefined && r.t1 !== undefined && r.t1 < r.t0) throw new ApiInputError('overview.timeline: t1 must not be before t0');
      return this.queries().request('overview.timeline', { session: r.session, t0: r.t0, t1: r.t1, points: r.points });
    },
    'overview.top': (r) => {
      if (r.t0 !== undefined && r.t1 !== undefined && r.t1 < r.t0) throw new ApiInputError('overview.top: t1 must not be before t0');
      return this.rangeQueries().request('overview.top', { session: r.session, by: r.by, limit: r.limit, t0: r.t0, t1: r.t1 });
    },
    'overview.live': (r) => {
      if (r.t !== undefined && r.iteration !== undefined) throw new ApiInputError('overview.live: give t or iteration, not both');
      return this.queries().request('overview.live', { session: r.session, t: r.t, iteration: r.iteration, limit: r.limit });
    },
    'plan.iterations': (r) => q.iterations(this.db(), r.session),
    'plan.list': (r) => q.storedPlans(this.db(), r.session),

    'plan.run': (r) => {
      if (r.signatures === 'all' && r.iteration !== undefined) {
        throw new ApiInputError("plan.run: signatures 'all' plans every repeating signature of the session; give no iteration with it");
      }
      this.db(); // a database that cannot be used says so before a worker starts
      return this.task('plan', new WorkerRun<PlanRunReply | PlanSetRunReply>('plan-worker', { dbFile: this.dbFileAbs, req: r } satisfies PlanWorkerData));
    },
    'plan.sets': (r) => listPlanSetInfo(this.db(), r.session),

    'plan.map': (r) => q.memoryMap(this.db(), r.plan, r.maxRects ?? 4000),

    'replay.info': ({ plan }) => {
      const s = this.stepper(plan);
      // The event after which the most bytes are live: where the view opens.
      const delta = new Float64Array(s.events + 1);
      for (const x of s.buffers) {
        delta[x.start] += x.size;
        delta[x.end] -= x.size;
      }
      let live = 0;
      let best = -1;
      let peakEvent = 0;
      for (let k = 0; k < s.events; k++) {
        live += delta[k];
        if (live > best) [best, peakEvent] = [live, k];
      }
      return { plan, events: s.events, arenaBytes: s.arenaBytes, buffers: s.buffers.length, peakEvent, peakBytes: Math.max(0, best) };
    },

    'replay.at': ({ plan, k }): ReplayState => {
      const s = this.stepper(plan);
      if (k >= s.events) throw new ApiInputError(`replay.at: k must be in 0..${s.events - 1}, got ${k}`);
      const st = s.at(k);
      const live = st.live.length > LIMITS.replayLive ? [...st.live].sort((a, b) => b.size - a.size).slice(0, LIMITS.replayLive) : st.live;
      return {
        plan,
        k: st.k,
        events: st.events,
        event: st.event,
        liveCount: st.live.length,
        liveBytes: st.liveBytes,
        arenaHighWater: st.arenaHighWater,
        arenaBytes: st.arenaBytes,
        system: st.system,
        live: live.map((b) => ({ ordinal: b.ordinal, offset: b.offset, size: b.size, addr: b.addr, start: b.start, end: b.end, module: b.module, op: b.op })),
      };
    },

    'replay.live.defaults': ({ plan }) => {
      const p = planWithCommand(this.db(), plan);
      if (!p) throw new UserError(`no plan ${plan} in this database`);
      const command = JSON.parse(p.command) as string[];
      return { ...formFromCommand(command, p.cwd), plan, session: p.session_id, command };
    },
    'replay.live.start': (req) => {
      this.db();
      return this.jobs.startReplay(req);
    },
    'replay.live.stop': async ({ jobId, signal }) => ({ sent: await this.jobs.stopReplay(jobId, signal) }),

    'ab.allocators': () =>
      AB_ALLOCATORS.map((name) => {
        const d = discoverAllocators(name);
        const u = d.usable[0];
        return { name, usable: !!u, reason: u ? null : d.skipped[0]?.reason ?? 'not available', library: u?.library ?? null };
      }),
    'ab.start': (req) => {
      this.db();
      return this.jobs.startAb(req);
    },
    'ab.stop': async ({ jobId }) => ({ stopping: await this.jobs.stopAb(jobId) }),
    'ab.list': () => listAbRuns(this.db()),
    'ab.get': ({ id }) => getAbRun(this.db(), id),
    'ab.sweep': ({ id }) => getAbSweep(this.db(), id),

    'export.run': (req) => this.exports.run(req),
    'processes.list': () => this.processes.list(),
    'attach.start': (req) => this.startAttach(req),
    'attach.stop': async ({ runId }) => {
      const a = this.attaches.get(runId);
      if (!a) throw new UserError(`no attach ${runId} is running`);
      return { sent: (await a.worker.stop('SIGINT')) === true };
    },
    'jobs.list': () => this.jobs.list(),
  };

  private stepper(planId: number): PlanStepper {
    let s = this.steppers.get(planId);
    if (s) {
      this.steppers.delete(planId);
    } else {
      s = loadStepper(this.db(), planId);
      if (s.events === 0) throw new UserError(`plan ${planId} has no buffers to step through`);
    }
    this.steppers.set(planId, s);
    while (this.steppers.size > STEPPER_CACHE) this.steppers.delete(this.steppers.keys().next().value!);
    return s;
  }

  /**
   * Attaches to a process the processes list shows (never an arbitrary pid), in a worker thread
   * that runs attachProcess() and ingests the trace; resolves once attached. attach.ts's own
   * refusals (already attached, ptrace not allowed, exited) come back as user errors.
   */
  private startAttach(req: AttachRequest): Promise<AttachInfo> {
    this.db();
    const busy = this.recordingBusy() ?? this.jobs.busy();
    if (busy) throw new UserError(busy);
    if (!this.processes.list().processes.some((p) => p.pid === req.pid)) {
      throw new UserError(`process ${req.pid} is not one of the local processes with torch loaded that memoplan can read (the Attach view's list); pick one from the list`);
    }
    const runId = this.nextRunId++;
    const dbFile = this.dbFileAbs;
    return new Promise<AttachInfo>((resolve, reject) => {
      let started = false;
      const worker = new WorkerRun<AttachDone>('attach-worker', { dbFile, runId, pid: req.pid, duration: req.duration } satisfies AttachWorkerData, {
        emit: (e, d) => this.emit(e, d),
        onStarted: (x) => {
          const s = x as AttachStarted;
          started = true;
          entry.sessionId = s.sessionId;
          this.emit('sessions.changed', { dbFile });
          resolve({ runId, sessionId: s.sessionId, pid: s.pid, notes: s.notes });
        },
      });
      const entry = { runId, pid: req.pid, sessionId: 0, worker, done: Promise.resolve() };
      this.attaches.set(runId, entry);
      entry.done = worker.done
        .then(
          (r) => {
            this.emit('attach.done', {
              runId, sessionId: entry.sessionId, pid: req.pid, error: null, events: r.events, iterations: r.iterations, targetExited: r.targetExited, detachedElsewhere: r.detachedElsewhere,
            });
          },
          (err: Error) => {
            if (!started) {
              reject(err);
              return;
            }
            this.emit('attach.done', {
              runId, sessionId: entry.sessionId, pid: req.pid, error: err.message, events: 0, iterations: 0, targetExited: false, detachedElsewhere: false,
            });
          },
        )
        .finally(() => {
          this.attaches.delete(runId);
          if (started) this.emit('sessions.changed', { dbFile });
        });
    });
  }

  /** Checks the launch form, then starts record() in a worker thread; resolves once the target is running. */
  private startRecording(req: LaunchRequest): Promise<RecordingInfo> {
    this.db();
    const attaching = [...this.attaches.values()][0];
    if (attaching) throw new UserError(this.recordingBusy()!);
    if (this.runs.size || this.startingRun) {
      const r = [...this.runs.values()][0];
      throw new UserError(r ? `a recording is already running (session ${r.sessionId}); stop it first` : 'a recording is already starting; stop it first');
    }
    const busy = this.jobs.busy();
    if (busy) throw new UserError(busy);
    const { cwd, script, python } = checkWorkload('record.start', req);
    const runId = this.nextRunId++;
    const dbFile = this.dbFileAbs;
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
          emit: (e, d) => this.emit(e, d),
          onExited: () => (exited = true),
          onStarted: (x) => {
            const s = x as WorkerStarted;
            started = true;
            sessionId = s.sessionId;
            this.startingRun = null;
            this.runs.set(runId, { runId, sessionId, stop: async (sig) => !exited && (await worker.stop(sig)) === true, done });
            this.emit('sessions.changed', { dbFile });
            resolve({ runId, sessionId, pid: s.pid, command: s.command, notes: s.notes });
          },
        },
      );
      this.startingRun = worker;
      const done: Promise<void> = worker.done
        .then(
          (r) => {
            this.emit('record.done', {
              runId, sessionId, exitCode: r.exitCode, signal: r.signal, error: null, events: r.events, iterations: r.iterations, stderrTail: r.stderrTail,
            });
          },
          (err: Error) => {
            if (!started) {
              reject(err);
              return;
            }
            this.emit('record.done', { runId, sessionId, exitCode: null, signal: null, error: err.message, events: 0, iterations: 0, stderrTail: '' });
          },
        )
        .finally(() => {
          if (this.startingRun === worker) this.startingRun = null;
          this.runs.delete(runId);
          if (started) this.emit('sessions.changed', { dbFile });
        });
    });
  }
}

export function errorInfo(err: unknown): ApiErrorInfo {
  if (err instanceof ApiInputError) return { kind: 'bad-request', message: err.message };
  if (err instanceof UserError) {
    return { kind: (err as UserError & { unsupported?: boolean }).unsupported ? 'unsupported' : 'user', message: err.message };
  }
  const e = err as Error;
  if (process.env[ENV.DEBUG]) process.stderr.write(`${e?.stack ?? String(err)}\n`);
  return { kind: 'internal', message: `internal error: ${e?.message ?? String(err)}` };
}

/** HTTP status of a refused call. */
export function httpStatus(e: ApiErrorInfo): number {
  return { 'bad-request': 400, user: 422, 'not-found': 404, unsupported: 501, internal: 500 }[e.kind];
}

export type { ApiMethods };
