import { AB_SWEEP_THREADS, type AbSweep, type AbSweepDim, type AbSweepPanel, type AbSweepPoint } from '../../shared/api';
import type { DB } from '../store/db';
import { sweepOfRun, type SweepMember } from '../store/ab-sweeps';
import { analyze } from './analysis';
import { loadAbRun } from '../store/ab-runs';
import { sweepPoints, type SweepPoint } from './sweep';

/**
 * A stored sweep as a grid for the A/B view's heatmap and the report: its cells' A/B runs
 * analysed again from their rows (main/ab/analysis.ts, as `memoplan ab --json`) and compared
 * per cell and thread count as the terminal's grid summary does (sweepPoints). The dimensions are
 * the varied names and, when there are several, the serving thread counts; the two with the most
 * values are the heatmap's axes, any other one makes one heatmap per value (facets).
 */

function dimsOf(members: SweepMember[], points: SweepPoint[]): AbSweepDim[] {
  const tagged = members.find((m) => m.vary !== null)?.vary ?? null;
  const dims: AbSweepDim[] = [];
  if (tagged) for (const v of tagged) dims.push({ key: v.name, label: v.name, values: [...v.values] });
  else {
    // Untagged: the names of the cells, values in the order first seen (the grid's order).
    for (const m of members) {
      for (const [k, v] of Object.entries(m.cell)) {
        let d = dims.find((x) => x.key === k);
        if (!d) dims.push((d = { key: k, label: k, values: [] }));
        if (!d.values.includes(v)) d.values.push(v);
      }
    }
  }
  // A value a cell ran that the tag does not list (it cannot happen through the CLI) is kept too.
  for (const p of points) for (const d of dims) if (p.cell[d.key] !== undefined && !d.values.includes(p.cell[d.key])) d.values.push(p.cell[d.key]);
  const threads = [...new Set(points.map((p) => p.threads))].sort((a, b) => a - b);
  if (threads.length > 1) dims.push({ key: AB_SWEEP_THREADS, label: AB_SWEEP_THREADS, values: threads.map(String) });
  return dims;
}

function noteOf(p: SweepPoint): string | null {
  if (p.latency_ratio !== null) return null;
  if (p.unplanned.length && p.best_plan === null) return `not planned: ${p.unplanned.join('; ')}`;
  if (p.best_allocator === null) return 'no general-purpose allocator arm measured';
  if (p.best_plan === null) return 'no plan arm measured';
  return 'no comparison';
}

export function sweepGrid(members: SweepMember[], byRun: Map<number, { points: SweepPoint[]; command: string[] }>): AbSweep | null {
  const points = members.flatMap((m) => byRun.get(m.abRunId)?.points ?? []);
  const dims = dimsOf(members, points);
  if (dims.length === 0) return null; // a --plan auto without --vary: one A/B, nothing to grid
  const out: AbSweepPoint[] = points.map((p) => ({
    abRunId: p.ab_run_id,
    status: members.find((m) => m.abRunId === p.ab_run_id)?.status ?? '',
    coords: Object.fromEntries(dims.map((d) => [d.key, d.key === AB_SWEEP_THREADS ? String(p.threads) : p.cell[d.key] ?? ''])),
    cell: p.cell,
    threads: p.threads,
    bestAllocator: p.best_allocator,
    bestPlan: p.best_plan,
    latencyRatio: p.latency_ratio,
    p99Ratio: p.p99_ratio,
    rssRatio: p.rss_ratio,
    allocatorMedianMs: p.allocator?.median_ms ?? null,
    planMedianMs: p.plan?.median_ms ?? null,
    allocatorRssBytes: p.allocator?.peak_rss_bytes ?? null,
    planRssBytes: p.plan?.peak_rss_bytes ?? null,
    unplanned: p.unplanned,
    note: noteOf(p),
  }));
  // Axes: the two dimensions with the most values (the earlier one on ties), in their order.
  const ranked = dims.map((d, i) => ({ d, i })).sort((a, b) => b.d.values.length - a.d.values.length || a.i - b.i);
  const axes = ranked.slice(0, 2).sort((a, b) => a.i - b.i).map((r) => r.d);
  const facets = dims.filter((d) => !axes.includes(d));
  let combos: Record<string, string>[] = [{}];
  for (const f of facets) combos = combos.flatMap((c) => f.values.map((v) => ({ ...c, [f.key]: v })));
  const panels: AbSweepPanel[] = combos.map((facet) => ({
    label: facets.map((f) => `${f.label}=${facet[f.key]}`).join(' '),
    facet,
    points: out.map((p, i) => ({ p, i })).filter(({ p }) => facets.every((f) => p.coords[f.key] === facet[f.key])).map(({ i }) => i),
  }));
  const threadCounts = dims.find((d) => d.key === AB_SWEEP_THREADS)?.values.length ?? 1;
  const gridCells = members.find((m) => m.cells !== null)?.cells ?? null;
  const expected = gridCells === null ? null : gridCells * threadCounts;
  const notes: string[] = [];
  if (facets.length) {
    notes.push(
      `${dims.length} settings vary: the axes are the two with the most values (${axes.map((a) => a.label).join(', ')}); one heatmap per ${facets.map((f) => f.label).join(' × ')}`,
    );
  }
  if (expected !== null && out.length < expected) notes.push(`${out.length} of ${expected} cells stored (the sweep was cut short)`);
  const first = members[0];
  return {
    id: first.sweepId,
    runs: members.map((m) => m.abRunId),
    startedAt: first.startedAt,
    command: byRun.get(first.abRunId)?.command ?? [],
    dims,
    x: axes[0].key,
    y: axes[1]?.key ?? null,
    facets: facets.map((f) => f.key),
    panels,
    points: out,
    expected,
    note: notes.length ? notes.join('. ') + '.' : null,
  };
}

/** The sweep that A/B run `abRunId` is a cell of, as a grid; null when it is no sweep's cell or the sweep varies nothing. */
export function loadSweepGrid(db: DB, abRunId: number): AbSweep | null {
  const members = sweepOfRun(db, abRunId);
  if (!members) return null;
  const byRun = new Map<number, { points: SweepPoint[]; command: string[] }>();
  for (const m of members) {
    const stored = loadAbRun(db, m.abRunId);
    if (!stored) continue;
    byRun.set(m.abRunId, { points: sweepPoints(m.cell, analyze(stored)), command: stored.command });
  }
  return sweepGrid(members, byRun);
}
