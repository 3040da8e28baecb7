import type { DB } from '../store/db';
import { UserError } from '../../shared/errors';
import { LIMITS, type AbDistribution, type AbRunDetail, type AbRunSummary, type AbSweep } from '../../shared/api';
import { analyze } from '../ab/analysis';
import { abRunExists, abRunList, abRunListRow, hasAbTables, loadAbRun, type AbRunListRow, type StoredAbRun } from '../store/ab-runs';
import { loadSweepGrid } from '../ab/sweep-grid';
import { sweepMembers, type SweepMember } from '../store/ab-sweeps';
import { quantileSorted, sortedCopy, median } from '../ab/stats';

/**
 * The A/B runs of the database for the A/B view: the list (ab_runs with their arms and process
 * counts) and one run in full, its statistics from main/ab/analysis.ts (the same numbers as
 * `memoplan ab --json`) and each arm's latency distribution reduced in main to a box, a CDF of
 * at most LIMITS.abCdfPoints points, per-run medians and an evenly thinned strip of samples.
 */

function summaryOf(r: AbRunListRow, sweeps: Map<number, SweepMember>): AbRunSummary {
  let config: { threads?: number[]; runs?: number; baseline?: string } = {};
  try {
    config = JSON.parse(r.config);
  } catch {
    /* keep defaults */
  }
  let command: string[] = [];
  try {
    command = JSON.parse(r.command);
  } catch {
    command = [r.command];
  }
  return {
    id: r.id,
    status: r.status,
    command,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    allocators: r.allocators ? [...new Set(r.allocators.split(','))] : [],
    threads: config.threads ?? [],
    runs: config.runs ?? 0,
    baseline: config.baseline ?? '',
    processes: r.processes,
    failed: r.failed,
    sweep: sweeps.has(r.id) ? { id: sweeps.get(r.id)!.sweepId, cell: sweeps.get(r.id)!.cell } : null,
  };
}

export function listAbRuns(db: DB): AbRunSummary[] {
  if (!hasAbTables(db)) return [];
  const sweeps = new Map(sweepMembers(db).map((m) => [m.abRunId, m]));
  return abRunList(db).map((r) => summaryOf(r, sweeps));
}

/** One arm's latency distribution as the A/B charts draw it (shared/charts/ab.ts): the A/B view's and the report's. */
export function abDistribution(a: StoredAbRun['arms'][number]): AbDistribution {
  const ms = (ns: number) => ns / 1e6;
  const sorted = sortedCopy(a.samples);
  const n = sorted.length;
  const cdf: [number, number][] = [];
  const strip: number[] = [];
  if (n) {
    const k = Math.min(n, LIMITS.abCdfPoints);
    for (let i = 0; i < k; i++) {
      const idx = k === 1 ? n - 1 : Math.round((i * (n - 1)) / (k - 1));
      cdf.push([ms(sorted[idx]), (idx + 1) / n]);
    }
    const s = Math.min(n, LIMITS.abStripPoints);
    for (let i = 0; i < s; i++) strip.push(ms(sorted[s === 1 ? 0 : Math.round((i * (n - 1)) / (s - 1))]));
  }
  return {
    allocator: a.allocator,
    threads: a.threads,
    samples: n,
    box: n ? [ms(sorted[0]), ms(quantileSorted(sorted, 0.25)), ms(quantileSorted(sorted, 0.5)), ms(quantileSorted(sorted, 0.75)), ms(sorted[n - 1])] : null,
    cdf,
    runMedians: a.groups.filter((g) => g.length).map((g) => ms(median(g))),
    strip,
  };
}

export function getAbRun(db: DB, id: number): AbRunDetail {
  if (!hasAbTables(db)) throw new UserError(`no A/B run ${id}: this database has no A/B runs`);
  const row = abRunListRow(db, id);
  const stored = loadAbRun(db, id);
  if (!row || !stored) throw new UserError(`no A/B run ${id} in this database`);
  const report = analyze(stored);
  return {
    run: summaryOf(row, new Map(sweepMembers(db).map((m) => [m.abRunId, m]))),
    warmup: report.warmup,
    iterations: report.iterations,
    confidence: report.confidence,
    bootstrap: report.bootstrap,
    resamples: report.resamples,
    skipped: report.skipped,
    arms: report.arms,
    distributions: stored.arms.map(abDistribution),
  };
}

/** The sweep that A/B run `id` is a cell of, as the heatmap's grid (null: not a sweep's cell). */
export function getAbSweep(db: DB, id: number): AbSweep | null {
  if (!hasAbTables(db)) throw new UserError(`no A/B run ${id}: this database has no A/B runs`);
  if (!abRunExists(db, id)) throw new UserError(`no A/B run ${id} in this database`);
  return loadSweepGrid(db, id);
}
