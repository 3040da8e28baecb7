import fs from 'node:fs';
import { UserError } from '../../shared/errors';
import type { AbStartRequest, AbStarted, ApiEventName, ApiEvents, JobInfo, ReplayLiveRequest, ReplayLiveStarted } from '../../shared/api';
import { openDatabase } from '../store/db';
import { loadPlanSet, planExists } from '../store/plans';
import { hostInfo } from '../record/host';
import { buildSpec } from '../ab/spec';
import { DEFAULT_RESAMPLES, DEFAULT_SEED } from '../ab/stats';
import { createAbRun } from '../ab/store';
import { markAbRunInterrupted } from '../store/ab-runs';
import { WorkerRun } from '../workers/host';
import type { AbDone, AbWorkerData } from '../workers/ab-worker';
import type { RecordWorkerData, ReplayDone, WorkerStarted } from '../workers/record-worker';
import { checkWorkload } from './launch-check';
import { ApiInputError } from './validate';

/**
 * Long runs started from the UI that are not recordings: a live replay (main/replay/live.ts,
 * the workload in plan mode) and an A/B (main/ab: the same pieces `memoplan ab` uses, with
 * progress pushed as events instead of printed). One at a time, and never beside a recording:
 * they would measure each other. Each runs in a worker thread (main/workers/) so that the
 * server keeps answering while it ingests a trace or analyses an A/B.
 */

interface JobContext {
  dbFile(): string;
  emit<E extends ApiEventName>(event: E, data: ApiEvents[E]): void;
  /** A recording is running (the service's own runs). */
  recordingBusy(): string | null;
}

interface Job {
  info: JobInfo;
  /** Replay: signals the target (in the worker); A/B: stops after the current process. */
  stop: (signal: 'SIGINT' | 'SIGTERM') => Promise<boolean>;
  done: Promise<void>;
}

export class Jobs {
  private readonly jobs = new Map<number, Job>();
  /** A live replay whose worker has not started the target yet: it already counts as running. */
  private starting: number | null = null;
  private nextId = 1;

  constructor(private readonly ctx: JobContext) {}

  list(): JobInfo[] {
    return [...this.jobs.values()].map((j) => j.info);
  }

  get active(): number {
    return this.jobs.size + (this.starting !== null ? 1 : 0);
  }

  /** Why a new run cannot start now, or null. */
  busy(): string | null {
    const j = [...this.jobs.values()][0];
    if (j) return `${j.info.kind === 'ab' ? 'an A/B' : 'a live replay'} is running (job ${j.info.jobId}); wait for it or stop it first`;
    if (this.starting !== null) return `a live replay is starting (job ${this.starting}); wait for it or stop it first`;
    return null;
  }

  private checkFree(): void {
    const why = this.ctx.recordingBusy() ?? this.busy();
    if (why) throw new UserError(why);
  }

  stopReplay(jobId: number, signal: 'SIGINT' | 'SIGTERM'): Promise<boolean> {
    const j = this.jobs.get(jobId);
    if (!j || j.info.kind !== 'replay') throw new UserError(`no live replay ${jobId} is running`);
    return j.stop(signal);
  }

  stopAb(jobId: number): Promise<boolean> {
    const j = this.jobs.get(jobId);
    if (!j || j.info.kind !== 'ab') throw new UserError(`no A/B ${jobId} is running`);
    return j.stop('SIGINT');
  }

  /** Stops every job (SIGTERM to a replay's target, an A/B after its current process) and waits. */
  async close(timeoutMs: number): Promise<void> {
    const pending = [...this.jobs.values()];
    for (const j of pending) void j.stop('SIGTERM');
    await Promise.race([Promise.all(pending.map((j) => j.done)), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  startReplay(req: ReplayLiveRequest): Promise<ReplayLiveStarted> {
    if ((req.plan === undefined) === (req.set === undefined)) throw new ApiInputError('replay.live.start: give either plan or set');
    const w = checkWorkload('replay.live.start', req);
    this.checkFree();
    const dbFile = this.ctx.dbFile();
    const db = openDatabase(dbFile);
    let exists: unknown;
    try {
      exists = req.set !== undefined ? loadPlanSet(db, req.set) : planExists(db, req.plan!);
    } finally {
      db.close();
    }
    if (!exists) throw new UserError(req.set !== undefined ? `no plan set ${req.set} in this database` : `no plan ${req.plan} in this database`);
    // What `memoplan replay --plan` takes (main/plan/plan-source.ts).
    const planArg = req.set !== undefined ? `set:${req.set}` : String(req.plan);
    const jobId = this.nextId++;
    this.starting = jobId;
    const threads = req.threads ?? 1;
    const formCommand = [w.python ?? 'python3', w.script, ...w.args];
    return new Promise<ReplayLiveStarted>((resolve, reject) => {
      let started = false;
      let sessionId = 0;
      let exited = false;
      const info: JobInfo = { jobId, kind: 'replay', command: formCommand, notes: [] };
      const job: Job = { info, stop: () => Promise.resolve(false), done: Promise.resolve() };
      // The whole replayLive() call (its trace ingest included) runs in a worker thread.
      const run = new WorkerRun<ReplayDone>(
        'record-worker',
        {
          kind: 'replay', dbFile, jobId, plan: planArg, threads, command: [w.script, ...w.args], python: w.python, cwd: w.cwd, formCommand,
        } satisfies RecordWorkerData,
        {
          emit: (e, d) => this.ctx.emit(e, d),
          onExited: () => (exited = true),
          onStarted: (x) => {
            const s = x as WorkerStarted;
            started = true;
            sessionId = s.sessionId;
            info.command = s.command;
            info.notes = s.notes;
            job.stop = async (sig) => !exited && (await run.stop(sig)) === true;
            this.starting = null;
            this.jobs.set(jobId, job);
            this.ctx.emit('sessions.changed', { dbFile });
            resolve({ ...info, notes: [...s.notes], sessionId: s.sessionId, pid: s.pid });
          },
        },
      );
      job.done = run.done
        .then(
          (r) => this.ctx.emit('replay.done', { jobId, sessionId, summary: r.summary, error: null, signal: r.signal, stderrTail: r.stderrTail }),
          (err: Error) => {
            if (!started) {
              reject(err);
              return;
            }
            this.ctx.emit('replay.done', { jobId, sessionId, summary: null, error: err.message, signal: null, stderrTail: '' });
          },
        )
        .finally(() => {
          if (this.starting === jobId) this.starting = null;
          this.jobs.delete(jobId);
          if (started) this.ctx.emit('sessions.changed', { dbFile });
        });
    });
  }

  startAb(req: AbStartRequest): AbStarted {
    const w = checkWorkload('ab.start', req);
    if (!req.allocators.includes(req.baseline)) throw new ApiInputError(`ab.start: the baseline ${req.baseline} is not one of the arms (${req.allocators.join(', ')})`);
    const hasPlan = req.allocators.includes('plan');
    if (hasPlan && req.plan === undefined) throw new ApiInputError('ab.start: the plan arm needs a plan: pick one');
    this.checkFree();
    const dbFile = this.ctx.dbFile();
    const db = openDatabase(dbFile);
    let spec;
    try {
      if (hasPlan && !planExists(db, req.plan!)) throw new UserError(`no plan ${req.plan} in this database`);
      spec = buildSpec(
        {
          command: [w.script, ...w.args],
          allocators: req.allocators.join(','),
          plan: hasPlan ? String(req.plan) : undefined,
          threads: req.threads.join(','),
          runs: String(req.runs),
          warmup: String(req.warmup),
          iterations: req.iterations === undefined ? undefined : String(req.iterations),
          baseline: req.baseline,
          python: w.python,
          runTimeout: req.runTimeout ? String(req.runTimeout) : undefined,
          cwd: w.cwd,
        },
        db,
        dbFile,
      );
    } catch (err) {
      db.close();
      throw err;
    }
    let created: { abRunId: number; armIds: number[] };
    try {
      created = createAbRun(db, spec, hostInfo(), DEFAULT_SEED, DEFAULT_RESAMPLES);
    } catch (err) {
      if (spec.plan?.tmpDir) fs.rmSync(spec.plan.tmpDir, { recursive: true, force: true });
      throw err;
    } finally {
      db.close();
    }
    const { abRunId, armIds } = created;
    const jobId = this.nextId++;
    const notes = [...spec.skipped.map((s) => `skipping ${s.name}: ${s.reason}`), ...spec.notes];
    const info: JobInfo = { jobId, kind: 'ab', command: spec.argv, notes };
    // The processes, storing their results and the analysis run in a worker thread.
    const run = new WorkerRun<AbDone>('ab-worker', { dbFile, jobId, abRunId, armIds, spec } satisfies AbWorkerData, { emit: (e, d) => this.ctx.emit(e, d) });
    let stop = false;
    const job: Job = {
      info,
      stop: () => {
        if (stop) return Promise.resolve(false);
        stop = true;
        void run.stop('SIGINT');
        this.ctx.emit('ab.note', { jobId, abRunId, message: 'stopping after the current process; what was measured is kept' });
        return Promise.resolve(true);
      },
      done: Promise.resolve(),
    };
    this.jobs.set(jobId, job);
    const total = spec.arms.length * spec.runs;
    job.done = run.done
      .catch((err: Error): AbDone => {
        // The worker itself failed (a bug): the run is marked as the worker would have.
        if (spec.plan?.tmpDir) fs.rmSync(spec.plan.tmpDir, { recursive: true, force: true });
        try {
          const db2 = openDatabase(dbFile);
          try {
            markAbRunInterrupted(db2, abRunId);
          } finally {
            db2.close();
          }
        } catch {
          /* keep the first error */
        }
        return { status: 'failed', error: err.message };
      })
      .then(({ status, error }) => {
        this.jobs.delete(jobId);
        this.ctx.emit('ab.done', { jobId, abRunId, status, error });
      });
    return { ...info, abRunId, arms: spec.arms.map((a) => ({ allocator: a.allocator.name, threads: a.threads })), skipped: spec.skipped, total };
  }
}
