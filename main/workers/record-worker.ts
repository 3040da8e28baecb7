import type { ChildProcess } from 'node:child_process';
import { workerData } from 'node:worker_threads';
import type { ReplayLiveSummary } from '../../shared/api';
import { record } from '../record/record';
import type { PollStats } from '../record/native-ingest';
import { replayLive } from '../replay/live';
import { openDatabase, withStatementHook, type DB } from '../store/db';
import { getSession } from '../store/sessions';
import { emit, onStop, post, runTask } from './worker-side';
import { iterationCount } from '../store/iterations';

/**
 * A recording (record.start) or a live replay (replay.live.start) in a worker thread: the whole
 * record() / replayLive() call, its trace polling and its finish, on a connection of its own.
 * The worker spawns the target; stop requests from the main thread signal it.
 *
 * Progress: about once a second from the ingest's live stats, by a timer. The ingester runs in
 * a process of its own and reports after each poll; but when it fails, record() stores the rest
 * of the trace on this thread (main/ingest/resume.ts), which takes seconds for a big backlog, so
 * the connection handed to record() is wrapped so that each statement run also checks the clock.
 * It goes on after the target has exited while the backlog is stored, until record() returns.
 */

interface Common {
  dbFile: string;
  /** The target's script and arguments (record() puts the interpreter in front). */
  command: string[];
  python: string | null;
  cwd: string;
  /** The command as the form gave it, shown if the session's own cannot be read. */
  formCommand: string[];
}

export type RecordWorkerData =
  | (Common & { kind: 'record'; runId: number; name?: string; ops: boolean })
  /** plan: what `memoplan replay --plan` takes (a plan id, set:ID). */
  | (Common & { kind: 'replay'; jobId: number; plan: string; threads: number });

/** Posted once the target runs. */
export interface WorkerStarted {
  sessionId: number;
  pid: number | null;
  /** As launched (the interpreter resolved). */
  command: string[];
  notes: string[];
}

export interface RecordDone {
  exitCode: number;
  signal: string | null;
  events: number;
  iterations: number;
  stderrTail: string;
}

export interface ReplayDone {
  summary: ReplayLiveSummary;
  signal: string | null;
  stderrTail: string;
}

const STDERR_TAIL_LINES = 15;
const d = workerData as RecordWorkerData;
const db = openDatabase(d.dbFile);
const notes: string[] = [];
let started = false;
let sessionId = 0;
let child: ChildProcess | null = null;

onStop((signal) => (child && child.exitCode === null && child.signalCode === null ? child.kill(signal) : false));

const iterationsOf = (id: number) => iterationCount(db, id);

const PROGRESS_MS = 1000;
let ingest: { readonly stats: PollStats } | null = null;
let reporting = false;
let progressTimer: NodeJS.Timeout | null = null;
let startedAt = 0;
let lastReport = 0;
let lastEvents = 0;

/** Reports progress when a second has passed since the last report, while the target runs. */
function progress(): void {
  if (!reporting || !ingest) return;
  const now = Date.now();
  if (now - lastReport < PROGRESS_MS) return;
  const s = ingest.stats;
  const seconds = (now - startedAt) / 1000;
  const iterations = iterationsOf(sessionId);
  if (d.kind === 'record') {
    const eventsPerSecond = ((s.events - lastEvents) * 1000) / (now - lastReport);
    emit('record.progress', { runId: d.runId, sessionId, seconds, events: s.events, eventsPerSecond, liveBytes: s.liveBytes, iterations, processes: s.processes });
  } else {
    emit('replay.progress', { jobId: d.jobId, sessionId, seconds, events: s.events, iterations, liveBytes: s.liveBytes });
  }
  lastReport = now;
  lastEvents = s.events;
}

/** The connection record() uses: every statement run also gives progress() a chance. */
function ticking(real: DB): DB {
  return withStatementHook(real, progress);
}

function onNote(message: string): void {
  notes.push(message);
  if (!started) return;
  if (d.kind === 'record') emit('record.note', { runId: d.runId, sessionId, message });
  else emit('replay.note', { jobId: d.jobId, message });
}

function onStart(c: ChildProcess, id: number): void {
  started = true;
  sessionId = id;
  child = c;
  reporting = true;
  startedAt = lastReport = Date.now();
  progressTimer = setInterval(progress, 100);
  c.once('close', () => post({ type: 'exited' }));
  let command = d.formCommand;
  try {
    command = getSession(db, id).command;
  } catch {
    /* keep the form's */
  }
  const info: WorkerStarted = { sessionId: id, pid: c.pid ?? null, command, notes: [...notes] };
  post({ type: 'started', info });
}

const tail = (exitCode: number, stderr: string) => (exitCode !== 0 ? stderr.trim().split('\n').slice(-STDERR_TAIL_LINES).join('\n') : '');

const onIngest = (i: { readonly stats: PollStats }) => (ingest = i);

runTask(async (): Promise<RecordDone | ReplayDone> => {
  try {
    if (d.kind === 'record') {
      const r = await record({
        db: ticking(db),
        dbFile: d.dbFile,
        command: d.command,
        name: d.name,
        python: d.python,
        ops: d.ops,
        cwd: d.cwd,
        stdio: 'pipe',
        onNote,
        onStart,
        onIngest,
      });
      return { exitCode: r.exitCode, signal: r.signal, events: r.summary.events, iterations: r.summary.iterations, stderrTail: tail(r.exitCode, r.stderr) };
    }
    const { summary, result } = await replayLive({
      db: ticking(db),
      dbFile: d.dbFile,
      plan: d.plan,
      threads: d.threads,
      command: d.command,
      python: d.python,
      cwd: d.cwd,
      stdio: 'pipe',
      onNote,
      onStart,
      onIngest,
    });
    const interposer = result.stderr.split('\n').filter((l) => /^memoplan\b.*\bplan\b/i.test(l.trim())).slice(0, 20);
    const s: ReplayLiveSummary = {
      session: summary.session,
      plan_id: summary.plan_id,
      set_id: summary.set_id,
      plans: summary.plans,
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
      signatures_served: summary.signatures_served,
      iterations_unplanned: summary.iterations_unplanned,
      signatures: summary.signatures,
      exit_code: summary.exit_code,
      latencies_ms: summary.latencies_ms,
      median_latency_ms: summary.median_latency_ms,
      interposer,
    };
    return { summary: s, signal: result.signal, stderrTail: tail(result.exitCode, result.stderr) };
  } finally {
    reporting = false;
    if (progressTimer) clearInterval(progressTimer);
    db.close();
  }
});
