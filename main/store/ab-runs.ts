import type { DB } from './db';

/**
 * A/B rows (schema migration 3): ab_runs (one per invocation), ab_arms, ab_processes (one per
 * process, with rusage and plan counters) and ab_samples (one per kept latency). What it stores
 * of main/ab it declares itself (AbRunToStore, AbProcessToStore; main/ab/store.ts maps a run's
 * spec and results onto them). Each process is stored as soon as it ends, so an interrupted A/B
 * keeps what it measured.
 */

/** An A/B run as stored: its ab_runs columns (config and host as JSON) and its arms in position order. */
export interface AbRunToStore {
  command: string[];
  cwd: string;
  config: object;
  host: object;
  python: string | null;
  torchVersion: string | null;
  seed: number;
  resamples: number;
  arms: readonly { position: number; allocator: string; library: string | null; threads: number }[];
}

/** One A/B process as stored: the ab_processes columns, and its kept latencies per thread. */
export interface AbProcessToStore {
  run_index: number;
  seq: number;
  pid: number | null;
  status: 'ok' | 'failed';
  reason: string | null;
  exit_code: number | null;
  signal: string | number | null;
  wall_ns: number | null;
  utime_us: number | null;
  stime_us: number | null;
  peak_rss_bytes: number | null;
  minor_faults: number | null;
  major_faults: number | null;
  voluntary_cs: number | null;
  involuntary_cs: number | null;
  threads_seen: number | null;
  latencies_seen: number | null;
  plan_status: string | null;
  plan_hits: number | null;
  plan_misses: number | null;
  plan_hit_bytes: number | null;
  plan_miss_bytes: number | null;
  plan_arena_bytes: number | null;
  plan_iterations_served: number | null;
  plan_retirements: number | null;
  plan_refusal: string | null;
  stderr_tail: string | null;
  plan_signatures_served: number | null;
  plan_iterations_unplanned: number | null;
  /** JSON text, or null. */
  plan_signatures: string | null;
  /** Latency (ns) per thread, per iteration. */
  samples: readonly (readonly number[])[];
}

/** Stores a new run (status running, started now) and its arms; returns their ids. */
export function insertAbRun(db: DB, r: AbRunToStore): { abRunId: number; armIds: number[] } {
  return db.transaction(() => {
    const info = db
      .prepare(
        `INSERT INTO ab_runs (command, cwd, config, host, python, torch_version, seed, resamples, status, started_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)`,
      )
      .run(JSON.stringify(r.command), r.cwd, JSON.stringify(r.config), JSON.stringify(r.host), r.python, r.torchVersion, r.seed, r.resamples, new Date().toISOString());
    const abRunId = Number(info.lastInsertRowid);
    const ins = db.prepare(`INSERT INTO ab_arms (ab_run_id, position, allocator, library, threads, status) VALUES (?, ?, ?, ?, ?, 'ok')`);
    const armIds = r.arms.map((a) => Number(ins.run(abRunId, a.position, a.allocator, a.library, a.threads).lastInsertRowid));
    return { abRunId, armIds };
  })();
}

/** Stores one process of an arm and its samples; returns its id. */
export function insertAbProcess(db: DB, abRunId: number, armId: number, p: AbProcessToStore): number {
  return db.transaction(() => {
    const info = db
      .prepare(
        `INSERT INTO ab_processes (ab_run_id, arm_id, run_index, seq, pid, status, reason, exit_code, signal, wall_ns, utime_us, stime_us,
           peak_rss_bytes, minor_faults, major_faults, voluntary_cs, involuntary_cs, threads_seen, latencies_seen,
           plan_status, plan_hits, plan_misses, plan_hit_bytes, plan_miss_bytes, plan_arena_bytes, plan_iterations_served, plan_retirements,
           plan_refusal, stderr_tail, plan_signatures_served, plan_iterations_unplanned, plan_signatures)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        abRunId, armId, p.run_index, p.seq, p.pid, p.status, p.reason, p.exit_code, p.signal,
        p.wall_ns, p.utime_us, p.stime_us, p.peak_rss_bytes, p.minor_faults, p.major_faults,
        p.voluntary_cs, p.involuntary_cs, p.threads_seen, p.latencies_seen,
        p.plan_status, p.plan_hits, p.plan_misses, p.plan_hit_bytes, p.plan_miss_bytes, p.plan_arena_bytes, p.plan_iterations_served, p.plan_retirements, p.plan_refusal,
        p.stderr_tail, p.plan_signatures_served, p.plan_iterations_unplanned, p.plan_signatures,
      );
    const processId = Number(info.lastInsertRowid);
    const ins = db.prepare(`INSERT INTO ab_samples (process_id, thread_index, iteration, latency_ns) VALUES (?, ?, ?, ?)`);
    p.samples.forEach((thread, t) => thread.forEach((ns, i) => ins.run(processId, t, i, ns)));
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

/** Marks a run that is still running as interrupted (its worker failed); never touches a finished run. */
export function markAbRunInterrupted(db: DB, abRunId: number): void {
  db.prepare(`UPDATE ab_runs SET status = 'interrupted', ended_at = ? WHERE id = ? AND status = 'running'`).run(new Date().toISOString(), abRunId);
}

/** Whether the database has the A/B tables (a database made before migration 3 has none). */
export function hasAbTables(db: DB): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ab_runs'`).get() !== undefined;
}

/** Whether the database holds A/B run `id`. */
export function abRunExists(db: DB, id: number): boolean {
  return db.prepare(`SELECT 1 FROM ab_runs WHERE id = ?`).get(id) !== undefined;
}

/** An ab_runs row with its process counts and its arms' allocators (comma-separated, by position): the A/B view's list. */
export interface AbRunListRow {
  id: number;
  status: string;
  command: string;
  config: string;
  started_at: string;
  ended_at: string | null;
  processes: number;
  failed: number;
  allocators: string | null;
}

const RUN_SQL = `SELECT r.id, r.status, r.command, r.config, r.started_at, r.ended_at,
    (SELECT count(*) FROM ab_processes p WHERE p.ab_run_id = r.id) AS processes,
    (SELECT count(*) FROM ab_processes p WHERE p.ab_run_id = r.id AND p.status <> 'ok') AS failed,
    (SELECT group_concat(allocator) FROM (SELECT allocator FROM ab_arms a WHERE a.ab_run_id = r.id ORDER BY position)) AS allocators
  FROM ab_runs r`;

/** The newest 500 runs, newest first. */
export function abRunList(db: DB): AbRunListRow[] {
  return db.prepare(`${RUN_SQL} ORDER BY r.id DESC LIMIT 500`).all() as AbRunListRow[];
}

/** One run's list row (undefined: no such run). */
export function abRunListRow(db: DB, id: number): AbRunListRow | undefined {
  return db.prepare(`${RUN_SQL} WHERE r.id = ?`).get(id) as AbRunListRow | undefined;
}

/** What the report shows of a run beyond its statistics: where and when it ran (config and host as JSON text). */
export function abRunContext(db: DB, id: number): Record<string, unknown> | undefined {
  return db.prepare(`SELECT cwd, host, python, torch_version, started_at, ended_at, config FROM ab_runs WHERE id = ?`).get(id) as Record<string, unknown> | undefined;
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
