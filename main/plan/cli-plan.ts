import fs from 'node:fs';
import { UserError } from '../../shared/errors';
import type { PlanRow } from '../../shared/types';
import { isPlannerName, PLANNER_NAMES, plan, readInstanceCsv, writeOffsetsCsv, type Buffer, type PlannerResult } from './index';

/** `memoplan plan`: option checks, then the planners, then the table or JSON. */

export interface PlanCommandOptions {
  db: string;
  session?: number;
  iteration?: number;
  instance?: string;
  algorithm: string;
  timeLimit: string;
  out?: string;
  offsets?: string;
  json?: boolean;
}

export async function runPlanCommand(o: PlanCommandOptions): Promise<void> {
  if (!isPlannerName(o.algorithm)) {
    throw new UserError(`unknown --algorithm '${o.algorithm}'; expected one of ${PLANNER_NAMES.join(', ')}`);
  }
  const timeLimit = Number(o.timeLimit);
  if (!Number.isFinite(timeLimit) || timeLimit <= 0) throw new UserError(`--time-limit must be a positive number of seconds, got '${o.timeLimit}'`);
  if ((o.instance === undefined) === (o.session === undefined)) {
    throw new UserError('give exactly one of --instance FILE.csv or --session ID');
  }
  if (o.session !== undefined) {
    throw new UserError('planning a recorded session is not available yet in this build; plan an instance with --instance FILE.csv');
  }
  const file = o.instance!;
  if (!fs.existsSync(file)) throw new UserError(`instance not found: ${file}`);
  if (o.out) throw new UserError('--out writes a plan file for a recorded session; with --instance use --offsets');
  let buffers: Buffer[];
  try {
    buffers = readInstanceCsv(file).buffers;
  } catch (err) {
    throw new UserError(`${file}: ${(err as Error).message}`);
  }
  if (buffers.length === 0) throw new UserError(`${file}: no buffers`);
  const result = plan(o.algorithm, buffers, { timeLimitSeconds: timeLimit });
  const rows = toRows(result, null);
  if (o.offsets) fs.writeFileSync(o.offsets, writeOffsetsCsv(buffers, result.offsets));
  if (o.json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  printRows(rows, buffers.length);
}

export function toRows(result: PlannerResult, planId: number | null): PlanRow[] {
  const each = result.perPlanner ?? [result];
  return each.map((r) => ({
    plan_id: planId,
    algorithm: r.algorithm,
    arena_bytes: r.arenaBytes,
    lower_bound_bytes: r.lowerBound,
    ratio: r.lowerBound === 0 ? 1 : r.arenaBytes / r.lowerBound,
    seconds: r.seconds,
    optimal: r.optimal,
    best: r.algorithm === result.algorithm.replace(/^all:/, ''),
  }));
}

function printRows(rows: PlanRow[], buffers: number): void {
  const head = ['algorithm', 'arena bytes', 'lower bound', 'ratio', 'seconds', 'optimal'];
  const cells = rows.map((r) => [
    r.algorithm + (r.best && rows.length > 1 ? ' *' : ''),
    r.arena_bytes.toLocaleString('en-US'),
    r.lower_bound_bytes.toLocaleString('en-US'),
    r.ratio.toFixed(4),
    r.seconds.toFixed(3),
    r.optimal ? 'yes' : 'no',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
  process.stdout.write(`${buffers.toLocaleString('en-US')} buffers\n` + [line(head), ...cells.map(line)].join('\n') + '\n');
}
