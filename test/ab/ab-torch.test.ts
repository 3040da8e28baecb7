import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { PLAN_SERVED_MIN_HIT_RATE } from '../../main/ab/analysis';
import { compare, median, summarize } from '../../main/ab/stats';
import { openDatabase } from '../../main/store/db';
import { runCli, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * A short real A/B: resnet18, batch 1, 2 runs per arm, glibc vs jemalloc (and the plan arm,
 * from a --no-ops recording), at 1 and 2 serving threads. Checks that every kept sample is in
 * SQLite and that the statistics printed are those recomputed from the stored samples.
 */

const dir = tmpDir('memoplan-ab-torch-');
const dbFile = path.join(dir, 'ab.db');
const WARMUP = 1;
const ITERATIONS = 4;
const RUNS = 2;
const WORKLOAD_ARGS = [WORKLOAD, '--model', 'resnet18', '--batch', '1', '--iterations', String(WARMUP + ITERATIONS), '--warmup', '0'];

interface Arm {
  allocator: string;
  threads: number;
  status: string;
  samples: number;
  median_ms: number;
  median_ci_low_ms: number;
  median_ci_high_ms: number;
  p90_ms: number;
  p90_ci_low_ms: number;
  p90_ci_high_ms: number;
  p99_ms: number;
  p99_ci_low_ms: number;
  p99_ci_high_ms: number;
  median_ratio: number;
  ratio_ci_low: number;
  ratio_ci_high: number;
  verdict: string;
  p99_ratio: number;
  peak_rss_bytes: number;
  minor_faults: number;
  voluntary_cs: number;
  threads_seen: number;
  plan_status: string | null;
  plan_hits: number | null;
  plan_misses: number | null;
  plan_hit_rate: number | null;
  plan_note: string | null;
}

test('A/B of resnet18 under glibc, jemalloc and a plan: stored samples, statistics recomputed from SQLite', async (t) => {
  // A plan for the plan arm: recorded without aten-op attribution, like the A/B runs.
  const rec = await runCli(['record', '--quiet', '--no-ops', '--db', dbFile, '--name', 'for-plan', '--', 'python3', ...WORKLOAD_ARGS]);
  assert.equal(rec.code, 0, rec.stderr);
  const planFile = path.join(dir, 'resnet18.plan');
  const pl = await runCli(['plan', '--db', dbFile, '--session', '1', '--algorithm', 'best-fit', '--out', planFile]);
  assert.equal(pl.code, 0, pl.stderr);

  const r = await runCli([
    'ab', '--db', dbFile, '--json', '--allocators', 'glibc,jemalloc,plan', '--plan', planFile, '--threads', '1,2',
    '--runs', String(RUNS), '--warmup', String(WARMUP), '--iterations', String(ITERATIONS), '--', 'python3', ...WORKLOAD_ARGS,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /ab \[1\/12\] glibc x1 thread\(s\), run 1\/2, elapsed 0:00/, 'progress on stderr');
  assert.match(r.stderr, /ab \[12\/12\] plan x2 thread\(s\), run 2\/2, elapsed \d+:\d\d, ETA \d+:\d\d/);
  const out = JSON.parse(r.stdout) as { ab_run_id: number; seed: number; resamples: number; arms: Arm[] };
  assert.equal(out.arms.length, 6);
  assert.deepEqual(out.arms.map((a) => `${a.allocator}x${a.threads}`), ['glibcx1', 'jemallocx1', 'planx1', 'glibcx2', 'jemallocx2', 'planx2']);

  const db = openDatabase(dbFile);
  const run = db.prepare(`SELECT seed, resamples, status FROM ab_runs WHERE id = ?`).get(out.ab_run_id) as { seed: number; resamples: number; status: string };
  assert.equal(run.status, 'complete');
  assert.equal(run.seed, out.seed);
  // The raw samples of an arm, one array per process (run), in launch order.
  const runsOf = (allocator: string, threads: number): number[][] => {
    const rows = db
      .prepare(
        `SELECT s.process_id AS p, s.latency_ns AS ns FROM ab_samples s JOIN ab_processes p ON p.id = s.process_id JOIN ab_arms a ON a.id = p.arm_id
         WHERE a.ab_run_id = ? AND a.allocator = ? AND a.threads = ? ORDER BY p.seq, s.thread_index, s.iteration`,
      )
      .all(out.ab_run_id, allocator, threads) as { p: number; ns: number }[];
    const by = new Map<number, number[]>();
    for (const r of rows) by.set(r.p, [...(by.get(r.p) ?? []), r.ns]);
    return [...by.values()];
  };
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-9 * Math.abs(b), `${what}: ${a} vs ${b}`);

  for (const arm of out.arms) {
    const what = `${arm.allocator} x${arm.threads}`;
    assert.equal(arm.status, 'ok', what);
    assert.equal(arm.threads_seen, arm.threads, `${what}: the workload ran MEMOPLAN_SERVING_THREADS threads`);
    // every kept sample is stored: runs x threads x iterations
    const runs = runsOf(arm.allocator, arm.threads);
    assert.equal(runs.length, RUNS, what);
    const xs = runs.flat();
    assert.equal(xs.length, RUNS * arm.threads * ITERATIONS, what);
    assert.equal(arm.samples, xs.length, what);
    const perProcess = db
      .prepare(
        `SELECT p.status, count(s.latency_ns) AS n, count(DISTINCT s.thread_index) AS threads FROM ab_processes p JOIN ab_arms a ON a.id = p.arm_id
         LEFT JOIN ab_samples s ON s.process_id = p.id WHERE a.ab_run_id = ? AND a.allocator = ? AND a.threads = ? GROUP BY p.id`,
      )
      .all(out.ab_run_id, arm.allocator, arm.threads) as { status: string; n: number; threads: number }[];
    assert.deepEqual(perProcess, Array.from({ length: RUNS }, () => ({ status: 'ok', n: arm.threads * ITERATIONS, threads: arm.threads })), what);
    assert.ok(xs.every((ns) => ns > 1e6 && ns < 60e9), `${what}: latencies are milliseconds`);

    // the printed statistics are those of the stored samples
    const s = summarize(runs, { seed: run.seed, resamples: run.resamples });
    close(arm.median_ms, s.median.value / 1e6, `${what} median`);
    close(arm.median_ci_low_ms, s.median.ci.low / 1e6, `${what} median CI low`);
    close(arm.median_ci_high_ms, s.median.ci.high / 1e6, `${what} median CI high`);
    close(arm.p90_ms, s.p90.value / 1e6, `${what} p90`);
    close(arm.p90_ci_low_ms, s.p90.ci.low / 1e6, `${what} p90 CI low`);
    close(arm.p99_ms, s.p99.value / 1e6, `${what} p99`);
    close(arm.p99_ci_high_ms, s.p99.ci.high / 1e6, `${what} p99 CI high`);
    assert.ok(arm.median_ci_low_ms <= arm.median_ms && arm.median_ms <= arm.median_ci_high_ms, `${what}: the median lies in its interval`);
    const base = runsOf('glibc', arm.threads);
    if (arm.allocator === 'glibc') {
      assert.equal(arm.verdict, 'baseline');
      assert.equal(arm.median_ratio, 1);
    } else {
      const c = compare(runs, base, { seed: run.seed, resamples: run.resamples });
      close(arm.median_ratio, c.median.ratio, `${what} ratio`);
      close(arm.median_ratio, median(xs) / median(base.flat()), `${what} ratio of medians`);
      close(arm.ratio_ci_low, c.median.ci.low, `${what} ratio CI low`);
      close(arm.ratio_ci_high, c.median.ci.high, `${what} ratio CI high`);
      close(arm.p99_ratio, c.p99.ratio, `${what} p99 ratio`);
      // A plan arm that served under 99% of its allocations (a short run: its first served
      // iteration may still miss a few) is marked and gets no verdict of its own.
      const unserved = arm.allocator === 'plan' && (arm.plan_hit_rate === null || arm.plan_hit_rate < PLAN_SERVED_MIN_HIT_RATE);
      assert.equal(arm.plan_note !== null, unserved, `${what}: note ${arm.plan_note}, hit rate ${arm.plan_hit_rate}`);
      const byInterval = arm.ratio_ci_high < 1 ? 'faster' : arm.ratio_ci_low > 1 ? 'slower' : 'no detectable difference';
      assert.equal(arm.verdict, unserved ? null : byInterval, what);
    }
    const rss = (
      db.prepare(`SELECT p.peak_rss_bytes AS v FROM ab_processes p JOIN ab_arms a ON a.id = p.arm_id WHERE a.ab_run_id = ? AND a.allocator = ? AND a.threads = ?`)
        .all(out.ab_run_id, arm.allocator, arm.threads) as { v: number }[]
    ).map((x) => x.v);
    assert.equal(arm.peak_rss_bytes, median(rss), `${what}: peak RSS is the median over runs`);
    assert.ok(arm.peak_rss_bytes > 50 * 1024 * 1024, `${what}: torch's RSS is tens of MiB at least`);
    assert.ok(arm.minor_faults > 1000, `${what}: page faults counted`);
    assert.ok(arm.voluntary_cs >= 0);
  }

  // The plan arm: counters from MEMOPLAN_PLAN_STATS when the interposer has plan mode.
  for (const arm of out.arms.filter((a) => a.allocator === 'plan')) {
    if (arm.plan_status === null) {
      t.diagnostic(`plan x${arm.threads}: no MEMOPLAN_PLAN_STATS written (interposer without plan mode): stored as nulls`);
      assert.equal(arm.plan_hits, null);
      continue;
    }
    assert.equal(arm.plan_status, 'serving', `plan x${arm.threads}`);
    assert.ok(arm.plan_hits! > 0, `plan x${arm.threads}: hits ${arm.plan_hits}`);
    assert.ok(arm.plan_hit_rate! > 0.5, `plan x${arm.threads}: hit rate ${arm.plan_hit_rate}`);
  }
  db.close();

  // The human table: one per thread count, every arm with its ratio and verdict.
  const human = await runCli(['ab', '--db', dbFile, '--quiet', '--allocators', 'glibc', '--runs', '1', '--warmup', String(WARMUP), '--', 'python3', ...WORKLOAD_ARGS]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /1 serving thread \(ratios vs glibc; below 1 is faster\)/);
  assert.match(human.stdout, /^glibc\s+4\s+[\d.]+ \[[\d.]+, [\d.]+\]/m);
});
