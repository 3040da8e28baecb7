/**
 * `npm run bench:plan`: the planners side by side, one row per instance, in one run.
 *
 * For every instance: buffers, the lower bound (peak live bytes), and for each planner its
 * arena / lower bound and seconds; for exact also the bound it proved and whether the plan
 * is proven optimal; for MiniMalloc's files whether the capacity in the name is met.
 *   1. Every instance CSV in ../shared/planning (relative to the repo root; --dir DIR).
 *   2. Generated perfect packings (a rectangle cut into buffers; the optimum is known: the
 *      capacity) of 20 to 1,000 buffers, generator seeds 1 and 2 (--seeds A,B,... for others:
 *      docs/PLANNER.md's figures use the held-out seeds 11,12,13,14; --kind guillotine, strips
 *      or skyline for main/plan/perfect-packing.ts's generators). Besides the planners
 *      above, skyline restarts alone (skyline.ts, for 40% of the limit, as `all` gives them) and
 *      `all` itself.
 *   3. The recorded model zoo (resnet18, mobilenet_v2, transformer: recorded here with the
 *      example workload on Debian's torch, and GPT-2 and BERT-base from hf_infer.py on the
 *      tests' torch 2.x venv (.venv-torch2) when it is there; the first steady-state iteration
 *      planned; each row names its torch version); --no-models skips it.
 *   4. Synthetic 100,000- and 1,000,000-buffer instances: the greedy planners' times (targets
 *      under 2 s each at 10^5; the portfolio under 30 s at 10^6). --no-large skips 10^6.
 * Then per planner over each group: geometric mean and worst ratio, slowest time.
 *
 *   node dist/bench/plan.bench.js [--dir DIR] [--time-limit SECONDS] [--only SUBSTRING] [--seeds A,B] [--kind KIND] [--no-models] [--no-large]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { prepare, prepareColumns, capacityFromName, plan, type Buffer, type PlannerResult, type Prepared } from '../main/plan';
import { readInstanceColumns } from '../main/plan/instance-file';
import { openDatabase } from '../main/store/db';
import { loadIteration } from '../main/plan/iteration';
import { skylineSearch } from '../main/plan/skyline';
import { perfectPacking as generatedPacking, PACKING_KINDS, type PackingKind } from '../main/plan/perfect-packing';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const repoRoot = resolve(__dirname, '..', '..');
const dir = resolve(flag('--dir') ?? join(repoRoot, '..', 'shared', 'planning'));
const timeLimit = Number(flag('--time-limit') ?? 10);
const only = flag('--only');
const seeds = (flag('--seeds') ?? '1,2').split(',').map(Number);
/** --kind guillotine|strips|skyline: main/plan/perfect-packing.ts's generator (mulberry32 seeds); default: the LCG one below. */
const kind = flag('--kind') as PackingKind | undefined;
if (kind && !PACKING_KINDS.includes(kind)) throw new Error(`--kind: one of ${PACKING_KINDS.join(', ')}`);
const HEURISTICS = ['greedy-size', 'greedy-breadth', 'first-fit', 'best-fit'];
const PLANNERS = [...HEURISTICS, 'exact'];
const pad = (s: string | number, w: number): string => String(s).padStart(w);

interface Row {
  instance: string;
  lowerBound: number;
  /** The known optimum (generated instances), when there is one. */
  optimum?: number;
  results: PlannerResult[];
}

function header(): void {
  const cells = ['instance'.padEnd(36), pad('buffers', 8), pad('lower bound', 14)];
  for (const p of PLANNERS) cells.push(pad(p, 16));
  cells.push(pad('proven bound', 14), ' exact result');
  console.log(cells.join(' '));
}

/** Each planner on one prepared instance; exact seeded with the best heuristic. One line. */
function runAll(name: string, pr: Prepared, cap?: number, optimum?: number): Row {
  const results: PlannerResult[] = HEURISTICS.map((h) => plan(h, pr));
  const seed = results.reduce((a, b) => (b.arenaBytes < a.arenaBytes ? b : a));
  const ex = plan('exact', pr, { timeLimitSeconds: timeLimit, initialOffsets: seed.offsets });
  results.push(ex);
  const base = optimum ?? pr.lowerBound;
  const cells = [name.slice(0, 36).padEnd(36), pad(pr.p.n, 8), pad(pr.lowerBound, 14)];
  for (const r of results) cells.push(pad(`${(r.arenaBytes / base).toFixed(4)} ${r.seconds.toFixed(2)}s`, 16));
  const proven = ex.provenLowerBound ?? pr.lowerBound;
  let verdict = ex.optimal ? 'optimal' : `<= ${((ex.arenaBytes / proven - 1) * 100).toFixed(2)}% above optimum`;
  if (cap !== undefined) verdict += `, capacity ${cap}: ${ex.arenaBytes <= cap ? 'fits' : 'OVER'}`;
  if (optimum !== undefined) verdict += `, known optimum ${optimum}: ${ex.arenaBytes === optimum ? 'reached' : 'missed'}`;
  cells.push(pad(proven, 14), ' ' + verdict);
  console.log(cells.join(' '));
  return { instance: name, lowerBound: pr.lowerBound, optimum, results };
}

function summary(title: string, rows: Row[], planners = PLANNERS): void {
  if (!rows.length) return;
  const what = rows.every((r) => r.optimum !== undefined) ? 'known optimum' : 'lower bound';
  console.log(`\n${title}: per planner, arena / ${what} over ${rows.length} instances`);
  console.log(['planner'.padEnd(15), pad('geomean', 8), pad('worst', 8), pad('max s', 8), pad('optimal', 8)].join(' '));
  for (const name of planners) {
    const rs = rows.filter((r) => r.results.some((x) => x.algorithm === name)).map((r) => ({ r: r.results.find((x) => x.algorithm === name)!, base: r.optimum ?? r.lowerBound }));
    if (!rs.length) continue;
    const ratios = rs.map(({ r, base }) => r.arenaBytes / base);
    const geo = Math.exp(ratios.reduce((s, x) => s + Math.log(x), 0) / ratios.length);
    console.log(
      [
        name.padEnd(15),
        pad(geo.toFixed(4), 8),
        pad(Math.max(...ratios).toFixed(4), 8),
        pad(Math.max(...rs.map(({ r }) => r.seconds)).toFixed(2), 8),
        pad(`${rs.filter(({ r }) => r.optimal).length}/${rs.length}`, 8),
      ].join(' '),
    );
  }
}

function instances(): void {
  if (!existsSync(dir)) {
    console.log(`instances: no folder at ${dir}; skipped (give --dir DIR)`);
    return;
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.csv') && (!only || f.includes(only))).sort();
  console.log(`\n== ${files.length} instances from ${dir}, exact time limit ${timeLimit}s (ratio to the lower bound, seconds)`);
  header();
  const rows = files.map((f) => runAll(f.replace(/\.csv$/, ''), prepareColumns(readInstanceColumns(join(dir, f))), capacityFromName(f)));
  summary('instances', rows);
  const mm = rows.filter((r) => r.instance.startsWith('minimalloc'));
  if (mm.length) {
    const fits = mm.filter((r) => {
      const cap = capacityFromName(r.instance + '.csv');
      return cap === undefined || r.results.find((x) => x.algorithm === 'exact')!.arenaBytes <= cap;
    }).length;
    const proven = mm.filter((r) => r.results.find((x) => x.algorithm === 'exact')!.optimal).length;
    console.log(`MiniMalloc's files: exact fits the capacity on ${fits} of ${mm.length} and proves ${proven} optimal, within ${timeLimit} s each`);
  }
}

/** The rectangle [0, horizon) x [0, capacity) cut into `pieces` buffers by random guillotine cuts. */
function perfectPacking(seed: number, pieces: number, horizon: number, capacity: number): Buffer[] {
  let s = seed >>> 0;
  const rnd = (): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const rects = [{ t0: 0, t1: horizon, o0: 0, o1: capacity }];
  for (let guard = 0; rects.length < pieces && guard < pieces * 20; guard++) {
    const k = Math.floor(rnd() * rects.length);
    const x = rects[k];
    if (rnd() < 0.5 && x.t1 - x.t0 >= 2) {
      const c = int(x.t0 + 1, x.t1 - 1);
      rects.splice(k, 1, { ...x, t1: c }, { ...x, t0: c });
    } else if (x.o1 - x.o0 >= 2) {
      const c = int(x.o0 + 1, x.o1 - 1);
      rects.splice(k, 1, { ...x, o1: c }, { ...x, o0: c });
    }
  }
  for (let i = rects.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [rects[i], rects[j]] = [rects[j], rects[i]];
  }
  return rects.map((x, i) => ({ id: i, start: x.t0, end: x.t1, size: x.o1 - x.o0 }));
}

function packings(): void {
  const cap = 1 << 20;
  console.log(`\n== generated perfect packings (optimum = ${cap}), exact time limit ${timeLimit}s (ratio to the optimum, seconds)`);
  header();
  const rows: Row[] = [];
  for (const pieces of [20, 50, 100, 200, 500, 1000]) {
    for (const seed of seeds) {
      if (only && !`packing-${pieces}-${seed}`.includes(only)) continue;
      const pr = prepare(kind ? generatedPacking(kind, seed, pieces, 2 * pieces, cap) : perfectPacking(seed * 7919 + pieces, pieces, 2 * pieces, cap));
      const row = runAll(`packing-${pieces}-${seed}`, pr, undefined, cap);
      // Skyline restarts alone, for the share of the limit `all` gives them, and `all` itself.
      const t0 = performance.now();
      const sky = skylineSearch(pr.p, t0 + 0.4 * timeLimit * 1000, cap);
      const skyS = (performance.now() - t0) / 1000;
      const all = plan('all', pr, { timeLimitSeconds: timeLimit });
      const skyCell = sky ? `${(sky.arenaBytes / cap).toFixed(4)} ${skyS.toFixed(2)}s (${sky.runs} runs)` : 'no run finished';
      console.log(`${''.padEnd(36)} skyline ${skyCell}; all ${(all.arenaBytes / cap).toFixed(4)} ${all.seconds.toFixed(2)}s${all.optimal ? ' optimal' : ''}`);
      if (sky) row.results.push({ ...all, algorithm: 'skyline', arenaBytes: sky.arenaBytes, seconds: skyS, optimal: sky.arenaBytes === cap });
      row.results.push({ ...all, algorithm: 'all' });
      rows.push(row);
    }
  }
  summary('perfect packings', rows, [...PLANNERS, 'skyline', 'all']);
}

function models(): void {
  const tmp = mkdtempSync(join(os.tmpdir(), 'memoplan-plan-bench-'));
  const dbFile = join(tmp, 'zoo.db');
  const rows: Row[] = [];
  console.log(`\n== recorded model zoo (batch 1, first steady-state iteration), exact time limit ${timeLimit}s`);
  header();
  const torch2 = join(repoRoot, '.venv-torch2', 'bin', 'python');
  const zoo: { model: string; python: string[]; workload: string[] }[] = ['resnet18', 'mobilenet_v2', 'transformer'].map((model) => ({
    model,
    python: [],
    workload: [join(repoRoot, 'resources', 'workloads', 'torchvision_infer.py'), '--model', model],
  }));
  if (existsSync(torch2)) {
    for (const model of ['gpt2', 'bert']) {
      zoo.push({ model: `hf:${model} seq 32`, python: ['--python', torch2], workload: [join(repoRoot, 'resources', 'workloads', 'hf_infer.py'), '--model', model, '--seq-len', '32'] });
    }
  } else console.log(`(no ${torch2}: the Hugging Face zoo on torch 2.x is left out; npm run bench:plan makes it)`);
  for (const { model, python, workload } of zoo) {
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'memoplan.js'), 'record', '--quiet', '--db', dbFile, '--name', model, ...python, '--',
      'python3', ...workload, '--iterations', '2', '--warmup', '2'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`recording ${model} failed: ${r.stderr}`);
    const db = openDatabase(dbFile);
    const { id, torch_version: torch } = db.prepare(`SELECT id, torch_version FROM sessions WHERE name = ?`).get(model) as { id: number; torch_version: string | null };
    const input = loadIteration(db, id);
    db.close();
    rows.push(runAll(`${model} (torch ${torch ?? '?'})`, prepare(input.buffers)));
  }
  summary('model zoo', rows);
  rmSync(tmp, { recursive: true, force: true });
}

function synthetic(n: number): void {
  let s = 42;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const start = new Float64Array(n);
  const end = new Float64Array(n);
  const size = new Float64Array(n);
  const align = new Float64Array(n).fill(64);
  for (let i = 0; i < n; i++) {
    start[i] = Math.floor(rnd() * 2 * n);
    end[i] = start[i] + 1 + Math.floor(rnd() ** 3 * 2000);
    size[i] = 64 * (1 + Math.floor(rnd() ** 2 * 16384));
  }
  const ids = new Float64Array(n).map((_, i) => i);
  console.log(`\n== synthetic instance: ${n.toLocaleString('en-US')} buffers (greedy planners; seconds include validating the plan)`);
  const t0 = performance.now();
  const pr = prepareColumns({ n, start, end, size, align, hasAlign: true, ids });
  const prep = (performance.now() - t0) / 1000;
  console.log(`prepare (overlap index, lower bound): ${prep.toFixed(2)} s`);
  let total = prep;
  for (const h of HEURISTICS) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    const r = plan(h, pr);
    const wall = (performance.now() - w0) / 1000;
    const cpu = process.cpuUsage(c0);
    total += wall;
    console.log(`${h.padEnd(15)} ${wall.toFixed(2)} s (cpu ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s)   ratio ${(r.arenaBytes / r.lowerBound).toFixed(4)}`);
  }
  const mem = process.memoryUsage();
  console.log(`portfolio total ${total.toFixed(2)} s; heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB, typed arrays ${(mem.arrayBuffers / 2 ** 20).toFixed(0)} MiB`);
}

instances();
packings();
if (!process.argv.includes('--no-models')) models();
synthetic(100_000);
if (!process.argv.includes('--no-large')) synthetic(1_000_000);
