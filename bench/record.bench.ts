/**
 * `npm run bench:record`: what recording costs, measured side by side in one run.
 *
 * 1. The torch workload (resnet18, batch 1, 30 iterations, whole process) run plain, under
 *    `memoplan record`, and under heaptrack, interleaved (plain, memoplan, heaptrack, plain, ...)
 *    so that drift hits every arm alike. Reports median wall times, the ratios to plain, the
 *    share of heaptrack's overhead that memoplan adds, and the ingest rate (events stored per
 *    second of ingest work).
 * 2. The C churn program (bench_churn) under `memoplan record` as a user runs it, trace on
 *    /dev/shm and on disk, interleaved with plain and heaptrack runs (bench/record-churn.ts):
 *    ns per malloc/free event the target pays, against the goal of +15 ns, and a check that
 *    every event was stored.
 * 3. The C churn micro-benchmark (native/tests/bench.sh): ns per malloc/free event at 1 and 2
 *    threads, plain, the interposer's parts alone (hot path, trace pages), under heaptrack.
 *
 * Env: BENCH_REPS (default 5), BENCH_ITERATIONS (30), BENCH_PAIRS (churn pairs per thread,
 * 2,000,000), BENCH_SKIP_TORCH=1 (only the churn parts), BENCH_SKIP_MICRO=1 (no bench.sh),
 * BENCH_UNPACED=1 (also the churn record arms with memoplan-ingest at full speed throughout).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../main/store/db';
import { record } from '../main/record/record';
import { PACKAGE_ROOT } from '../main/paths';
import { ENV } from '../shared/env-vars';
import { recordChurn } from './record-churn';

const REPS = Number(process.env.BENCH_REPS ?? 5);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 30);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 2000000);
const PYTHON = process.env[ENV.PYTHON] ?? '/usr/bin/python3';
const WORKLOAD = path.join(PACKAGE_ROOT, 'resources', 'workloads', 'torchvision_infer.py');
const ARGS = [WORKLOAD, '--model', 'resnet18', '--batch', '1', '--iterations', String(ITERATIONS), '--warmup', '0'];

/** The torch version an interpreter imports (each figure names it). */
function torchVersion(python: string): string {
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '?';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function spread(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0].toFixed(2)}..${s[s.length - 1].toFixed(2)}`;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr}`);
  return s;
}

async function torchArms(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memoplan-bench-'));
  const dbFile = path.join(dir, 'bench.db');
  const hasHeaptrack = spawnSync('sh', ['-c', 'command -v heaptrack']).status === 0;
  const plain: number[] = [];
  const recTarget: number[] = [];
  const recTotal: number[] = [];
  const heap: number[] = [];
  const rates: number[] = [];
  let events = 0;
  for (let rep = 1; rep <= REPS; rep++) {
    process.stderr.write(`torch workload: repetition ${rep}/${REPS}\n`);
    plain.push(timed(PYTHON, ARGS));
    const db = openDatabase(dbFile);
    const t0 = process.hrtime.bigint();
    const r = await record({ db, dbFile, command: [PYTHON, ...ARGS], stdio: 'pipe', name: `bench-${rep}` });
    recTotal.push(Number(process.hrtime.bigint() - t0) / 1e9);
    db.close();
    if (r.exitCode !== 0) throw new Error(`recorded run failed: ${r.stderr}`);
    recTarget.push(r.targetSeconds);
    rates.push(r.summary.events / r.ingestSeconds);
    events = r.summary.events;
    if (hasHeaptrack) heap.push(timed('heaptrack', ['-o', path.join(dir, `ht-${rep}`), PYTHON, ...ARGS]));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const p = median(plain);
  const row = (name: string, xs: number[]) =>
    `${name.padEnd(34)} ${median(xs).toFixed(2).padStart(7)} s   ${(median(xs) / p).toFixed(3).padStart(6)}x   (${spread(xs)})`;
  console.log(`\nresnet18 on torch ${torchVersion(PYTHON)} (${PYTHON}), batch 1, ${ITERATIONS} iterations, whole process; ${REPS} interleaved repetitions; ${events.toLocaleString('en-US')} events per recorded run`);
  console.log(`${'arm'.padEnd(34)} ${'median'.padStart(9)}   ${'/plain'.padStart(7)}   (min..max)`);
  console.log(row('plain', plain));
  console.log(row('memoplan record: target', recTarget));
  console.log(row('memoplan record: until stored', recTotal));
  if (heap.length) console.log(row('heaptrack', heap));
  if (heap.length) {
    const share = (median(recTarget) - p) / (median(heap) - p);
    const shareTotal = (median(recTotal) - p) / (median(heap) - p);
    console.log(`memoplan overhead / heaptrack overhead: ${share.toFixed(3)} (target), ${shareTotal.toFixed(3)} (until stored); goal <= 0.333`);
  } else console.log('heaptrack not installed: apt-get install heaptrack');
  console.log(`ingest rate: median ${Math.round(median(rates)).toLocaleString('en-US')} events/s of ingest work (${rates.map((r) => Math.round(r / 1000) + 'k').join(', ')})`);
}

function micro(): void {
  console.log('\nC churn micro-benchmark (native/tests/bench.sh, no torch): ns per malloc or free event');
  const r = spawnSync('bash', [path.join(PACKAGE_ROOT, 'native', 'tests', 'bench.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, REPS: String(REPS), PAIRS: String(PAIRS) },
  });
  if (r.status !== 0) throw new Error('micro-benchmark failed');
}

async function main(): Promise<void> {
  if (process.env.BENCH_SKIP_TORCH !== '1') await torchArms();
  const failures = recordChurn({ reps: REPS, pairs: PAIRS, unpaced: process.env.BENCH_UNPACED === '1' });
  if (process.env.BENCH_SKIP_MICRO !== '1') micro();
  if (failures.length) throw new Error(`${failures.length} recorded churn run(s) did not store every event`);
}

main().catch((err) => {
  console.error(`bench:record: ${(err as Error).message}`);
  process.exit(1);
});
