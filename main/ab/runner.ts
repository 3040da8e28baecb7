import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agentDir } from '../paths';
import { readLatencies } from './latency';
import { errnoName, readUsage, signalName, type RunUsage } from './os-stats';
import { NO_PLAN_STATS, readPlanStats, type PlanStats } from './plan-stats';
import type { Arm, RunSpec } from './spec';
import { ENV } from '../../shared/env-vars';

/**
 * Runs the processes of an A/B, interleaved: for run r = 1..N, each arm in order, one process.
 * Drift of the machine (thermal, other load, page cache) then hits every arm alike. Each process
 * runs under the rusage launcher with its allocator preloaded, the agent writing iteration
 * latencies to a file of its own.
 */

export interface ProcessResult {
  arm: Arm;
  runIndex: number;
  /** Launch order, 1-based. */
  seq: number;
  ok: boolean;
  reason: string | null;
  usage: RunUsage | null;
  /** Kept latency samples (ns) per serving thread; empty for a failed run. */
  samples: number[][];
  threadsSeen: number;
  latenciesSeen: number;
  plan: PlanStats;
  stderrTail: string;
}

export interface RunnerEvents {
  /** Before each process: what runs next, how many are done, seconds since the first. */
  onStart?: (p: { arm: Arm; runIndex: number; seq: number; total: number; elapsedS: number; etaS: number | null }) => void;
  onResult?: (r: ProcessResult) => void;
  /** Checked between processes: true stops the A/B after the current one. */
  shouldStop?: () => boolean;
}

const STDERR_TAIL_BYTES = 4096;

/** The environment of one run: the agent on, this arm's knobs, nothing inherited that would skew it. */
export function runEnv(spec: RunSpec, arm: Arm, files: { latency: string; planStats: string }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...spec.env };
  for (const k of ['LD_PRELOAD', ENV.TRACE_DIR, ENV.PLAN, ENV.PLAN_STATS, ENV.LATENCY_FILE]) delete env[k];
  env[ENV.AGENT] = '1';
  env.PYTHONPATH = [agentDir(), spec.env.PYTHONPATH].filter(Boolean).join(path.delimiter);
  env[ENV.LATENCY_FILE] = files.latency;
  env[ENV.SERVING_THREADS] = String(arm.threads);
  // Every arm runs the same minimal agent (iteration boundaries, module hooks): plans leave the
  // agent's own allocations out, whatever mode the recording used.
  env[ENV.AGENT_OPS] = '0';
  if (arm.allocator.kind === 'plan' && spec.plan) {
    env[ENV.PLAN] = spec.plan.file;
    env[ENV.PLAN_STATS] = files.planStats;
  }
  return env;
}

function launch(spec: RunSpec, arm: Arm, usageFile: string, env: NodeJS.ProcessEnv): Promise<{ stderrTail: string; launcherCode: number | null; timedOut: boolean; spawnError: string | null }> {
  const args = ['--out', usageFile];
  if (arm.allocator.library) args.push('--preload', arm.allocator.library);
  args.push('--', ...spec.argv);
  return new Promise((resolve) => {
    const child = spawn(spec.launcher, args, { cwd: spec.cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = Buffer.alloc(0);
    child.stderr!.on('data', (d: Buffer) => {
      tail = Buffer.concat([tail, d]);
      if (tail.length > 2 * STDERR_TAIL_BYTES) tail = tail.subarray(tail.length - STDERR_TAIL_BYTES);
    });
    let timedOut = false;
    const timer = spec.runTimeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM'); // the launcher forwards it to the target
          setTimeout(() => child.kill('SIGKILL'), 5000).unref();
        }, spec.runTimeoutMs)
      : null;
    let spawnError: string | null = null;
    child.on('error', (e) => (spawnError = e.message));
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      const s = tail.subarray(Math.max(0, tail.length - STDERR_TAIL_BYTES)).toString('utf8');
      resolve({ stderrTail: s, launcherCode: code, timedOut, spawnError });
    });
  });
}

function lastLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter(Boolean);
  const l = lines[lines.length - 1] ?? '';
  return l.length > 200 ? l.slice(0, 200) + '...' : l;
}

/** Why a process does not count, from what the launcher saw; null when it exited 0. */
function exitProblem(u: RunUsage | null, launched: Awaited<ReturnType<typeof launch>>, spec: RunSpec): string | null {
  if (launched.spawnError) return `the launcher could not start: ${launched.spawnError}`;
  if (!u) return `the launcher failed (exit ${launched.launcherCode}): ${lastLine(launched.stderrTail) || 'no output'}`;
  if (u.execErrno !== null) return `cannot execute ${spec.argv[0]}: ${errnoName(u.execErrno)}`;
  const tail = lastLine(launched.stderrTail);
  const why = tail ? `; stderr: ${tail}` : '';
  if (launched.timedOut) return `killed after --run-timeout ${spec.runTimeoutMs! / 1000}s`;
  if (u.signal !== null) return `killed by ${signalName(u.signal)} (signal ${u.signal}${u.coreDumped ? ', core dumped' : ''})${why}`;
  if (u.exitCode !== 0) return `exited with code ${u.exitCode}${why}`;
  return null;
}

export async function runAb(spec: RunSpec, ev: RunnerEvents = {}): Promise<{ results: ProcessResult[]; stopped: boolean }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memoplan-ab-'));
  const results: ProcessResult[] = [];
  const total = spec.runs * spec.arms.length;
  const t0 = Date.now();
  let seq = 0;
  let stopped = false;
  try {
    outer: for (let r = 1; r <= spec.runs; r++) {
      for (const arm of spec.arms) {
        if (ev.shouldStop?.()) {
          stopped = true;
          break outer;
        }
        seq++;
        const elapsedS = (Date.now() - t0) / 1000;
        ev.onStart?.({ arm, runIndex: r, seq, total, elapsedS, etaS: seq > 1 ? (elapsedS / (seq - 1)) * (total - seq + 1) : null });
        const files = {
          latency: path.join(dir, `lat-${seq}.txt`),
          planStats: path.join(dir, `plan-${seq}.json`),
          usage: path.join(dir, `usage-${seq}.json`),
        };
        const launched = await launch(spec, arm, files.usage, runEnv(spec, arm, files));
        if (ev.shouldStop?.()) {
          // Interrupted (Ctrl-C reaches the target too): this process does not count.
          stopped = true;
          break outer;
        }
        const usage = readUsage(files.usage);
        const lat = readLatencies(files.latency, spec.warmup, spec.iterations);
        const reason = exitProblem(usage, launched, spec) ?? lat.problem;
        const res: ProcessResult = {
          arm,
          runIndex: r,
          seq,
          ok: reason === null,
          reason,
          usage,
          samples: reason === null ? lat.kept : [],
          threadsSeen: lat.threads,
          latenciesSeen: lat.seen,
          plan: arm.allocator.kind === 'plan' ? readPlanStats(files.planStats) : NO_PLAN_STATS,
          stderrTail: launched.stderrTail,
        };
        results.push(res);
        ev.onResult?.(res);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { results, stopped };
}
