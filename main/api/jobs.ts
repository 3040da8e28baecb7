import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { UserError } from '../../shared/errors';
import type { AbStartRequest, AbStarted, ApiEventName, ApiEvents, JobInfo, ReplayLiveRequest, ReplayLiveStarted, ReplayLiveSummary } from '../../shared/api';
import { openDatabase } from '../store/db';
import { getSession } from '../store/sessions';
import { replayLive } from '../replay/live';
import { hostInfo } from '../record/host';
import { analyze } from '../ab/analysis';
import { runAb } from '../ab/runner';
import { buildSpec } from '../ab/spec';
import { DEFAULT_RESAMPLES, DEFAULT_SEED } from '../ab/stats';
import { createAbRun, finishAbRun, loadAbRun, storeProcess } from '../ab/store';
import { checkWorkload } from './launch-check';
import { ApiInputError } from './validate';

/**
 * Long runs started from the UI that are not recordings: a live replay (main/replay/live.ts,
 * the workload in plan mode) and an A/B (main/ab: the same pieces `memoplan ab` uses, with
 * progress pushed as events instead of printed). One at a time, and never beside a recording:
 * they would measure each other.
 */

interface JobContext {
  dbFile(): string;
  emit<E extends ApiEventName>(event: E, data: ApiEvents[E]): void;
  /** A recording is running (the service's own runs). */
  recordingBusy(): string | null;
}

interface Job {
  info: JobInfo;
  /** Replay: the target; A/B: null (the runner owns its processes). */
  child: ChildProcess | null;
  stop: (signal: 'SIGINT' | 'SIGTERM') => boolean;
  done: Promise<void>;
}

const STDERR_TAIL_LINES = 15;

export class Jobs {
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;

  constructor(private readonly ctx: JobContext) {}

  list(): JobInfo[] {
    return [...this.jobs.values()].map((j) => j.info);
  }

  get active(): number {
    return this.jobs.size;
  }

  /** Why a new run cannot start now, or null. */
  busy(): string | null {
    const j = [...this.jobs.values()][0];
    if (j) return `${j.info.kind === 'ab' ? 'an A/B' : 'a live replay'} is running (job ${j.info.jobId}); wait for it or stop it first`;
    return null;
  }

  private checkFree(): void {
    const why = this.ctx.recordingBusy() ?? this.busy();
    if (why) throw new UserError(why);
  }

  stopReplay(jobId: number, signal: 'SIGINT' | 'SIGTERM'): boolean {
    const j = this.jobs.get(jobId);
    if (!j || j.info.kind !== 'replay') throw new UserError(`no live replay ${jobId} is running`);
    return j.stop(signal);
  }

  stopAb(jobId: number): boolean {
    const j = this.jobs.get(jobId);
    if (!j || j.info.kind !== 'ab') throw new UserError(`no A/B ${jobId} is running`);
    return j.stop('SIGINT');
  }

  /** Stops every job (SIGTERM to a replay's target, an A/B after its current process) and waits. */
  async close(timeoutMs: number): Promise<void> {
    const pending = [...this.jobs.values()];
    for (const j of pending) j.stop('SIGTERM');
    await Promise.race([Promise.all(pending.map((j) => j.done)), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  startReplay(req: ReplayLiveRequest): Promise<ReplayLiveStarted> {
    const w = checkWorkload('replay.live.start', req);
    this.checkFree();
    const dbFile = this.ctx.dbFile();
    const db = openDatabase(dbFile);
    const exists = db.prepare(`SELECT 1 FROM plans WHERE id = ?`).get(req.plan);
    if (!exists) {
      db.close();
      throw new UserError(`no plan ${req.plan} in this database`);
    }
    const jobId = this.nextId++;
    const notes: string[] = [];
    const threads = req.threads ?? 1;
    return new Promise<ReplayLiveStarted>((resolve, reject) => {
      let started = false;
      let sessionId = 0;
      const info: JobInfo = { jobId, kind: 'replay', command: [w.python ?? 'python3', w.script, ...w.args], notes };
      const job: Job = { info, child: null, stop: () => false, done: Promise.resolve() };
      const iterationsOf = (id: number) => (db.prepare(`SELECT count(*) AS n FROM iterations WHERE session_id = ?`).get(id) as { n: number }).n;
      const p = replayLive({
        db,
        dbFile,
        plan: String(req.plan),
        threads,
        command: [w.script, ...w.args],
        python: w.python,
        cwd: w.cwd,
        stdio: 'pipe',
        onNote: (message) => {
          notes.push(message);
          if (started) this.ctx.emit('replay.note', { jobId, message });
        },
        onProgress: (pr) => {
          this.ctx.emit('replay.progress', { jobId, sessionId, seconds: pr.seconds, events: pr.events, iterations: iterationsOf(sessionId), liveBytes: pr.liveBytes });
        },
        onStart: (child, id) => {
          started = true;
          sessionId = id;
          job.child = child;
          job.stop = (sig) => child.kill(sig);
          try {
            info.command = getSession(db, id).command;
          } catch {
            /* keep the form's */
          }
          this.jobs.set(jobId, job);
          this.ctx.emit('sessions.changed', { dbFile });
          resolve({ ...info, notes: [...notes], sessionId: id, pid: child.pid ?? null });
        },
      });
      job.done = p
        .then(
          ({ summary, result }) => {
            const interposer = result.stderr.split('\n').filter((l) => /^memoplan\b.*\bplan\b/i.test(l.trim())).slice(0, 20);
            const s: ReplayLiveSummary = {
              session: summary.session,
              plan_id: summary.plan_id,
              threads: summary.threads,
              status: summary.status,
              unplanned: summary.status !== 'serving',
              hits: summary.hits,
              misses: summary.misses,
              hit_rate: summary.hit_rate,
              byte_hit_rate: summary.byte_hit_rate,
              fallback_bytes: summary.fallback_bytes,
              arena_bytes: summary.arena_bytes,
              iterations_served: summary.iterations_served,
              retirements: summary.retirements,
              exit_code: summary.exit_code,
              latencies_ms: summary.latencies_ms,
              median_latency_ms: summary.median_latency_ms,
              interposer,
            };
            const tail = result.exitCode !== 0 ? result.stderr.trim().split('\n').slice(-STDERR_TAIL_LINES).join('\n') : '';
            this.ctx.emit('replay.done', { jobId, sessionId, summary: s, error: null, signal: result.signal, stderrTail: tail });
          },
          (err: Error) => {
            if (!started) {
              reject(err);
              return;
            }
            this.ctx.emit('replay.done', { jobId, sessionId, summary: null, error: err.message, signal: null, stderrTail: '' });
          },
        )
        .finally(() => {
          db.close();
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
      if (hasPlan && !db.prepare(`SELECT 1 FROM plans WHERE id = ?`).get(req.plan)) throw new UserError(`no plan ${req.plan} in this database`);
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
    const { abRunId, armIds } = createAbRun(db, spec, hostInfo(), DEFAULT_SEED, DEFAULT_RESAMPLES);
    const jobId = this.nextId++;
    const notes = [...spec.skipped.map((s) => `skipping ${s.name}: ${s.reason}`), ...spec.notes];
    const info: JobInfo = { jobId, kind: 'ab', command: spec.argv, notes };
    let stop = false;
    const job: Job = {
      info,
      child: null,
      stop: () => {
        if (stop) return false;
        stop = true;
        this.ctx.emit('ab.note', { jobId, abRunId, message: 'stopping after the current process; what was measured is kept' });
        return true;
      },
      done: Promise.resolve(),
    };
    this.jobs.set(jobId, job);
    const warned = new Set<number>();
    const total = spec.arms.length * spec.runs;
    job.done = (async () => {
      let status = 'complete';
      let error: string | null = null;
      try {
        const { results, stopped } = await runAb(spec, {
          shouldStop: () => stop,
          onStart: (p) =>
            this.ctx.emit('ab.progress', {
              jobId, abRunId, allocator: p.arm.allocator.name, threads: p.arm.threads, run: p.runIndex, runs: spec.runs, seq: p.seq, total: p.total,
              elapsedS: p.elapsedS, etaS: p.etaS,
            }),
          onResult: (r) => {
            storeProcess(db, abRunId, armIds[r.arm.index], r);
            this.ctx.emit('ab.result', {
              jobId, abRunId, allocator: r.arm.allocator.name, threads: r.arm.threads, run: r.runIndex, ok: r.ok, reason: r.reason,
              samples: r.samples.reduce((n, t) => n + t.length, 0),
            });
            if (r.ok && r.threadsSeen !== r.arm.threads && !warned.has(r.arm.index)) {
              warned.add(r.arm.index);
              this.ctx.emit('ab.note', {
                jobId, abRunId,
                message: `${r.arm.allocator.name} x${r.arm.threads}: the workload ran ${r.threadsSeen} serving thread(s), not ${r.arm.threads} (does it read MEMOPLAN_SERVING_THREADS?)`,
              });
            }
          },
        });
        const armStatus = spec.arms.map((a) => {
          const mine = results.filter((r) => r.arm.index === a.index);
          const ok = mine.some((r) => r.ok);
          return { armId: armIds[a.index], ok, reason: ok ? null : mine.length ? `every run failed; first: ${mine[0].reason}` : 'not run (interrupted)' };
        });
        status = stopped ? 'interrupted' : 'complete';
        finishAbRun(db, abRunId, stopped ? 'interrupted' : 'complete', armStatus);
        analyze(loadAbRun(db, abRunId)!); // fails here, not in the view, if the rows cannot be analysed
      } catch (err) {
        status = 'failed';
        error = (err as Error).message;
        try {
          db.prepare(`UPDATE ab_runs SET status = 'interrupted', ended_at = ? WHERE id = ? AND status = 'running'`).run(new Date().toISOString(), abRunId);
        } catch {
          /* keep the first error */
        }
      } finally {
        if (spec.plan?.tmpDir) fs.rmSync(spec.plan.tmpDir, { recursive: true, force: true });
        db.close();
        this.jobs.delete(jobId);
      }
      this.ctx.emit('ab.done', { jobId, abRunId, status, error });
    })();
    return { ...info, abRunId, arms: spec.arms.map((a) => ({ allocator: a.allocator.name, threads: a.threads })), skipped: spec.skipped, total };
  }
}
