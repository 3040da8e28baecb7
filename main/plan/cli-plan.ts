import { UserError } from '../../shared/errors';
import type { PlanRow } from '../../shared/types';
import { openDatabase } from '../store/db';
import { checkDistinctOutputs, checkOutputFile, databaseFiles, readInputFile, writeFileAtomic } from '../fs/files';
import { isPlannerName, PLANNER_NAMES, offsetsCsvBytes, parseInstanceColumns, plan, type InstanceColumns, type PlannerName } from './index';
import { AMBIGUOUS_SMALL_BYTES, type IterationInput } from './iteration';
import { planSession, toRows } from './plan-session';
import { planSessionSet } from './plan-set';

export { toRows } from './plan-session';

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
  /** `all`: one plan per iteration signature of the session, as a plan set (plan-set.ts). */
  signatures?: string;
  /** set:ID or ID: grow that plan set (with --signatures all). */
  addTo?: string;
  json?: boolean;
}

export async function runPlanCommand(o: PlanCommandOptions): Promise<void> {
  if (!isPlannerName(o.algorithm)) {
    throw new UserError(`unknown --algorithm '${o.algorithm}'; expected one of ${PLANNER_NAMES.join(', ')}`);
  }
  const timeLimit = Number(o.timeLimit);
  if (!Number.isFinite(timeLimit) || timeLimit <= 0) throw new UserError(`--time-limit must be a positive number of seconds, got '${o.timeLimit}'`);
  if (o.signatures !== undefined) {
    if (o.signatures !== 'all') throw new UserError(`--signatures takes only 'all' (every iteration signature of the session), got '${o.signatures}'`);
    if (o.session === undefined) throw new UserError('--signatures goes with --session: it plans every iteration signature of a recorded session');
    if (o.instance !== undefined) throw new UserError('--signatures goes with --session, not --instance');
    if (o.iteration !== undefined) throw new UserError('give either --signatures all (every signature) or --iteration N (one iteration), not both');
    if (o.offsets !== undefined) throw new UserError('--offsets writes one plan\'s offsets; with --signatures use --out for the set file');
  }
  if (o.addTo !== undefined && o.signatures === undefined) throw new UserError('--add-to goes with --signatures all: it adds the plans of a session\'s new signatures to a plan set');
  const growSet = o.addTo === undefined ? undefined : parseSetRef(o.addTo);
  if ((o.instance === undefined) === (o.session === undefined)) {
    throw new UserError('give exactly one of --instance FILE.csv or --session ID');
  }
  // Outputs are checked before any work is done or stored (never over an input: issue 17).
  const inputs = o.instance !== undefined ? [o.instance] : databaseFiles(o.db);
  const inputWhat = o.instance !== undefined ? 'instance CSV' : 'database';
  if (o.out !== undefined && o.instance === undefined) checkOutputFile(o.out, { what: 'plan file', option: '--out', inputs, inputWhat });
  if (o.offsets !== undefined) checkOutputFile(o.offsets, { what: 'offsets CSV', option: '--offsets', inputs, inputWhat });
  if (o.out !== undefined && o.offsets !== undefined) checkDistinctOutputs({ path: o.out, option: '--out' }, { path: o.offsets, option: '--offsets' });
  if (o.signatures !== undefined) return planSetCommand(o, o.session!, timeLimit, growSet);
  if (o.session !== undefined) return planSessionCommand(o, o.session, timeLimit);
  if (o.iteration !== undefined) throw new UserError('--iteration goes with --session');
  const file = o.instance!;
  if (o.out) throw new UserError('--out writes a plan file for a recorded session; with --instance use --offsets');
  // Parsed in one pass over the bytes into typed arrays (no object per buffer: 10^6 rows).
  let inst: InstanceColumns;
  try {
    inst = parseInstanceColumns(readInputFile(file, 'instance CSV'), file);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${file}: ${(err as Error).message}`);
  }
  if (inst.n === 0) throw new UserError(`${file}: no buffers`);
  // Offsets up to the sum of sizes (and alignment padding) must stay exact doubles.
  let span = 0;
  for (let i = 0; i < inst.n; i++) span += inst.size[i] + inst.align[i] - 1;
  if (!(span <= Number.MAX_SAFE_INTEGER)) throw new UserError(`${file}: the sizes add up to more than 2^53-1 bytes, beyond what can be planned exactly`);
  const result = plan(o.algorithm, inst, { timeLimitSeconds: timeLimit });
  const rows = toRows(result, null);
  if (o.offsets) writeFileAtomic(o.offsets, offsetsCsvBytes(inst, result.offsets), 'offsets CSV');
  if (o.json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  printRows(rows, inst.n);
}

async function planSessionCommand(o: PlanCommandOptions, sessionId: number, timeLimit: number): Promise<void> {
  const db = openDatabase(o.db, { create: false, check: true });
  try {
    const { input, rows, best } = planSession(db, sessionId, {
      algorithm: o.algorithm as PlannerName,
      iteration: o.iteration,
      timeLimitSeconds: timeLimit,
      out: o.out,
      offsets: o.offsets,
    });
    if (o.json) {
      process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      return;
    }
    describeIteration(input);
    printRows(rows, input.buffers.length);
    process.stdout.write(`system allocator address span for the same buffers: ${fmtBytes(input.baselineSpanBytes)}\n`);
    process.stdout.write(`stored as plan ${best.plan_id} (best)${o.out ? `, plan file ${o.out}` : ''}\n`);
  } finally {
    db.close();
  }
}

/** `set:ID` or `ID`. */
function parseSetRef(s: string): number {
  const m = /^(?:set:)?(\d{1,15})$/.exec(s);
  if (!m || Number(m[1]) <= 0) throw new UserError(`--add-to takes a plan set id (set:ID or ID), got '${s}'`);
  return Number(m[1]);
}

async function planSetCommand(o: PlanCommandOptions, sessionId: number, timeLimit: number, growSet?: number): Promise<void> {
  const db = openDatabase(o.db, { create: false, check: true });
  try {
    const r = planSessionSet(db, sessionId, { algorithm: o.algorithm as PlannerName, timeLimitSeconds: timeLimit, out: o.out, growSet });
    if (o.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      return;
    }
    const n = r.plans.length;
    const how = `(${o.algorithm}, up to ${r.seconds_per_plan.toFixed(2)} s each${r.size_floor > 0 ? `, size floor ${r.size_floor} bytes` : ''})`;
    process.stdout.write(
      r.grown_from !== null
        ? `session ${sessionId}: ${n} new signature${n === 1 ? '' : 's'} added to plan set ${r.set_id}, now ${r.grown_from + n} plans ${how}\n`
        : `session ${sessionId}: ${n} signature${n === 1 ? '' : 's'} planned as plan set ${r.set_id} ${how}\n`,
    );
    const head = ['signature', 'iterations seen', 'buffers', 'arena bytes', 'lower bound', 'ratio', 'plan id'];
    const cells = r.plans.map((p) => [
      p.signature,
      p.iterations_seen.toLocaleString('en-US'),
      p.buffers.toLocaleString('en-US'),
      p.arena_bytes.toLocaleString('en-US'),
      p.lower_bound_bytes.toLocaleString('en-US'),
      p.ratio.toFixed(4),
      String(p.plan_id),
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
    process.stdout.write([line(head), ...cells.map(line)].join('\n') + '\n');
    for (const p of r.plans) {
      if (p.iteration_signatures.length > 1) process.stdout.write(`${p.signature}: iteration signatures ${p.iteration_signatures.join(', ')} are equal above the size floor: one plan\n`);
    }
    for (const l of r.left_out) process.stdout.write(`left out ${l.signature} (${l.iterations} iteration${l.iterations === 1 ? '' : 's'}): ${l.reason}\n`);
    if (r.out) process.stdout.write(`plan set file ${r.out}\n`);
  } finally {
    db.close();
  }
}

function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(2)} ${units[u]} (${n.toLocaleString('en-US')} bytes)`;
}

function describeIteration(input: IterationInput): void {
  const bytes = input.buffers.reduce((s, b) => s + b.size, 0);
  process.stdout.write(
    `session ${input.sessionId}, iteration ${input.number} (${input.chosenBecause})\n` +
      `${input.buffers.length.toLocaleString('en-US')} allocations planned (${fmtBytes(bytes)} allocated in total); ` +
      `${input.unplannable.count.toLocaleString('en-US')} outlive the iteration and are not plannable (${fmtBytes(input.unplannable.bytes)})\n` +
      (input.leftSmall.count > 0
        ? `${input.leftSmall.count.toLocaleString('en-US')} allocations of at most ${AMBIGUOUS_SMALL_BYTES} bytes (${fmtBytes(input.leftSmall.bytes)}) are left to the allocator beneath: ` +
          `the session was recorded with aten-op attribution, whose dispatch mode makes small allocations a plain run does not (record with --no-ops to plan them too)\n`
        : ''),
  );
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
