/**
 * `npm run bench:replay`:
 * 1. Step-through query latency: a recorded resnet18 iteration's best plan indexed once, then
 *    1,000 random event indices: median and worst milliseconds per query.
 * 2. Plan mode's hot path: the same recorded iteration's allocation sequence replayed by
 *    native/tests/seq_bench under glibc and under the interposer in plan mode (and jemalloc,
 *    tcmalloc, mimalloc where installed), interleaved: ns per alloc/free pair.
 * 3. The same arms under callgrind (when valgrind is installed): instructions per alloc/free
 *    pair, from the difference of a 30- and a 10-iteration run (start-up and plan loading
 *    cancel out). The stable figure: times here vary by 10% from run to run, counts do not.
 *
 * Env: BENCH_REPS (default 5), BENCH_ITERATIONS (default 300), BENCH_MODEL (resnet18),
 * BENCH_CALLGRIND=0 skips part 3.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../main/store/db';
import { loadStepper } from '../main/replay/step';
import { iterationSequence } from '../main/replay/sequence';
import { interposerPath, PACKAGE_ROOT } from '../main/paths';
import { ENV } from '../shared/env-vars';

const REPS = Number(process.env.BENCH_REPS ?? 5);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 300);
const MODEL = process.env.BENCH_MODEL ?? 'resnet18';
const BIN = path.join(PACKAGE_ROOT, 'bin', 'memoplan.js');
const LIBDIR = '/usr/lib/x86_64-linux-gnu';

function cli(args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`memoplan ${args[0]} failed: ${r.stderr}`);
  return r.stdout;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memoplan-replay-bench-'));
  const dbFile = path.join(dir, 'r.db');
  const planFile = path.join(dir, 'r.plan');
  const workload = path.join(PACKAGE_ROOT, 'resources', 'workloads', 'torchvision_infer.py');
  process.stderr.write(`recording ${MODEL} and planning it...\n`);
  cli(['record', '--quiet', '--no-ops', '--db', dbFile, '--', 'python3', workload, '--model', MODEL, '--iterations', '2', '--warmup', '2']);
  const rows = JSON.parse(cli(['plan', '--db', dbFile, '--session', '1', '--algorithm', 'all', '--time-limit', '5', '--json', '--out', planFile])) as {
    plan_id: number; best: boolean; buffers: number;
  }[];
  const best = rows.find((r) => r.best)!;

  const db = openDatabase(dbFile);
  const t0 = performance.now();
  const stepper = loadStepper(db, best.plan_id);
  const built = performance.now() - t0;
  const times: number[] = [];
  let s = 12345;
  for (let q = 0; q < 1000; q++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const k = s % stepper.events;
    const t = performance.now();
    stepper.at(k);
    times.push(performance.now() - t);
  }
  console.log(`\nstep-through, ${MODEL} plan ${best.plan_id}: ${best.buffers.toLocaleString('en-US')} planned buffers, ${stepper.events.toLocaleString('en-US')} events`);
  console.log(`index built in ${built.toFixed(1)} ms; 1,000 random k: median ${median(times).toFixed(3)} ms, worst ${Math.max(...times).toFixed(3)} ms (goal: < 20 ms)`);

  const seqFile = path.join(dir, 'iteration.seq');
  fs.writeFileSync(seqFile, iterationSequence(db, 1));
  db.close();
  const seqBench = path.join(PACKAGE_ROOT, 'build', 'native', 'seq_bench');
  const arms: { name: string; env: NodeJS.ProcessEnv }[] = [{ name: 'glibc', env: {} }];
  for (const [name, lib] of [['jemalloc', 'libjemalloc.so.2'], ['tcmalloc', 'libtcmalloc_minimal.so.4'], ['mimalloc', 'libmimalloc.so.2']]) {
    if (fs.existsSync(path.join(LIBDIR, lib))) arms.push({ name, env: { LD_PRELOAD: path.join(LIBDIR, lib) } });
  }
  const stats = path.join(dir, 'plan-stats.json');
  arms.push({ name: 'plan', env: { LD_PRELOAD: interposerPath(), [ENV.PLAN]: planFile, [ENV.PLAN_STATS]: stats } });
  const results = new Map<string, number[]>(arms.map((a) => [a.name, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const arm of arms) {
      const r = spawnSync(seqBench, [seqFile, String(ITERATIONS), '3'], { encoding: 'utf8', env: { ...process.env, ...arm.env } });
      const m = /ns_per_pair=([\d.]+)/.exec(r.stdout);
      if (r.status !== 0 || !m) throw new Error(`seq_bench under ${arm.name} failed: ${r.stderr}`);
      results.get(arm.name)!.push(Number(m[1]));
    }
  }
  const planStats = fs.existsSync(stats) ? JSON.parse(fs.readFileSync(stats, 'utf8').trim().split('\n').pop()!) : null;
  const base = median(results.get('glibc')!);
  console.log(`\nhot path: ${MODEL}'s recorded iteration replayed by seq_bench, ${ITERATIONS} iterations x ${REPS} interleaved runs`);
  console.log(`${'allocator'.padEnd(10)} ${'ns/pair'.padStart(9)} ${'/glibc'.padStart(7)}   runs`);
  for (const [name, xs] of results) {
    console.log(`${name.padEnd(10)} ${median(xs).toFixed(1).padStart(9)} ${(median(xs) / base).toFixed(3).padStart(7)}   ${xs.map((x) => x.toFixed(0)).join(' ')}`);
  }
  if (planStats) {
    const rate = planStats.hits / Math.max(1, planStats.hits + planStats.misses);
    console.log(`plan mode (last run): status ${planStats.status}, hits ${planStats.hits}, misses ${planStats.misses} (${(100 * rate).toFixed(2)}%), arena ${planStats.arena_bytes} bytes`);
  }
  if (process.env.BENCH_CALLGRIND !== '0' && spawnSync('valgrind', ['--version']).status === 0) {
    const pairs = Number(fs.readFileSync(seqFile, 'utf8').split('\n', 1)[0]);
    const ir = (arm: (typeof arms)[number], iterations: number): number => {
      const out = path.join(dir, `cg.${arm.name}.${iterations}`);
      const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, seqBench, seqFile, String(iterations), '3'], { encoding: 'utf8', env: { ...process.env, ...arm.env } });
      const m = /Collected : (\d+)/.exec(r.stderr);
      if (r.status !== 0 || !m) throw new Error(`seq_bench under callgrind (${arm.name}) failed: ${r.stderr.slice(-500)}`);
      return Number(m[1]);
    };
    console.log(`\nhot path under callgrind: instructions per alloc/free pair (30 minus 10 iterations of ${pairs.toLocaleString('en-US')} pairs; seq_bench's own loop included)`);
    const counts = arms.map((arm) => ({ name: arm.name, perPair: (ir(arm, 30) - ir(arm, 10)) / (20 * pairs) }));
    const plan = counts.find((c) => c.name === 'plan')!.perPair;
    for (const c of counts) console.log(`${c.name.padEnd(10)} ${c.perPair.toFixed(1).padStart(9)} Ir/pair   plan/${c.name} ${(plan / c.perPair).toFixed(3)}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main();
