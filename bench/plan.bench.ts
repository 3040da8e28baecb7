/**
 * `npm run bench:plan`: the planners side by side.
 *
 * 1. Every instance CSV in ../shared/planning (relative to the repo root; --dir DIR): per
 *    instance and planner, arena / lower bound, seconds, optimal; then per planner the
 *    geometric mean and worst ratio, and how many instances the exact solver proves optimal.
 * 2. The recorded model zoo (resnet18, mobilenet_v2, transformer: recorded here with the
 *    example workload, the first steady-state iteration planned), the same figures.
 * 3. A synthetic 100,000-buffer instance: time of each greedy planner (target: under 2 s).
 *
 *   node dist/bench/plan.bench.js [--dir DIR] [--time-limit SECONDS] [--only SUBSTRING] [--no-models]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { prepare, readInstanceCsv, capacityFromName, plan, type Buffer, type PlannerResult } from '../main/plan';
import { openDatabase } from '../main/store/db';
import { loadIteration } from '../main/plan/iteration';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const repoRoot = resolve(__dirname, '..', '..');
const dir = resolve(flag('--dir') ?? join(repoRoot, '..', 'shared', 'planning'));
const timeLimit = Number(flag('--time-limit') ?? 10);
const only = flag('--only');
const HEURISTICS = ['greedy-size', 'greedy-breadth', 'first-fit', 'best-fit'];
const pad = (s: string | number, w: number): string => String(s).padStart(w);

interface Row {
  instance: string;
  results: PlannerResult[];
}

function runAll(name: string, buffers: Buffer[], cap?: number): Row {
  const pr = prepare(buffers);
  const results: PlannerResult[] = HEURISTICS.map((h) => plan(h, pr));
  const best = results.reduce((a, b) => (b.arenaBytes < a.arenaBytes ? b : a));
  results.push(plan('exact', pr, { timeLimitSeconds: timeLimit, initialOffsets: best.offsets }));
  for (const r of results) {
    console.log(
      [
        name.padEnd(40), pad(buffers.length, 7), pad(pr.lowerBound, 13), r.algorithm.padEnd(15), pad(r.arenaBytes, 13),
        pad((r.arenaBytes / pr.lowerBound).toFixed(4), 7), pad(r.seconds.toFixed(2), 8),
        ' ' + (r.optimal ? 'yes' : 'no') + (cap !== undefined && r.algorithm === 'exact' ? ` (capacity ${cap}: ${r.arenaBytes <= cap ? 'fits' : 'over'})` : ''),
      ].join(' '),
    );
  }
  return { instance: name, results };
}

function header(): void {
  console.log(['instance'.padEnd(40), pad('buffers', 7), pad('lower bound', 13), 'planner'.padEnd(15), pad('arena', 13), pad('ratio', 7), pad('seconds', 8), ' optimal'].join(' '));
}

function summary(title: string, rows: Row[]): void {
  console.log(`\n${title}: per planner, arena / lower bound over ${rows.length} instances`);
  console.log(['planner'.padEnd(15), pad('geomean', 8), pad('worst', 8), pad('max s', 8), pad('optimal', 8)].join(' '));
  for (const name of [...HEURISTICS, 'exact']) {
    const rs = rows.map((r) => r.results.find((x) => x.algorithm === name)!);
    const ratios = rs.map((r) => r.arenaBytes / r.lowerBound);
    const geo = Math.exp(ratios.reduce((s, x) => s + Math.log(x), 0) / ratios.length);
    console.log(
      [name.padEnd(15), pad(geo.toFixed(4), 8), pad(Math.max(...ratios).toFixed(4), 8), pad(Math.max(...rs.map((r) => r.seconds)).toFixed(2), 8), pad(`${rs.filter((r) => r.optimal).length}/${rs.length}`, 8)].join(' '),
    );
  }
}

function instances(): void {
  if (!existsSync(dir)) {
    console.log(`instances: no folder at ${dir}; skipped (give --dir DIR)`);
    return;
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.csv') && (!only || f.includes(only))).sort();
  console.log(`\n== ${files.length} instances from ${dir}, exact time limit ${timeLimit}s`);
  header();
  const rows = files.map((f) => runAll(f.replace(/\.csv$/, ''), readInstanceCsv(join(dir, f)).buffers, capacityFromName(f)));
  summary('instances', rows);
  const mm = rows.filter((r) => r.instance.startsWith('minimalloc'));
  if (mm.length) {
    const proven = mm.filter((r) => r.results.find((x) => x.algorithm === 'exact')!.optimal).length;
    console.log(`MiniMalloc's suite (solved optimally by MiniMalloc): exact proves ${proven} of ${mm.length} optimal within ${timeLimit} s each`);
  }
}

function models(): void {
  const tmp = mkdtempSync(join(os.tmpdir(), 'memoplan-plan-bench-'));
  const dbFile = join(tmp, 'zoo.db');
  const rows: Row[] = [];
  console.log(`\n== recorded model zoo (batch 1, first steady-state iteration), exact time limit ${timeLimit}s`);
  header();
  for (const model of ['resnet18', 'mobilenet_v2', 'transformer']) {
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'memoplan.js'), 'record', '--quiet', '--db', dbFile, '--name', model, '--',
      'python3', join(repoRoot, 'resources', 'workloads', 'torchvision_infer.py'), '--model', model, '--iterations', '2', '--warmup', '2'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`recording ${model} failed: ${r.stderr}`);
    const db = openDatabase(dbFile);
    const id = (db.prepare(`SELECT id FROM sessions WHERE name = ?`).get(model) as { id: number }).id;
    const input = loadIteration(db, id);
    db.close();
    rows.push(runAll(model, input.buffers));
  }
  summary('model zoo', rows);
  rmSync(tmp, { recursive: true, force: true });
}

function synthetic(): void {
  const n = 100_000;
  let s = 42;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const buffers: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const start = Math.floor(rnd() * 2 * n);
    buffers.push({ id: i, start, end: start + 1 + Math.floor(rnd() ** 3 * 2000), size: 64 * (1 + Math.floor(rnd() ** 2 * 16384)), align: 64 });
  }
  console.log(`\n== synthetic instance: ${n.toLocaleString('en-US')} buffers (greedy planners, target under 2 s each)`);
  const t0 = performance.now();
  const pr = prepare(buffers);
  console.log(`prepare (overlap index, lower bound): ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  for (const h of HEURISTICS) {
    const r = plan(h, pr);
    console.log(`${h.padEnd(15)} ${r.seconds.toFixed(2)} s   ratio ${(r.arenaBytes / r.lowerBound).toFixed(4)}`);
  }
}

instances();
if (!process.argv.includes('--no-models')) models();
synthetic();
