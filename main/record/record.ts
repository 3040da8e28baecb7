import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DB } from '../store/db';
import { createSession, endSession } from '../store/sessions';
import type { LifetimeTotals } from '../store/lifetimes';
import type { PlanCounters } from './trace-format';
import { hostInfo } from './host';
import { planLaunch } from './launch';
import { chooseTraceRoot, ensureTraceRoot, sweepStaleStartFolders } from './trace-dir';
import { assertIngestReady, startIngest, type Ingest, type IngestResult } from './native-ingest';
import { RECORDER_END_FILE, resumeIngest } from '../ingest/resume';
import { fileIdentity } from '../fs/files';
import { UserError } from '../../shared/errors';
import { ENV } from '../../shared/env-vars';
import { sessionRowExact, setAgentOps, setClockBase, setEndedNow, setExit } from '../store/sessions';

/**
 * `memoplan record`: launch a command under the interposer and the agent, stream its trace
 * into SQLite while it runs, then build lifetimes, iterations and summaries. The trace files
 * are deleted only once everything is stored; if anything fails they stay and their path is
 * printed, so nothing the user recorded is lost.
 */

export interface RecordOptions {
  db: DB;
  dbFile: string;
  command: string[];
  name?: string;
  python?: string | null;
  /** Attribute aten ops (TorchDispatchMode; default). Off: module paths and iterations only. */
  ops?: boolean;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** 'inherit' shows the target's output; tests capture it with 'pipe'. */
  stdio?: 'inherit' | 'pipe';
  /** Called about once a second with progress while the target runs. */
  onProgress?: (p: { seconds: number; events: number; eventsPerSecond: number; processes: number; liveBytes: number }) => void;
  onNote?: (note: string) => void;
  /** Called once the target has been spawned. */
  onStart?: (child: ChildProcess, sessionId: number) => void;
  /** Called with the trace ingest once it exists; its stats are live (the server's worker reports them). */
  onIngest?: (ingest: Pick<Ingest, 'stats'>) => void;
  pollMs?: number;
}

export interface RecordResult {
  sessionId: number;
  exitCode: number;
  signal: string | null;
  summary: LifetimeTotals & { ops: number };
  claimed: number | null;
  /** Plan-mode counters, when the target ran with a plan (MEMOPLAN_PLAN). */
  plan: PlanCounters | null;
  /** Wall seconds from spawn to the target's exit, and CPU-busy seconds of the ingest. */
  targetSeconds: number;
  ingestSeconds: number;
  stdout: string;
  stderr: string;
  /** Set when the recording is not whole (session status incomplete or failed): why, and the events missing when known. */
  incomplete: { missing: number | null; reason: string } | null;
}

export async function record(o: RecordOptions): Promise<RecordResult> {
  const cwd = o.cwd ?? process.cwd();
  // A tmpfs when there is one with room (main/record/trace-dir.ts), shared by every database:
  // folder names are unique (mkdtemp), not just per session id.
  const dbIdentity = fileIdentity(o.dbFile);
  const traceRoot = ensureTraceRoot(chooseTraceRoot(o.dbFile));
  sweepStaleStartFolders(traceRoot);
  const traceDir = fs.mkdtempSync(path.join(traceRoot, 'rec-'));
  let launch;
  try {
    assertIngestReady();
    launch = planLaunch({ command: o.command, python: o.python ?? null, traceDir, env: o.env, cwd });
  } catch (err) {
    fs.rmSync(traceDir, { recursive: true, force: true });
    throw err;
  }
  for (const n of launch.notes) o.onNote?.(n);
  const sessionId = createSession(o.db, {
    name: o.name ?? defaultSessionName(o.command, launch.python !== null),
    command: launch.argv,
    cwd,
    python: launch.python?.executable ?? null,
    torchVersion: launch.python?.torchVersion ?? null,
    host: hostInfo(),
  });
  const dir = path.join(traceRoot, `session-${sessionId}-${path.basename(traceDir).slice('rec-'.length)}`);
  fs.renameSync(traceDir, dir);
  launch.env[ENV.TRACE_DIR] = dir;
  const ops = o.ops ?? true;
  launch.env[ENV.AGENT_OPS] = ops ? '1' : '0';
  setAgentOps(o.db, sessionId, ops);
  // Timestamps are stored relative to this instant (CLOCK_MONOTONIC, as the interposer's).
  const clockBase = process.hrtime.bigint() - 1_000_000_000n;
  setClockBase(o.db, sessionId, clockBase);
  // The ingest (memoplan-ingest) polls the trace directory by itself. If storing fails while the target runs (disk full, the ingester killed), the target is left
  // alone: its trace stays on disk, and what was not stored is stored from it once it exits.
  let child: ChildProcess | null = null;
  const ingest = startIngest({
    db: o.db, dbFile: o.dbFile, sessionId, traceDir: dir, clockBaseNs: clockBase, pollMs: o.pollMs,
    onFailure: (err) => o.onNote?.(`storing the trace failed (${oneLine(err.message)}); the target runs on and its trace is kept, to be stored when it exits`),
  });
  o.onIngest?.(ingest);

  child = spawn(launch.argv[0], launch.argv.slice(1), {
    cwd,
    env: launch.env,
    stdio: o.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  });
  if (child.pid !== undefined) ingest.setTarget?.(child.pid);
  o.onStart?.(child, sessionId);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const forward = () => child?.kill('SIGTERM');
  process.on('SIGTERM', forward);
  // Ctrl-C reaches the target through the terminal's process group; we stay to store the trace.
  const ignoreInt = () => o.onNote?.('interrupt: waiting for the target to exit, then storing the trace');
  process.on('SIGINT', ignoreInt);

  const started = Date.now();
  let lastReport = started;
  let lastEvents = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    if (o.onProgress && now - lastReport >= 1000) {
      const s = ingest.stats;
      o.onProgress({ seconds: (now - started) / 1000, events: s.events, eventsPerSecond: ((s.events - lastEvents) * 1000) / (now - lastReport), processes: s.processes, liveBytes: s.liveBytes });
      lastReport = now;
      lastEvents = s.events;
    }
  }, Math.min(o.pollMs ?? 50, 250));

  const target = child;
  let waited: { code: number | null; signal: NodeJS.Signals | null };
  try {
    waited = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      target.on('error', reject);
      target.on('close', (c, s) => resolve({ code: c, signal: s }));
    });
  } catch (err) {
    await ingest.finish().catch(() => undefined); // ends the ingester with whatever there is
    throw err;
  } finally {
    clearInterval(timer);
    process.off('SIGTERM', forward);
    process.off('SIGINT', ignoreInt);
  }
  const { code, signal } = waited;
  const targetSeconds = (Date.now() - started) / 1000;
  const exitCode = code ?? 128 + (signal ? os.constants.signals[signal] : 0);
  let failure: Error | null = ingest.failure;
  let finished: IngestResult | null = null;
  if (failure) await ingest.finish().catch(() => undefined); // it has ended (or ends now)
  else {
    try {
      finished = await ingest.finish();
    } catch (err) {
      failure = err as Error;
    }
  }
  const common = { sessionId, exitCode, signal, targetSeconds, ingestSeconds: ingest.stats.busySeconds, stdout, stderr };
  // The database removed or replaced while the target ran: what was stored went with the old
  // file. Keep the trace, with the session's own row, for memoplan ingest to store as a new one.
  if (!sameIdentity(fileIdentity(o.dbFile), dbIdentity)) {
    const row = sessionRowExact(o.db, sessionId);
    const session = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? String(v) : v]));
    writeRecorderEnd(dir, { exitCode, signal, sessionId, dbFile: path.resolve(o.dbFile), removed: true, session });
    throw new UserError(
      `the database ${o.dbFile} was removed or replaced while recording (${failure ? oneLine(failure.message) : 'its file is gone'}); what was stored went with it. ` +
        `The target exited with ${signal ?? `code ${exitCode}`}; the rest of the recording is kept in ${dir}: memoplan ingest ${dir} --db FILE stores it as a new session`,
      RECORDING_INCOMPLETE_EXIT,
    );
  }
  if (finished) {
    const { claimed, totals: summary, notes, plan } = finished;
    for (const n of notes) o.onNote?.(n);
    const wroteTrace = fs.readdirSync(dir).some((f) => f.endsWith('.mpt'));
    const incomplete = recordingGaps(summary.events, claimed, notes, wroteTrace, dir);
    endSession(o.db, sessionId, { status: incomplete ? (wroteTrace ? 'incomplete' : 'failed') : signal ? 'killed' : 'complete', exitCode, signal });
    fs.rmSync(dir, { recursive: true, force: true });
    return { ...common, summary, claimed, plan, incomplete };
  }
  // Storing failed: what was not stored is still in the trace. Store it now, resuming after the
  // rows that made it (main/ingest/resume.ts); if that fails too, keep the trace and say how to
  // store it later.
  const reason = oneLine(failure!.message);
  try {
    setExit(o.db, sessionId, exitCode, signal);
    const r = resumeIngest({ db: o.db, dbFile: o.dbFile, sessionId, traceDir: dir });
    o.onNote?.(`storing the trace failed while the target ran (${reason}); the rest was stored from the kept trace after it exited (${r.added.toLocaleString('en-US')} events)`);
    for (const n of r.notes) o.onNote?.(n);
    setEndedNow(o.db, sessionId);
    const incomplete = r.status === 'incomplete' ? { missing: r.missing, reason: r.notes[0] ?? `${r.missing} claimed events are not in the trace` } : null;
    return { ...common, summary: r.totals, claimed: r.claimed, plan: r.plan, incomplete };
  } catch (err) {
    const again = err instanceof UserError ? err.message : oneLine((err as Error).message);
    try {
      endSession(o.db, sessionId, { status: 'incomplete', exitCode, signal });
    } catch {
      /* the database cannot be written (disk full): memoplan ingest sets the status */
    }
    // The target's end, for memoplan ingest to store (the database may have had no room for it).
    writeRecorderEnd(dir, { exitCode, signal, sessionId, dbFile: path.resolve(o.dbFile) });
    throw new UserError(
      `storing the recording failed (${reason}${again !== reason ? `; again: ${again}` : ''}). Session ${sessionId} holds what was stored; ` +
        `the target exited with ${signal ?? `code ${exitCode}`}; the trace is kept in ${dir}: once the cause is fixed, memoplan ingest ${dir} --db ${o.dbFile} stores the rest`,
      RECORDING_INCOMPLETE_EXIT,
    );
  }
}

function writeRecorderEnd(dir: string, end: object): void {
  try {
    fs.writeFileSync(path.join(dir, RECORDER_END_FILE), JSON.stringify(end));
  } catch {
    /* the trace folder is full too: the exit code is in the message */
  }
}

function sameIdentity(a: { dev: number; ino: number } | null, b: { dev: number; ino: number } | null): boolean {
  return a !== null && b !== null && a.dev === b.dev && a.ino === b.ino;
}

/** Exit code of record when the recording is not whole (EX_TEMPFAIL: the trace is kept, or the target wrote none). */
export const RECORDING_INCOMPLETE_EXIT = 75;

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/**
 * Whether a recording stored by the ingest is whole: every event the interposers claimed is
 * stored, none stopped recording early (no room in the trace folder), and a trace was written.
 */
function recordingGaps(events: number, claimed: number | null, notes: string[], wroteTrace: boolean, dir: string): RecordResult['incomplete'] {
  if (!wroteTrace) {
    let room = '';
    try {
      const st = fs.statfsSync(path.dirname(dir));
      room = `; ${((st.bavail * st.bsize) / 1048576).toFixed(1)} MiB free in ${path.dirname(dir)}`;
    } catch {
      /* gone */
    }
    return { missing: null, reason: `the target wrote no trace: it did not load the interposer (a static binary, or LD_PRELOAD cleared) or the trace folder had no room${room}` };
  }
  // The interposer counts what it wrote: how much it could not write is unknown.
  const early = notes.find((n) => /stopped recording early/.test(n));
  if (early) return { missing: null, reason: early };
  if (claimed !== null && events < claimed) return { missing: claimed - events, reason: `${(claimed - events).toLocaleString('en-US')} of the ${claimed.toLocaleString('en-US')} events the interposer wrote are not stored` };
  return null;
}

/**
 * A session's name when none is given: the script a Python target runs (`script.py --model x`
 * and `python3 script.py --model x` alike, never an argument), else the program.
 */
export function defaultSessionName(command: readonly string[], python: boolean): string {
  const script = python ? command.find((a) => a.endsWith('.py')) : undefined;
  return path.basename(script ?? command[0] ?? 'session');
}
