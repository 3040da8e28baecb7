import type { DB } from '../store/db';
import type { HostInfo } from '../record/host';
import type { ProcessResult } from './runner';
import type { RunSpec } from './spec';

/**
 * A/B rows in SQLite (schema migration 3): ab_runs (one per invocation), ab_arms, ab_processes
 * (one per process, with rusage and plan counters) and ab_samples (one per kept latency).
 * Each process is stored as soon as it ends, so an interrupted A/B keeps what it measured.
 */

export function createAbRun(db: DB, spec: RunSpec, host: HostInfo, seed: number, resamples: number): { abRunId: number; armIds: number[] } {
  return db.transaction(() => {
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
    const info = db
      .prepare(
        `INSERT INTO ab_runs (command, cwd, config, host, python, torch_version, seed, resamples, status, started_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)`,
      )
      .run(JSON.stringify(spec.argv), spec.cwd, JSON.stringify(config), JSON.stringify(host), spec.python?.executable ?? null,
        spec.python?.torchVersion ?? null, seed, resamples, new Date().toISOString());
    const abRunId = Number(info.lastInsertRowid);
    const ins = db.prepare(`INSERT INTO ab_arms (ab_run_id, position, allocator, library, threads, status) VALUES (?, ?, ?, ?, ?, 'ok')`);
    const armIds = spec.arms.map((a) => Number(ins.run(abRunId, a.index, a.allocator.name, a.allocator.library, a.threads).lastInsertRowid));
    return { abRunId, armIds };
  })();
}

export function storeProcess(db: DB, abRunId: number, armId: number, r: ProcessResult): number {
  return db.transaction(() => {
    const u = r.usage;
    const p = r.plan;
    const info = db
      .prepare(
        `INSERT INTO ab_processes (ab_run_id, arm_id, run_index, seq, pid, status, reason, exit_code, signal, wall_ns, utime_us, stime_us,
           peak_rss_bytes, minor_faults, major_faults, voluntary_cs, involuntary_cs, threads_seen, latencies_seen,
           plan_status, plan_hits, plan_misses, plan_hit_bytes, plan_miss_bytes, plan_arena_bytes, plan_iterations_served, plan_retirements,
           plan_refusal, stderr_tail, plan_signatures_served, plan_iterations_unplanned, plan_signatures)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        abRunId, armId, r.runIndex, r.seq, u?.pid ?? null, r.ok ? 'ok' : 'failed', r.reason, u?.exitCode ?? null, u?.signal ?? null,
        u?.wallNs ?? null, u?.utimeUs ?? null, u?.stimeUs ?? null, u?.peakRssBytes ?? null, u?.minorFaults ?? null, u?.majorFaults ?? null,
        u?.voluntaryCs ?? null, u?.involuntaryCs ?? null, r.threadsSeen, r.latenciesSeen,
        p.status, p.hits, p.misses, p.hitBytes, p.missBytes, p.arenaBytes, p.iterationsServed, p.retirements, p.refusal,
        r.ok ? null : r.stderrTail.slice(-2000) || null, p.signaturesServed, p.iterationsUnplanned,
        p.signatures ? JSON.stringify(p.signatures.map((x) => ({ signature: x.signature, iterations_served: x.iterationsServed, hits: x.hits, misses: x.misses }))) : null,
      );
    const processId = Number(info.lastInsertRowid);
    const ins = db.prepare(`INSERT INTO ab_samples (process_id, thread_index, iteration, latency_ns) VALUES (?, ?, ?, ?)`);
    r.samples.forEach((thread, t) => thread.forEach((ns, i) => ins.run(processId, t, i, ns)));
    return processId;
  })();
}

export function finishAbRun(db: DB, abRunId: number, status: 'complete' | 'interrupted', armStatus: { armId: number; ok: boolean; reason: string | null }[]): void {
  db.transaction(() => {
    const upd = db.prepare(`UPDATE ab_arms SET status = ?, reason = ? WHERE id = ?`);
    for (const a of armStatus) upd.run(a.ok ? 'ok' : 'failed', a.reason, a.armId);
    db.prepare(`UPDATE ab_runs SET status = ?, ended_at = ? WHERE id = ?`).run(status, new Date().toISOString(), abRunId);
  })();
}

export interface StoredProcess {
  id: number;
  run_index: number;
  seq: number;
  status: string;
  reason: string | null;
  exit_code: number | null;
  signal: number | null;
  wall_ns: number | null;
  stime_us?: number | null;
  peak_rss_bytes: number | null;
  minor_faults: number | null;
  major_faults: number | null;
  voluntary_cs: number | null;
  involuntary_cs: number | null;
  threads_seen: number | null;
  plan_status: string | null;
  plan_hits: number | null;
  plan_misses: number | null;
  plan_hit_bytes: number | null;
  plan_miss_bytes: number | null;
  plan_refusal: string | null;
  plan_signatures_served?: number | null;
  plan_iterations_unplanned?: number | null;
  /** JSON: [{signature, iterations_served, hits, misses}] (a plan set's run), or null. */
  plan_signatures?: string | null;
}

export interface StoredArm {
  id: number;
  position: number;
  allocator: string;
  library: string | null;
  threads: number;
  status: string;
  reason: string | null;
  processes: StoredProcess[];
  /** Latencies (ns) of the arm's successful runs, in the canonical order: launch order, thread, iteration. */
  samples: number[];
  /** The same, one array per successful run (the unit the bootstrap resamples first). */
  groups: number[][];
}

export interface StoredAbRun {
  id: number;
  command: string[];
  config: { baseline: string; runs: number; warmup: number; iterations: number | null; threads: number[]; skipped: { name: string; reason: string }[] };
  seed: number;
  resamples: number;
  status: string;
  arms: StoredArm[];
}

/** One A/B with everything the statistics need. The sample order is fixed, so the bootstrap reproduces. */
export function loadAbRun(db: DB, abRunId: number): StoredAbRun | null {
  const run = db.prepare(`SELECT id, command, config, seed, resamples, status FROM ab_runs WHERE id = ?`).get(abRunId) as
    | { id: number; command: string; config: string; seed: number; resamples: number; status: string }
    | undefined;
  if (!run) return null;
  const arms = db.prepare(`SELECT id, position, allocator, library, threads, status, reason FROM ab_arms WHERE ab_run_id = ? ORDER BY position`).all(abRunId) as Omit<
    StoredArm,
    'processes' | 'samples' | 'groups'
  >[];
  const procs = db.prepare(`SELECT * FROM ab_processes WHERE arm_id = ? ORDER BY seq`);
  const samples = db.prepare(
    `SELECT s.process_id, s.latency_ns FROM ab_samples s JOIN ab_processes p ON p.id = s.process_id
     WHERE p.arm_id = ? AND p.status = 'ok' ORDER BY p.seq, s.thread_index, s.iteration`,
  );
  return {
    id: run.id,
    command: JSON.parse(run.command),
    config: JSON.parse(run.config),
    seed: run.seed,
    resamples: run.resamples,
    status: run.status,
    arms: arms.map((a) => {
      const rows = samples.all(a.id) as { process_id: number; latency_ns: number }[];
      const groups = new Map<number, number[]>();
      for (const r of rows) {
        let g = groups.get(r.process_id);
        if (!g) groups.set(r.process_id, (g = []));
        g.push(r.latency_ns);
      }
      return { ...a, processes: procs.all(a.id) as StoredProcess[], samples: rows.map((r) => r.latency_ns), groups: [...groups.values()] };
    }),
  };
}
