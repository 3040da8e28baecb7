import type { DB } from './db';

/**
 * Which stored A/B runs are the cells of one `memoplan ab --vary` sweep. Every cell's
 * ab_runs.config carries `sweep_cell` (its values) and, since sweeps are tagged, `sweep`
 * ({ id, index, cells, vary }: main/ab/sweep.ts SweepTag), the same id for every cell of one
 * invocation. Cells stored before the tag existed have only `sweep_cell`: consecutive such runs
 * with the same names, none of them a repeat, no other A/B between them, are taken as one sweep
 * (id `untagged-<first run id>`), which is how one invocation stores them.
 */

export interface SweepVary {
  name: string;
  values: string[];
}

export interface SweepMember {
  abRunId: number;
  sweepId: string;
  cell: Record<string, string>;
  /** Position in the grid, from the tag (null for untagged cells). */
  index: number | null;
  /** Cells in the whole grid, from the tag (null for untagged cells). */
  cells: number | null;
  /** The varied names and values in the order given, from the tag (null for untagged cells). */
  vary: SweepVary[] | null;
  status: string;
  startedAt: string;
  /** The plan id the cell's plan arms ran, if any. */
  planId: number | null;
}

interface Row {
  id: number;
  status: string;
  started_at: string;
  cell: string | null;
  tag: string | null;
  plan_id: number | null;
}

function hasAbTables(db: DB): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ab_runs'`).get() !== undefined;
}

function parseObject(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function asCell(v: Record<string, unknown> | null): Record<string, string> | null {
  if (!v) return null;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') return null;
    out[k] = x;
  }
  return out;
}

function asVary(v: unknown): SweepVary[] | null {
  if (!Array.isArray(v)) return null;
  const out: SweepVary[] = [];
  for (const x of v) {
    const o = x as { name?: unknown; values?: unknown };
    if (typeof o?.name !== 'string' || !Array.isArray(o.values) || !o.values.every((s) => typeof s === 'string')) return null;
    out.push({ name: o.name, values: o.values as string[] });
  }
  return out;
}

// A config that is not valid JSON is read as no sweep (json_extract would raise on it).
const SQL = `SELECT id, status, started_at,
    CASE WHEN json_valid(config) THEN json_extract(config, '$.sweep_cell') END AS cell,
    CASE WHEN json_valid(config) THEN json_extract(config, '$.sweep') END AS tag,
    CASE WHEN json_valid(config) THEN json_extract(config, '$.plan.plan_id') END AS plan_id
  FROM ab_runs ORDER BY id`;

/** Every A/B run that is a sweep cell, in id order, with the id of its sweep. */
export function sweepMembers(db: DB): SweepMember[] {
  if (!hasAbTables(db)) return [];
  const rows = db.prepare(SQL).all() as Row[];
  const out: SweepMember[] = [];
  // The open untagged group: its id, its names, the cells seen.
  let open: { id: string; names: string; seen: Set<string> } | null = null;
  for (const r of rows) {
    const cell = asCell(typeof r.cell === 'string' ? parseObject(r.cell) : null);
    if (!cell) {
      open = null; // another A/B in between ends an untagged group
      continue;
    }
    const tag = typeof r.tag === 'string' ? parseObject(r.tag) : null;
    const plan_id = typeof r.plan_id === 'number' ? r.plan_id : null;
    const base = { abRunId: r.id, cell, status: r.status, startedAt: r.started_at, planId: plan_id };
    if (tag && typeof tag.id === 'string' && tag.id !== '') {
      open = null;
      out.push({
        ...base,
        sweepId: tag.id,
        index: typeof tag.index === 'number' ? tag.index : null,
        cells: typeof tag.cells === 'number' ? tag.cells : null,
        vary: asVary(tag.vary),
      });
      continue;
    }
    const names = Object.keys(cell).join('\u0000');
    const key = JSON.stringify(Object.entries(cell));
    if (!open || open.names !== names || open.seen.has(key)) open = { id: `untagged-${r.id}`, names, seen: new Set() };
    open.seen.add(key);
    out.push({ ...base, sweepId: open.id, index: null, cells: null, vary: null });
  }
  return out;
}

/** The cells of the sweep that A/B run `abRunId` belongs to, in id order; null when it is no sweep's cell. */
export function sweepOfRun(db: DB, abRunId: number): SweepMember[] | null {
  const all = sweepMembers(db);
  const me = all.find((m) => m.abRunId === abRunId);
  return me ? all.filter((m) => m.sweepId === me.sweepId) : null;
}

/** Ids of the sweeps (first cell's run id) whose cells ran a plan of this session. */
export function sweepsUsingSessionPlans(db: DB, sessionId: number): number[] {
  const all = sweepMembers(db);
  if (!all.some((m) => m.planId !== null)) return [];
  const plans = new Set((db.prepare(`SELECT id FROM plans WHERE session_id = ?`).all(sessionId) as { id: number }[]).map((p) => p.id));
  const ids = new Set(all.filter((m) => m.planId !== null && plans.has(m.planId)).map((m) => m.sweepId));
  return [...ids].map((id) => all.find((m) => m.sweepId === id)!.abRunId);
}
