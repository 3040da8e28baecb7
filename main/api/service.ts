import path from 'node:path';
import { UserError } from '../../shared/errors';
import {
  AB_ALLOCATORS,
  type ApiErrorInfo,
  type ApiEvent,
  type ApiEventName,
  type ApiEvents,
  type ApiMethod,
  type ApiMethods,
  type ApiReply,
  type ApiRequest,
  type ApiResponse,
  type PlanRunReply,
  type PlanSetRunReply,
} from '../../shared/api';
import { ENV } from '../../shared/env-vars';
import type { DB } from '../store/db';
import { getSession, listSessions, renameSession } from '../store/sessions';
import { replaySessionIds } from '../store/replays';
import { planWithCommand } from '../store/plans';
import { workloadsDir } from '../paths';
import { discoverAllocators } from '../ab/allocators';
import { listPlanSetInfo } from '../plan/plan-set-info';
import { WorkerRun } from '../workers/host';
import type { PlanWorkerData } from '../workers/plan-worker';
import type { DeleteWorkerData } from '../workers/delete-worker';
import { ApiInputError, isApiMethod, validateRequest } from './validate';
import * as q from './queries';
import { listAbRuns, getAbRun, getAbSweep } from './ab-queries';
import { ServiceDatabase } from './database';
import { Recordings } from './recordings';
import { Attaches } from './attaches';
import { Jobs } from './jobs';
import { Tasks } from './tasks';
import { Steppers } from './steppers';
import { Exports, type Download, type SaveDialog } from './exports';
import { formFromCommand } from './launch-check';
import { ProcessWatcher } from './processes';

/**
 * The server side of shared/api.ts, independent of the transport: `call(method, params)`
 * validates, dispatches to a handler, and turns every outcome into an ApiReply; `onEvent`
 * streams pushed events. serve.ts (HTTP + WebSocket) and app.ts (Electron IPC) are thin layers
 * over one ApiService.
 *
 * This file is the table of handlers over the modules that hold the state: the database and its
 * query threads (database.ts), recordings (recordings.ts), attaches (attaches.ts), live replays
 * and A/Bs (jobs.ts), plan.run and sessions.delete calls (tasks.ts), the step-through
 * (steppers.ts), exports (exports.ts) and the torch process list (processes.ts).
 *
 * Heavy calls run in worker threads (main/workers/), each on its own database connection, so
 * that this thread keeps answering: plan.run, recordings (the target is spawned and its trace
 * ingested by the worker), attaches, live replays and A/Bs, sessions.delete, and the timeline
 * (a zoom may be summed from events: a long-lived query thread, query-thread.ts).
 */

export interface ApiServiceOptions {
  dbFile: string;
  /** Desktop only: shows an open dialog and returns the chosen file (null when cancelled). */
  pickDatabase?: () => Promise<string | null>;
  /** Desktop only: a save dialog for an export (null when cancelled). Over HTTP exports go to an exports/ folder. */
  pickSavePath?: SaveDialog;
}

type Handlers = { [M in ApiMethod]: (req: ApiRequest<M>) => ApiResponse<M> | Promise<ApiResponse<M>> };

export const EXAMPLE_ARGS = ['--model', 'resnet18', '--iterations', '3', '--warmup', '2'];

export class ApiService {
  private readonly database: ServiceDatabase;
  private readonly listeners = new Set<(e: ApiEvent) => void>();
  /** Recordings and attaches share one sequence of run ids. */
  private nextRunId = 1;
  private readonly recordings: Recordings;
  private readonly attaches: Attaches;
  private readonly jobs: Jobs;
  private readonly tasks = new Tasks();
  private readonly steppers: Steppers;
  private readonly exports: Exports;
  private readonly processes: ProcessWatcher;

  constructor(private readonly opts: ApiServiceOptions) {
    this.database = new ServiceDatabase(opts.dbFile);
    // A database that cannot be used does not stop the UI (database.ts): tried once here.
    this.dbProblem();
    const dbFile = () => this.database.file;
    const emit = <E extends ApiEventName>(e: E, d: ApiEvents[E]) => this.emit(e, d);
    const nextRunId = () => this.nextRunId++;
    this.jobs = new Jobs({ dbFile, emit, recordingBusy: () => this.recordingBusy() });
    this.recordings = new Recordings({ dbFile, emit, nextRunId, attachBusy: () => this.attaches.busy(), jobsBusy: () => this.jobs.busy() });
    this.attaches = new Attaches({
      dbFile,
      emit,
      nextRunId,
      busy: () => this.recordingBusy() ?? this.jobs.busy(),
      listed: (pid) => this.processes.list().processes.some((p) => p.pid === pid),
    });
    this.steppers = new Steppers(() => this.db());
    this.exports = new Exports({ dbFile, db: () => this.db(), pickSavePath: opts.pickSavePath });
    this.processes = new ProcessWatcher((r) => this.emit('processes.changed', r));
  }

  /** Why a recording, a live replay or an A/B cannot start because of a recording or an attach, or null. */
  private recordingBusy(): string | null {
    return this.recordings.busy() ?? this.attaches.busy();
  }

  /** A file export.run registered for download (serve.ts /download/<id>), or null. */
  download(id: string): Download | null {
    return this.exports.download(id);
  }

  get dbFile(): string {
    return this.database.file;
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
    return this.database.db();
  }

  /** Why the database cannot be used, or null when it can. */
  dbProblem(): string | null {
    return this.database.problem();
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
    const pending = this.recordings.stopAll();
    // An attach detaches (the target keeps running) and stores what it recorded.
    pending.push(...this.attaches.detachAll());
    // A plan being computed is not wanted any more; a deletion is left to finish.
    const tasks = this.tasks.endAll();
    await Promise.all([
      Promise.race([Promise.all([...pending, ...tasks]), new Promise((res) => setTimeout(res, timeoutMs).unref())]),
      this.jobs.close(timeoutMs),
    ]);
    this.database.close();
  }

  get activeRecordings(): number {
    return this.recordings.active + this.attaches.active + this.jobs.active;
  }

  private readonly handlers: Handlers = {
    'sessions.list': () => {
      const dbError = this.dbProblem();
      if (!dbError) this.database.queries(); // the first view opens next: its chart need not wait for the thread to start
      return {
        dbFile: this.database.file,
        canOpenDatabase: !!this.opts.pickDatabase,
        dbError,
        sessions: dbError ? [] : listSessions(this.db()),
        recording: [...this.recordings.sessionIds(), ...this.attaches.sessionIds()],
        replays: dbError ? [] : replaySessionIds(this.db()),
      };
    },

    'sessions.rename': ({ id, name }) => {
      const clean = name.trim();
      if (!clean) throw new ApiInputError('sessions.rename: name must not be blank');
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f\u007f]/.test(clean)) throw new ApiInputError('sessions.rename: name must not contain control characters');
      if (renameSession(this.db(), id, clean) === 0) throw new UserError(`no session ${id} in this database`);
      this.emit('sessions.changed', { dbFile: this.database.file });
      return getSession(this.db(), id);
    },

    'sessions.delete': async ({ id }) => {
      if ([...this.recordings.sessionIds(), ...this.attaches.sessionIds()].includes(id)) throw new UserError(`session ${id} is being recorded; stop it first`);
      this.db(); // a database that cannot be used says so before a worker starts
      // A huge session takes seconds to delete: done on the worker's own connection.
      await this.tasks.run('delete', new WorkerRun('delete-worker', { dbFile: this.database.file, id } satisfies DeleteWorkerData));
      this.steppers.clear();
      this.emit('sessions.changed', { dbFile: this.database.file });
      return { deleted: id };
    },

    'db.open': async () => {
      if (!this.opts.pickDatabase) {
        const e = new UserError('opening another database needs the desktop app; restart memoplan serve with --db FILE');
        (e as UserError & { unsupported?: boolean }).unsupported = true;
        throw e;
      }
      if (this.recordings.active || this.attaches.active || this.jobs.active || this.tasks.size) throw new UserError('a recording, replay or A/B is running; stop it before opening another database');
      const file = await this.opts.pickDatabase();
      if (!file) return { dbFile: null };
      this.database.switchTo(file);
      this.steppers.clear();
      this.emit('sessions.changed', { dbFile: this.database.file });
      return { dbFile: this.database.file };
    },

    'record.defaults': () => ({
      exampleScript: path.join(workloadsDir(), 'torchvision_infer.py'),
      exampleArgs: EXAMPLE_ARGS,
      cwd: process.cwd(),
      interpreter: '',
    }),
    'record.start': (req) => {
      this.db();
      return this.recordings.start(req);
    },
    'record.stop': async ({ runId, signal }) => ({ sent: await this.recordings.stop(runId, signal) }),

    'overview.timeline': (r) => {
      if (r.t0 !== undefined && r.t1 !== undefined && r.t1 < r.t0) throw new ApiInputError('overview.timeline: t1 must not be before t0');
      return this.database.queries().request('overview.timeline', { session: r.session, t0: r.t0, t1: r.t1, points: r.points });
    },
    'overview.top': (r) => {
      if (r.t0 !== undefined && r.t1 !== undefined && r.t1 < r.t0) throw new ApiInputError('overview.top: t1 must not be before t0');
      return this.database.rangeQueries().request('overview.top', { session: r.session, by: r.by, limit: r.limit, t0: r.t0, t1: r.t1 });
    },
    'overview.live': (r) => {
      if (r.t !== undefined && r.iteration !== undefined) throw new ApiInputError('overview.live: give t or iteration, not both');
      return this.database.queries().request('overview.live', { session: r.session, t: r.t, iteration: r.iteration, limit: r.limit });
    },
    'plan.iterations': (r) => q.iterations(this.db(), r.session),
    'plan.list': (r) => q.storedPlans(this.db(), r.session),

    'plan.run': (r) => {
      if (r.signatures === 'all' && r.iteration !== undefined) {
        throw new ApiInputError("plan.run: signatures 'all' plans every repeating signature of the session; give no iteration with it");
      }
      this.db(); // a database that cannot be used says so before a worker starts
      return this.tasks.run('plan', new WorkerRun<PlanRunReply | PlanSetRunReply>('plan-worker', { dbFile: this.database.file, req: r } satisfies PlanWorkerData));
    },
    'plan.sets': (r) => listPlanSetInfo(this.db(), r.session),
    'plan.map': (r) => q.memoryMap(this.db(), r.plan, r.maxRects ?? 4000),

    'replay.info': ({ plan }) => this.steppers.info(plan),
    'replay.at': ({ plan, k }) => this.steppers.at(plan, k),

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
    'attach.start': (req) => {
      this.db();
      return this.attaches.start(req);
    },
    'attach.stop': async ({ runId }) => ({ sent: await this.attaches.stop(runId) }),
    'jobs.list': () => this.jobs.list(),
  };
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
