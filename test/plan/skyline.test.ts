import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, validate, lowerBound } from '../../main/plan';
import { pack } from '../../main/plan/packed';
import { skylineSearch } from '../../main/plan/skyline';
import { prng, randomInstance, tightInstance } from './helpers';

const CAP = 1 << 20;

test('skyline runs give valid plans (random lifetimes, alignment, zero sizes, both time directions)', () => {
  const r = prng(91);
  for (let k = 0; k < 6; k++) {
    const bufs = randomInstance(r, 40 + 30 * k, 60, 1000, k % 2 === 1);
    bufs[3] = { ...bufs[3], size: 0 };
    const p = pack(bufs);
    // A short deadline: the first few runs (plain keys, mirrored time) and a few perturbed ones.
    const out = skylineSearch(p, performance.now() + 30);
    assert.ok(out && out.runs >= 1);
    const offsets = Array.from(out.offsets);
    assert.deepEqual(validate(bufs, offsets), [], `instance ${k}`);
    assert.ok(out.arenaBytes >= lowerBound(bufs));
  }
});

test('skyline restarts reach the optimum of a small perfect packing and stop there', () => {
  const bufs = tightInstance(prng(5), 120, 240, CAP);
  const out = skylineSearch(pack(bufs), performance.now() + 5000, CAP);
  assert.ok(out);
  assert.equal(out.arenaBytes, CAP);
  assert.deepEqual(validate(bufs, Array.from(out.offsets)), []);
});

test('all: generated perfect packings of 300 and 400 buffers end within 2% of the optimum (2 s limit)', () => {
  for (const [seed, n] of [
    [31, 300],
    [32, 400],
  ]) {
    const bufs = tightInstance(prng(seed), n, 2 * n, CAP);
    assert.equal(lowerBound(bufs), CAP);
    const r = plan('all', bufs, { timeLimitSeconds: 2 });
    assert.deepEqual(validate(bufs, r.offsets), [], `seed ${seed}`);
    assert.ok(r.arenaBytes <= 1.02 * CAP, `seed ${seed}, ${n} buffers: ${(r.arenaBytes / CAP).toFixed(4)} of the optimum`);
    assert.equal(r.optimal, r.arenaBytes === r.provenLowerBound);
    if (r.optimal) assert.equal(r.arenaBytes, CAP);
  }
});
