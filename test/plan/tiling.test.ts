import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, validate, lowerBound } from '../../main/plan';
import { pack, arenaOf } from '../../main/plan/packed';
import { tilingSearch, TILING_MAX_BUFFERS } from '../../main/plan/tiling';
import { perfectPacking } from '../../main/plan/perfect-packing';
import { prng, randomInstance } from './helpers';

const CAP = 1 << 20;
const NEVER = () => performance.now() + 60_000;

// Node limits, not time, fix the work: each of these takes a few thousand nodes here.
test('tiling search: perfect packings planned at their optimum (fail-first finds forced moves)', () => {
  for (const [kind, seed, n] of [['guillotine', 1, 200], ['guillotine', 2, 200], ['strips', 3, 200], ['skyline', 2, 300]] as const) {
    const bufs = perfectPacking(kind, seed, n);
    const out = tilingSearch(pack(bufs), CAP, NEVER(), 0x711e, 50_000);
    assert.ok(out, `${kind} ${seed} ${n}: no plan within 50,000 nodes`);
    assert.deepEqual(validate(bufs, Array.from(out.offsets)), [], `${kind} ${seed} ${n}`);
    assert.equal(arenaOf(pack(bufs), out.offsets), CAP, `${kind} ${seed} ${n}`);
  }
});

test('tiling search: beyond TILING_MAX_BUFFERS it declines (one recursion level per placement); all plans such instances without it', () => {
  const bufs = perfectPacking('skyline', 1, TILING_MAX_BUFFERS + 500);
  assert.equal(tilingSearch(pack(bufs), CAP, NEVER()), null);
  // A recorded model's iteration is this size (resnet18: 6,277): all must not overflow the stack.
  const r = plan('all', bufs, { timeLimitSeconds: 1 });
  assert.deepEqual(validate(bufs, r.offsets), []);
});

test('tiling search: below the peak there is nothing to find; a capacity with room is used, waste included', () => {
  const bufs = perfectPacking('guillotine', 1, 100);
  assert.equal(tilingSearch(pack(bufs), CAP - 1, NEVER()), null);
  const r = prng(5);
  for (let k = 0; k < 4; k++) {
    const inst = randomInstance(r, 80, 40, 1000, k % 2 === 1);
    const cap = plan('best-fit', inst).arenaBytes;
    const out = tilingSearch(pack(inst), cap, NEVER(), 0x711e, 200_000);
    assert.ok(out, `instance ${k}: best-fit's arena ${cap} (bound ${lowerBound(inst)}) not reached`);
    assert.deepEqual(validate(inst, Array.from(out.offsets)), [], `instance ${k}`);
    assert.ok(arenaOf(pack(inst), out.offsets) <= cap, `instance ${k}`);
  }
});
