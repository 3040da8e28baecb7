import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyze } from '../../main/ab/analysis';
import type { StoredAbRun, StoredArm, StoredProcess } from '../../main/store/ab-runs';

/**
 * The A/B verdicts computed from stored rows: peak RSS gets a ratio, an interval and a verdict
 * of its own, and a plan arm that did not run its plan (refused, or under 99% served) keeps its
 * ratios but gets no latency verdict.
 */

let nextId = 1;
function proc(rssMiB: number, plan: Partial<StoredProcess> = {}): StoredProcess {
  const id = nextId++;
  return {
    id, run_index: id, seq: id, status: 'ok', reason: null, exit_code: 0, signal: null, wall_ns: 1e9,
    peak_rss_bytes: rssMiB * 2 ** 20, minor_faults: 1000, major_faults: 0, voluntary_cs: 1, involuntary_cs: 1, threads_seen: 1,
    plan_status: null, plan_hits: null, plan_misses: null, plan_hit_bytes: null, plan_miss_bytes: null, plan_refusal: null, ...plan,
  };
}

function arm(position: number, allocator: string, rss: number[], latencyMs: number, plan: Partial<StoredProcess> = {}): StoredArm {
  const groups = rss.map((_, r) => Array.from({ length: 20 }, (__, i) => (latencyMs + 0.01 * ((i * 7 + r) % 5)) * 1e6));
  return { id: position + 1, position, allocator, library: null, threads: 1, status: 'ok', reason: null, processes: rss.map((m) => proc(m, plan)), samples: groups.flat(), groups };
}

function run(arms: StoredArm[]): StoredAbRun {
  return { id: 1, command: ['x'], config: { baseline: 'glibc', runs: 3, warmup: 1, iterations: null, threads: [1], skipped: [] }, seed: 7, resamples: 500, status: 'complete', arms };
}

test('peak RSS: ratio to the baseline with an interval over runs, and a verdict', () => {
  const r = analyze(run([arm(0, 'glibc', [100, 101, 102], 10), arm(1, 'tcmalloc', [150, 151, 152], 8), arm(2, 'jemalloc', [80, 81, 82], 12), arm(3, 'mimalloc', [99, 101, 103], 10)]));
  const by = Object.fromEntries(r.arms.map((a) => [a.allocator, a]));
  assert.equal(by.glibc.rss_verdict, 'baseline');
  assert.equal(by.glibc.rss_ratio, 1);
  assert.ok(Math.abs(by.tcmalloc.rss_ratio! - 151 / 101) < 1e-9, String(by.tcmalloc.rss_ratio));
  assert.ok(by.tcmalloc.rss_ratio_ci_low! > 1 && by.tcmalloc.rss_ratio_ci_high! >= by.tcmalloc.rss_ratio!);
  assert.equal(by.tcmalloc.rss_verdict, 'larger');
  assert.equal(by.jemalloc.rss_verdict, 'smaller');
  assert.equal(by.mimalloc.rss_verdict, 'no detectable difference');
  assert.equal(by.tcmalloc.verdict, 'faster');
});

test('a plan arm that did not run its plan gets no latency verdict, and says why', () => {
  const served = { plan_status: 'serving', plan_hits: 995, plan_misses: 5, plan_hit_bytes: 1, plan_miss_bytes: 0 };
  const r = analyze(
    run([
      arm(0, 'glibc', [100, 100, 100], 10),
      arm(1, 'plan', [100, 100, 100], 5, served),
      arm(2, 'plan+tcmalloc', [100, 100, 100], 5, { ...served, plan_hits: 900, plan_misses: 100 }),
      arm(3, 'plan+jemalloc', [100, 100, 100], 5, { plan_status: 'refused', plan_hits: 0, plan_misses: 0, plan_refusal: 'signature mismatch on thread 1' }),
    ]),
  );
  const by = Object.fromEntries(r.arms.map((a) => [a.allocator, a]));
  assert.equal(by.plan.plan_note, null);
  assert.equal(by.plan.verdict, 'faster');
  assert.match(by['plan+tcmalloc'].plan_note!, /90\.0% of allocations/);
  assert.equal(by['plan+tcmalloc'].verdict, null);
  assert.equal(by['plan+tcmalloc'].p99_verdict, null);
  assert.ok(by['plan+tcmalloc'].median_ratio! < 1, 'the ratio is kept');
  assert.match(by['plan+jemalloc'].plan_note!, /not served in every run \(refused: signature mismatch/);
  assert.equal(by['plan+jemalloc'].verdict, null);
});
