import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, validate, lowerBound } from '../../main/plan';
import { pack, arenaOf } from '../../main/plan/packed';
import { skylineImprove, skylineSearch } from '../../main/plan/skyline';
import { perfectPacking, PACKING_KINDS } from '../../main/plan/perfect-packing';
import { prng, randomInstance } from './helpers';

const CAP = 1 << 20;

test('perfect-packing generator: exactly n buffers covering the rectangle (peak = capacity), same seed same instance', () => {
  for (const kind of PACKING_KINDS) {
    for (const n of [20, 200, 1000]) {
      const bufs = perfectPacking(kind, 7, n);
      assert.equal(bufs.length, n, `${kind} ${n}`);
      assert.equal(lowerBound(bufs), CAP, `${kind} ${n}`);
      const area = bufs.reduce((a, b) => a + (b.end - b.start) * b.size, 0);
      assert.equal(area, 2 * n * CAP, `${kind} ${n}: the pieces tile the rectangle`);
    }
    assert.deepEqual(perfectPacking(kind, 3, 100), perfectPacking(kind, 3, 100));
  }
});

test('skylineImprove: valid plans, never worse than the one given (random lifetimes, alignment, zero sizes)', () => {
  const r = prng(17);
  for (let k = 0; k < 4; k++) {
    const bufs = randomInstance(r, 60 + 40 * k, 50, 1000, k % 2 === 1);
    bufs[5] = { ...bufs[5], size: 0 };
    const p = pack(bufs);
    const start = plan('best-fit', bufs);
    const out = skylineImprove(p, start.offsets, performance.now() + 100, lowerBound(bufs));
    assert.ok(out);
    assert.deepEqual(validate(bufs, Array.from(out.offsets)), [], `instance ${k}`);
    assert.equal(out.arenaBytes, arenaOf(p, out.offsets));
    assert.ok(out.arenaBytes <= start.arenaBytes, `instance ${k}`);
  }
});

// Fixed work (runs and tries, not time), so the figure reproduces on any machine (here 1.0581 in
// about 5 s). The start is what `all` had before the improvement phase: skyline restarts (here
// 200 runs, 1.0716); `all` without the phase ended this instance at 1.0677 after 10 s.
const CASES = [['strips', 2]] as const;
const TRIES = 1500;
const BOUND = 1.063;
test('skylineImprove: a generated perfect packing of 1,000 buffers from the skyline plan to within 6.3% of the optimum', () => {
  for (const [kind, seed] of CASES) {
    const bufs = perfectPacking(kind, seed, 1000);
    const p = pack(bufs);
    const sky = skylineSearch(p, Infinity, CAP, undefined, 200);
    assert.ok(sky);
    const out = skylineImprove(p, sky.offsets, Infinity, CAP, undefined, TRIES);
    assert.ok(out);
    assert.deepEqual(validate(bufs, Array.from(out.offsets)), [], `${kind} ${seed}`);
    const ratio = out.arenaBytes / CAP;
    assert.ok(ratio <= BOUND, `${kind} seed ${seed}: ${ratio.toFixed(4)} of the optimum (skyline ${(sky.arenaBytes / CAP).toFixed(4)})`);
  }
});
