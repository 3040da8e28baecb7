import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DB } from '../store/db';
import { UserError } from '../../shared/errors';
import type { ReplaySummary } from '../../shared/types';
import { readPlanStats, type PlanStats } from '../ab/plan-stats';
import { resolvePlanArg } from '../plan/plan-source';
import { record, type RecordOptions, type RecordResult } from '../record/record';
import { ENV } from '../../shared/env-vars';
import { latenciesInOrder } from '../store/iterations';
import { insertReplay } from '../store/replays';

/**
 * `memoplan replay -- CMD`: run the workload with the interposer in plan mode (MEMOPLAN_PLAN),
 * recorded like `memoplan record`, and report what the plan served. The interposer refuses a
 * plan that is corrupt or made for another workload and the target then runs unplanned: that
 * is reported, never hidden.
 */

export const PLAN_STATUS = ['no plan', 'observing (no iteration matched the plan signature yet)', 'serving', 'refused'] as const;

export interface ReplayOptions {
  db: DB;
  dbFile: string;
  /** A plan id in the database, set:ID (a plan set in the database), or a plan file (a single plan or a set). */
  plan: string;
  threads: number;
  command: string[];
  python?: string | null;
  stdio?: 'inherit' | 'pipe';
  onNote?: (note: string) => void;
  /** Working directory of the target (default: this process's). */
  cwd?: string;
  /** Passed on to record(): progress about once a second, and the spawned target. */
  onProgress?: RecordOptions['onProgress'];
  onStart?: RecordOptions['onStart'];
  onIngest?: RecordOptions['onIngest'];
}

export type { ReplaySummary };

export async function replayLive(o: ReplayOptions): Promise<{ summary: ReplaySummary; result: RecordResult }> {
  if (!Number.isInteger(o.threads) || o.threads < 1) throw new UserError('--threads must be at least 1');
  const src = resolvePlanArg(o.db, o.dbFile, o.plan, 'memoplan-replay-');
  const planFile = src.file;
  const planId = src.planId;
  const tmpDir = src.tmpDir;
  // Passed on anyway: the interposer refuses it too, and the target runs unplanned.
  if (src.invalid) o.onNote?.(`${src.invalid}: the interposer will refuse it and the target runs unplanned`);
  const statsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'memoplan-replay-stats-'));
  const statsFile = path.join(statsDir, 'plan-stats.json');
  try {
    const result = await record({
      db: o.db,
      dbFile: o.dbFile,
      command: o.command,
      python: o.python,
      // The minimal agent (iteration boundaries and modules), as the A/B's arms run it: plans
      // leave the agent's own allocations out, whatever mode the recording used.
      ops: false,
      stdio: o.stdio,
      onNote: o.onNote,
      cwd: o.cwd,
      onProgress: o.onProgress,
      onStart: o.onStart,
      onIngest: o.onIngest,
      name: `replay of ${planId !== null ? `plan ${planId}` : src.setId !== null ? `plan set ${src.setId}` : `plan ${path.basename(planFile)}`}`,
      env: { ...process.env, [ENV.PLAN]: planFile, [ENV.PLAN_STATS]: statsFile, [ENV.SERVING_THREADS]: String(o.threads) },
    });
    const c = result.plan;
    const hits = c?.hits ?? 0;
    const misses = c?.misses ?? 0;
    const hitBytes = c?.hitBytes ?? 0;
    const missBytes = c?.missBytes ?? 0;
    const latencies = latenciesInOrder(o.db, result.sessionId).map((ns) => ns / 1e6);
    const sorted = [...latencies].sort((a, b) => a - b);
    const summary: ReplaySummary = {
      session: result.sessionId,
      plan_id: planId,
      set_id: src.setId,
      plans: src.plans,
      plan_file: planFile,
      threads: o.threads,
      status: PLAN_STATUS[c?.status ?? 0] ?? `status ${c?.status}`,
      hits,
      misses,
      hit_rate: hits + misses > 0 ? hits / (hits + misses) : null,
      byte_hit_rate: hitBytes + missBytes > 0 ? hitBytes / (hitBytes + missBytes) : null,
      fallback_bytes: missBytes,
      arena_bytes: c?.arenaBytes ?? 0,
      iterations_served: c?.iterationsServed ?? 0,
      retirements: c?.retirements ?? 0,
      signatures_served: c?.signaturesServed ?? 0,
      iterations_unplanned: c?.iterationsUnplanned ?? 0,
      signatures: perSignature(readPlanStats(statsFile)),
      exit_code: result.exitCode,
      latencies_ms: latencies,
      median_latency_ms: sorted.length ? sorted[sorted.length >> 1] : null,
    };
    insertReplay(o.db, {
      sessionId: result.sessionId, planId, planFile, threads: o.threads, status: c?.status ?? 0, refusal: c && c.refusal ? String(c.refusal) : null, hits, misses,
      hitBytes, missBytes, arenaBytes: summary.arena_bytes, iterationsServed: summary.iterations_served, retirements: summary.retirements,
      signaturesServed: summary.signatures_served, iterationsUnplanned: summary.iterations_unplanned, setId: src.setId,
    });
    return { summary, result };
  } finally {
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
    fs.rmSync(statsDir, { recursive: true, force: true });
  }
}

function perSignature(st: PlanStats): ReplaySummary['signatures'] {
  if (!st.signatures) return null;
  return st.signatures.map((x) => ({ signature: x.signature, iterations_served: x.iterationsServed ?? 0, hits: x.hits ?? 0, misses: x.misses ?? 0 }));
}
