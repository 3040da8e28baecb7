import type { DB } from '../store/db';
import type { HostInfo } from '../record/host';
import type { ProcessResult } from './runner';
import type { RunSpec } from './spec';
import { insertAbProcess, insertAbRun } from '../store/ab-runs';

/**
 * An A/B run's spec and results as rows (main/store/ab-runs.ts stores and reads them): the
 * configuration kept with a run, and one process's rusage, plan counters and samples.
 */

export function createAbRun(db: DB, spec: RunSpec, host: HostInfo, seed: number, resamples: number): { abRunId: number; armIds: number[] } {
  const config = {
    allocators: [...new Map(spec.arms.map((a) => [a.allocator.name, { name: a.allocator.name, library: a.allocator.library }])).values()],
    skipped: spec.skipped,
    threads: spec.threads,
    runs: spec.runs,
    warmup: spec.warmup,
    iterations: spec.iterations,
    baseline: spec.baseline,
    plan: spec.plan ? { file: spec.plan.tmpDir ? null : spec.plan.file, plan_id: spec.plan.planId, set_id: spec.plan.setId } : null,
    run_timeout_ms: spec.runTimeoutMs,
    ...(spec.cell ? { sweep_cell: spec.cell } : {}),
    ...(spec.sweep ? { sweep: spec.sweep } : {}),
  };
  return insertAbRun(db, {
    command: spec.argv,
    cwd: spec.cwd,
    config,
    host,
    python: spec.python?.executable ?? null,
    torchVersion: spec.python?.torchVersion ?? null,
    seed,
    resamples,
    arms: spec.arms.map((a) => ({ position: a.index, allocator: a.allocator.name, library: a.allocator.library, threads: a.threads })),
  });
}

export function storeProcess(db: DB, abRunId: number, armId: number, r: ProcessResult): number {
  const u = r.usage;
  const p = r.plan;
  return insertAbProcess(db, abRunId, armId, {
    run_index: r.runIndex, seq: r.seq, pid: u?.pid ?? null, status: r.ok ? 'ok' : 'failed', reason: r.reason, exit_code: u?.exitCode ?? null, signal: u?.signal ?? null,
    wall_ns: u?.wallNs ?? null, utime_us: u?.utimeUs ?? null, stime_us: u?.stimeUs ?? null, peak_rss_bytes: u?.peakRssBytes ?? null,
    minor_faults: u?.minorFaults ?? null, major_faults: u?.majorFaults ?? null, voluntary_cs: u?.voluntaryCs ?? null, involuntary_cs: u?.involuntaryCs ?? null,
    threads_seen: r.threadsSeen, latencies_seen: r.latenciesSeen,
    plan_status: p.status, plan_hits: p.hits, plan_misses: p.misses, plan_hit_bytes: p.hitBytes, plan_miss_bytes: p.missBytes, plan_arena_bytes: p.arenaBytes,
    plan_iterations_served: p.iterationsServed, plan_retirements: p.retirements, plan_refusal: p.refusal,
    stderr_tail: r.ok ? null : r.stderrTail.slice(-2000) || null, plan_signatures_served: p.signaturesServed, plan_iterations_unplanned: p.iterationsUnplanned,
    plan_signatures: p.signatures ? JSON.stringify(p.signatures.map((x) => ({ signature: x.signature, iterations_served: x.iterationsServed, hits: x.hits, misses: x.misses }))) : null,
    samples: r.samples,
  });
}
