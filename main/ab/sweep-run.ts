import { randomBytes } from 'node:crypto';
import { UserError } from '../../shared/errors';
import { openDatabase } from '../store/db';
import { record } from '../record/record';
import { planSession } from '../plan/plan-session';
import type { AbReport } from './analysis';
import { cellLabel, cellsOf, commandFor, parseVary, sweepPoints, type Cell, type SweepPoint, type SweepTag } from './sweep';

/**
 * The sweep of `memoplan ab --vary ...`: one A/B per cell, in order; with `--plan auto`, each
 * cell's plan comes from a lean recording of that cell (the minimal agent), planned with every
 * planner (the exact search for at most AUTO_PLAN_SECONDS) and the best one kept.
 */

export const AUTO_PLAN_SECONDS = 2;

export interface SweepCellResult {
  cell: Cell;
  command: string[];
  plan: { session: number; plan_id: number } | null;
  report: AbReport;
  exitCode: number;
}

export interface SweepOutcome {
  /** The id stored with every cell (ab_runs.config.sweep.id). */
  sweepId: string;
  cells: SweepCellResult[];
  points: SweepPoint[];
  exitCode: number;
}

export async function runSweep(
  command: string[],
  o: { db: string; vary: string[]; plan?: string; python?: string | null },
  runCell: (command: string[], cell: Cell, plan: string | undefined, sweep: SweepTag) => Promise<{ report: AbReport; exitCode: number }>,
  log: (msg: string) => void,
): Promise<SweepOutcome> {
  const vary = parseVary(o.vary);
  const cells = cellsOf(vary);
  const commands = cells.map((c) => commandFor(command, vary, c)); // every {NAME} checked before anything runs
  const out: SweepCellResult[] = [];
  // Every cell's stored settings carry this id: the A/B view and the report group them by it.
  const sweepId = `${new Date().toISOString()}-${randomBytes(4).toString('hex')}`;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i];
    log(`sweep cell ${i + 1}/${cells.length}: ${cellLabel(cell)}`);
    let plan = o.plan;
    let planned: SweepCellResult['plan'] = null;
    if (o.plan === 'auto') {
      planned = await autoPlan(o.db, commands[i], cell, o.python ?? null, log);
      plan = String(planned.plan_id);
    }
    const { report, exitCode } = await runCell(commands[i], cell, plan, { id: sweepId, index: i, cells: cells.length, vary });
    out.push({ cell, command: commands[i], plan: planned, report, exitCode });
  }
  const points = out.flatMap((c) => sweepPoints(c.cell, c.report));
  const exitCode = out.some((c) => c.exitCode === 130) ? 130 : out.some((c) => c.exitCode !== 0) ? 1 : 0;
  return { sweepId, cells: out, points, exitCode };
}

/** A lean recording of the cell's command, planned; the best plan's id. */
async function autoPlan(dbFile: string, command: string[], cell: Cell, python: string | null, log: (msg: string) => void): Promise<{ session: number; plan_id: number }> {
  const db = openDatabase(dbFile);
  try {
    log(`--plan auto: recording ${cellLabel(cell)} with the minimal agent`);
    const rec = await record({ db, dbFile, command, python, ops: false, stdio: 'pipe', name: `plan auto: ${cellLabel(cell)}`, onNote: log });
    if (rec.exitCode !== 0) throw new UserError(`--plan auto: the recording of ${cellLabel(cell)} exited with ${rec.signal ?? rec.exitCode} (session ${rec.sessionId}); no plan for that cell`);
    const { best } = planSession(db, rec.sessionId, { algorithm: 'all', timeLimitSeconds: AUTO_PLAN_SECONDS });
    log(`--plan auto: ${cellLabel(cell)}: session ${rec.sessionId}, plan ${best.plan_id} (${best.algorithm}, ${best.ratio.toFixed(4)} of the lower bound)`);
    return { session: rec.sessionId, plan_id: best.plan_id! };
  } finally {
    db.close();
  }
}
