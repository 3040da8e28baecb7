import { UserError } from '../../shared/errors';
import { isPlanArmName } from '../../shared/api';
import type { ArmReport } from '../../shared/types';
import type { AbReport } from './analysis';

/**
 * `memoplan ab --vary NAME=v1,v2,...` (at most two names): the A/B runs once per cell of the
 * grid, each with `{NAME}` replaced in the command by the cell's value; `--plan auto` plans each
 * cell from a lean recording of it. The grid's summary compares, per cell and thread count, the
 * fastest plan arm that ran its plan with the fastest general-purpose allocator.
 */

export interface Vary {
  name: string;
  values: string[];
}

export type Cell = Record<string, string>;

/**
 * What links the cells of one sweep: stored in each cell's ab_runs.config as `sweep` (beside
 * `sweep_cell`), the same id for every cell of one `memoplan ab --vary` invocation.
 */
export interface SweepTag {
  /** Unique per invocation: its start time and a random suffix. */
  id: string;
  /** This cell's position in the grid (cellsOf order), from 0. */
  index: number;
  /** Cells in the whole grid. */
  cells: number;
  vary: Vary[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function parseVary(specs: readonly string[]): Vary[] {
  const out: Vary[] = [];
  for (const s of specs) {
    const eq = s.indexOf('=');
    const name = eq < 0 ? s : s.slice(0, eq);
    if (eq < 0 || !NAME.test(name)) throw new UserError(`--vary takes NAME=v1,v2,... with a NAME of letters, digits, _ or -; got ${JSON.stringify(s)}`);
    const values = s.slice(eq + 1).split(',').map((v) => v.trim());
    if (values.length === 0 || values.some((v) => v === '')) throw new UserError(`--vary ${name}: give one or more non-empty values, like ${name}=1,32`);
    if (new Set(values).size !== values.length) throw new UserError(`--vary ${name}: a value is listed twice`);
    if (out.some((v) => v.name === name)) throw new UserError(`--vary ${name} is given twice`);
    out.push({ name, values });
  }
  if (out.length > 2) throw new UserError(`--vary takes at most two names (a grid); got ${out.map((v) => v.name).join(', ')}`);
  return out;
}

/** Every combination, the first name varying slowest. */
export function cellsOf(vary: readonly Vary[]): Cell[] {
  let cells: Cell[] = [{}];
  for (const v of vary) cells = cells.flatMap((c) => v.values.map((x) => ({ ...c, [v.name]: x })));
  return cells;
}

/** The command of a cell: each `{NAME}` replaced; every varied name must appear somewhere. */
export function commandFor(command: readonly string[], vary: readonly Vary[], cell: Cell): string[] {
  for (const v of vary) {
    if (!command.some((a) => a.includes(`{${v.name}}`))) throw new UserError(`--vary ${v.name}: the command has no {${v.name}} to replace (for example --batch {${v.name}})`);
  }
  return command.map((a) => a.replace(/\{([A-Za-z_][A-Za-z0-9_-]*)\}/g, (m, n: string) => (n in cell ? cell[n] : m)));
}

export function cellLabel(cell: Cell): string {
  return Object.entries(cell).map(([k, v]) => `${k}=${v}`).join(' ') || '(no values)';
}

/** One cell and thread count of the grid: the fastest plan arm against the fastest allocator. */
export interface SweepPoint {
  cell: Cell;
  threads: number;
  ab_run_id: number;
  best_allocator: string | null;
  best_plan: string | null;
  /** median latency of the plan arm / of the allocator arm. */
  latency_ratio: number | null;
  p99_ratio: number | null;
  /** median peak RSS of the plan arm / of the allocator arm. */
  rss_ratio: number | null;
  allocator: PointArm | null;
  plan: PointArm | null;
  /** A plan arm that did not run its plan (refused, under 99% served): why; it is not compared. */
  unplanned: string[];
}

export interface PointArm {
  median_ms: number | null;
  p99_ms: number | null;
  peak_rss_bytes: number | null;
  minor_faults: number | null;
  system_s: number | null;
  involuntary_cs: number | null;
  plan_hit_rate: number | null;
}

const pick = (a: ArmReport): PointArm => ({
  median_ms: a.median_ms, p99_ms: a.p99_ms, peak_rss_bytes: a.peak_rss_bytes, minor_faults: a.minor_faults,
  system_s: a.system_s, involuntary_cs: a.involuntary_cs, plan_hit_rate: a.plan_hit_rate,
});

function fastest(arms: ArmReport[]): ArmReport | null {
  const ok = arms.filter((a) => a.status === 'ok' && a.median_ms !== null);
  return ok.length ? ok.reduce((b, a) => (a.median_ms! < b.median_ms! ? a : b)) : null;
}

export function sweepPoints(cell: Cell, report: AbReport): SweepPoint[] {
  const threads = [...new Set(report.arms.map((a) => a.threads))];
  return threads.map((t) => {
    const arms = report.arms.filter((a) => a.threads === t);
    const alloc = fastest(arms.filter((a) => !isPlanArmName(a.allocator)));
    const planned = arms.filter((a) => isPlanArmName(a.allocator));
    const plan = fastest(planned.filter((a) => a.plan_note === null));
    const ratio = (x: number | null | undefined, y: number | null | undefined) => (x != null && y != null && y > 0 ? x / y : null);
    return {
      cell,
      threads: t,
      ab_run_id: report.ab_run_id,
      best_allocator: alloc?.allocator ?? null,
      best_plan: plan?.allocator ?? null,
      latency_ratio: ratio(plan?.median_ms, alloc?.median_ms),
      p99_ratio: ratio(plan?.p99_ms, alloc?.p99_ms),
      rss_ratio: ratio(plan?.peak_rss_bytes, alloc?.peak_rss_bytes),
      allocator: alloc ? pick(alloc) : null,
      plan: plan ? pick(plan) : null,
      unplanned: planned.filter((a) => a.plan_note !== null).map((a) => `${a.allocator}: ${a.plan_note}`),
    };
  });
}

/** The grid as text: one line per cell and thread count, where the plan wins and loses. */
export function formatSweep(points: readonly SweepPoint[]): string {
  const f = (v: number | null, d = 3) => (v === null ? '-' : v.toFixed(d));
  const mib = (v: number | null) => (v === null ? '-' : (v / 2 ** 20).toFixed(1));
  const head = ['cell', 'thr', 'best allocator', 'best plan arm', 'latency plan/alloc', 'p99 plan/alloc', 'RSS plan/alloc', 'MiB alloc/plan', 'minor faults alloc/plan', 'sys s alloc/plan', 'invol cs alloc/plan', 'where'];
  const rows = points.map((p) => [
    cellLabel(p.cell),
    String(p.threads),
    p.best_allocator ?? '-',
    p.best_plan ?? (p.unplanned.length ? 'none ran its plan' : '-'),
    f(p.latency_ratio),
    f(p.p99_ratio),
    f(p.rss_ratio),
    `${mib(p.allocator?.peak_rss_bytes ?? null)}/${mib(p.plan?.peak_rss_bytes ?? null)}`,
    `${f(p.allocator?.minor_faults ?? null, 0)}/${f(p.plan?.minor_faults ?? null, 0)}`,
    `${f(p.allocator?.system_s ?? null, 2)}/${f(p.plan?.system_s ?? null, 2)}`,
    `${f(p.allocator?.involuntary_cs ?? null, 0)}/${f(p.plan?.involuntary_cs ?? null, 0)}`,
    p.latency_ratio === null ? 'no comparison' : `plan ${p.latency_ratio <= 1 ? 'faster' : 'slower'}, ${p.rss_ratio !== null && p.rss_ratio <= 1 ? 'leaner' : 'larger'}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]))).join('  ').trimEnd();
  const notes = points.flatMap((p) => p.unplanned.map((u) => `  ${cellLabel(p.cell)} x${p.threads}: ${u}`));
  return (
    `\nsweep: the fastest plan arm that ran its plan against the fastest general-purpose allocator, per cell (medians; below 1 the plan wins)\n` +
    [line(head), ...rows.map(line)].join('\n') +
    '\n' +
    (notes.length ? `not planned (no comparison):\n${notes.join('\n')}\n` : '')
  );
}
