import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DB } from '../store/db';
import { createSession, endSession } from '../store/sessions';
import type { LifetimeTotals } from '../store/lifetimes';
import type { PlanCounters } from './trace-reader';
import { hostInfo } from './host';
import { planLaunch } from './launch';
import { chooseTraceRoot, ensureTraceRoot } from './trace-dir';
import { assertIngestReady, startIngest, type Ingest } from './native-ingest';

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
}

export async function record(o: RecordOptions): Promise<RecordResult> {
  const cwd = o.cwd ?? process.cwd();
  // A tmpfs when there is one with room (main/record/trace-dir.ts), shared by every database:
  // folder names are unique (mkdtemp), not just per session id.
  const traceRoot = ensureTraceRoot(chooseTraceRoot(o.dbFile));
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
    name: o.name ?? path.basename(o.command[o.command.length > 1 && launch.python ? 1 : 0] ?? 'session'),
    command: launch.argv,
    cwd,
    python: launch.python?.executable ?? null,
    torchVersion: launch.python?.torchVersion ?? null,
    host: hostInfo(),
  });
  const dir = path.join(traceRoot, `session-${sessionId}-${path.basename(traceDir).slice('rec-'.length)}`);
  fs.renameSync(traceDir, dir);
  launch.env.MEMOPLAN_TRACE_DIR = dir;
  const ops = o.ops ?? true;
  launch.env.MEMOPLAN_AGENT_OPS = ops ? '1' : '0';
  o.db.prepare(`UPDATE sessions SET agent_ops = ? WHERE id = ?`).run(ops ? 1 : 0, sessionId);
  // Timestamps are stored relative to this instant (CLOCK_MONOTONIC, as the interposer's).
  const clockBase = process.hrtime.bigint() - 1_000_000_000n;
  o.db.prepare(`UPDATE sessions SET clock_base_ns = ? WHERE id = ?`).run(clockBase, sessionId);
  // The ingest polls the trace directory by itself (memoplan-ingest, or the JS SessionIngest on
  // a timer with MEMOPLAN_INGEST=js); if it fails, the target is stopped and the trace kept.
  let child: ChildProcess | null = null;
  const ingest = startIngest({
    db: o.db, dbFile: o.dbFile, sessionId, traceDir: dir, clockBaseNs: clockBase, pollMs: o.pollMs,
    onFailure: () => child?.kill('SIGKILL'),
  });
  o.onIngest?.(ingest);

  child = spawn(launch.argv[0], launch.argv.slice(1), {
    cwd,
    env: launch.env,
    stdio: o.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  });
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
  try {
    if (ingest.failure) throw ingest.failure;
    const { claimed, totals: summary, notes, plan } = await ingest.finish();
    for (const n of notes) o.onNote?.(n);
    endSession(o.db, sessionId, { status: signal ? 'killed' : 'complete', exitCode, signal });
    fs.rmSync(dir, { recursive: true, force: true });
    return { sessionId, exitCode, signal, summary, claimed, plan, targetSeconds, ingestSeconds: ingest.stats.busySeconds, stdout, stderr };
  } catch (err) {
    endSession(o.db, sessionId, { status: 'failed', exitCode, signal });
    (err as Error).message += ` (what was stored before the failure is in session ${sessionId}; the rest of the raw trace is kept in ${dir})`;
    throw err;
  }
}
