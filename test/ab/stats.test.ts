import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compare, median, mulberry32, quantile, quantileSorted, summarize, verdictOf } from '../../main/ab/stats';
import { parseLatencies } from '../../main/ab/latency';

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${msg ?? ''} ${a} != ${b}`);

test('quantiles: linear interpolation between closest ranks (type 7), by hand', () => {
  // [1,2,3,4]: h = 3p. p50: h=1.5 -> 2.5; p90: h=2.7 -> 3.7; p99: h=2.97 -> 3.97
  close(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  close(quantileSorted([1, 2, 3, 4], 0.9), 3.7);
  close(quantileSorted([1, 2, 3, 4], 0.99), 3.97);
  assert.equal(quantileSorted([1, 2, 3, 4], 0), 1);
  assert.equal(quantileSorted([1, 2, 3, 4], 1), 4);
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([7]), 7);
  // unsorted input; numeric (not lexicographic) order: 10 > 9
  assert.equal(median([10, 9, 2, 100]), 9.5);
  close(quantile([50, 10, 40, 20, 30], 0.9), 46); // h = 3.6 -> 40 + 0.6*10
  assert.ok(Number.isNaN(quantileSorted([], 0.5)));
});

test('mulberry32: the reference sequence for seed 42', () => {
  const r = mulberry32(42);
  assert.deepEqual([r(), r(), r()], [0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
});

// The expected intervals below were computed by an independent implementation (Python) of the
// same procedure: mulberry32(seed), index = floor(u * n), type-7 quantiles, 2.5/97.5 percentiles.
const XS = [12, 15, 11, 30, 14, 13, 16, 12, 18, 50];
const YS = [10, 11, 10, 12, 9, 10, 11, 10, 30, 10];

test('bootstrap intervals of median, p90, p99 with a fixed seed', () => {
  const s = summarize(XS, { seed: 42, resamples: 200 });
  assert.equal(s.n, 10);
  close(s.median.value, 14.5);
  close(s.median.ci.low, 12);
  close(s.median.ci.high, 18.0875);
  close(s.p90.value, 32);
  close(s.p90.ci.low, 15.295);
  close(s.p90.ci.high, 50);
  close(s.p99.value, 48.2);
  close(s.p99.ci.low, 15.99775);
  close(s.p99.ci.high, 50);
  assert.equal(s.min, 11);
  assert.equal(s.max, 50);
  assert.deepEqual(summarize(XS, { seed: 42, resamples: 200 }), s, 'same seed, same result');
  assert.notDeepEqual(summarize(XS, { seed: 43, resamples: 200 }).median.ci, s.median.ci, 'another seed moves the interval');
});

test('ratio of medians vs a baseline: estimate, interval, verdict', () => {
  const c = compare(XS, YS, { seed: 42, resamples: 200 });
  close(c.median.ratio, 1.45); // 14.5 / 10
  close(c.median.ci.low, 1.1363636363636365);
  close(c.median.ci.high, 1.8125);
  assert.equal(c.median.verdict, 'slower');
  close(c.p99.ratio, 48.2 / 28.38);
  close(c.p99.ci.low, 0.5873944326990839);
  close(c.p99.ci.high, 4.417965169569203);
  assert.equal(c.p99.verdict, 'no detectable difference');
  assert.equal(compare(YS, XS, { seed: 42, resamples: 200 }).median.verdict, 'faster');
});

test('two-level bootstrap over runs: resample runs, then samples within them (fixed seed)', () => {
  // Same 10 values as XS, in 3 runs. Reference values from the independent Python implementation.
  const G = [[12, 15, 11], [30, 14, 13, 16], [12, 18, 50]];
  const s = summarize(G, { seed: 7, resamples: 300 });
  assert.equal(s.n, 10);
  close(s.median.value, 14.5, 'pooled median');
  close(s.median.ci.low, 12);
  close(s.median.ci.high, 18);
  const H = [[10, 11], [10, 12, 9], [10, 11, 10, 30]];
  const c = compare(G, H, { seed: 7, resamples: 300 });
  close(c.median.ratio, 1.45);
  close(c.median.ci.low, 1.062409420289855);
  close(c.median.ci.high, 2.4);
  // one run: exactly the plain bootstrap over its samples
  assert.deepEqual(summarize([XS], { seed: 42, resamples: 200 }), summarize(XS, { seed: 42, resamples: 200 }));
});

test('verdicts only where the interval excludes 1', () => {
  assert.equal(verdictOf({ low: 0.8, high: 0.95 }), 'faster');
  assert.equal(verdictOf({ low: 1.01, high: 1.3 }), 'slower');
  assert.equal(verdictOf({ low: 0.9, high: 1.1 }), 'no detectable difference');
  assert.equal(verdictOf({ low: 1, high: 1.2 }), 'no detectable difference');
  // identical samples: the ratio is exactly 1 and so is its interval
  const same = compare([5, 5, 5], [5, 5, 5], { seed: 1, resamples: 50 });
  assert.equal(same.median.ratio, 1);
  assert.equal(same.median.verdict, 'no detectable difference');
});

test('latency file: per-thread warm-up dropped, next N kept, short threads fail the run', () => {
  const text = ['7 100', '9 900', '7 101', '9 901', '7 102', '9 902', '7 103', '9 9', 'torn'].join('\n');
  const r = parseLatencies(text, 1, 2);
  assert.equal(r.problem, null);
  assert.equal(r.threads, 2);
  assert.equal(r.seen, 8);
  assert.deepEqual(r.kept, [[101, 102], [901, 902]]);
  assert.deepEqual(parseLatencies(text, 1, null).kept, [[101, 102, 103], [901, 902, 9]]);
  const short = parseLatencies(text, 2, 3);
  assert.match(short.problem!, /serving thread 0 produced 4 iterations; --warmup 2 \+ --iterations 3 = 5 needed/);
  assert.deepEqual(short.kept, []);
  assert.match(parseLatencies('', 0, null).problem!, /no latency samples/);
});
