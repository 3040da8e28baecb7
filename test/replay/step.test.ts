import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlanStepper, type StepBuffer } from '../../main/replay/step';
import { plan } from '../../main/plan/index';

/** A random iteration of n buffers in logical time: each event is one alloc or one free. */
function randomIteration(n: number, seed: number): StepBuffer[] {
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const events: { i: number; alloc: boolean }[] = [];
  const open: number[] = [];
  let next = 0;
  while (next < n || open.length) {
    if (next < n && (open.length === 0 || rnd() < 0.5)) {
      events.push({ i: next, alloc: true });
      open.push(next++);
    } else {
      const j = Math.floor(rnd() * Math.min(open.length, 8)); // mostly short lifetimes, like tensors
      events.push({ i: open.splice(open.length - 1 - j, 1)[0], alloc: false });
    }
  }
  const start = new Array<number>(n);
  const end = new Array<number>(n);
  events.forEach((e, t) => (e.alloc ? (start[e.i] = t) : (end[e.i] = t)));
  const buffers = Array.from({ length: n }, (_, i) => ({ id: i, start: start[i], end: end[i], size: 16 * (1 + Math.floor(rnd() * 4096)), align: 16 }));
  const offsets = plan('greedy-size', buffers).offsets;
  return buffers.map((b, i) => ({ ordinal: i, offset: offsets[i], size: b.size, addr: 0x7f0000000000 + i * 65536, start: b.start, end: b.end, module: 'M', op: 'aten::x' }));
}

test('step-through state equals a replay from the start, at every kind of index', () => {
  const buffers = randomIteration(3000, 7);
  const stepper = new PlanStepper(buffers);
  assert.equal(stepper.events, 6000);
  for (const k of [0, 1, 255, 256, 257, 1000, 2047, 4095, 5999]) {
    const state = stepper.at(k);
    const live = buffers.filter((b) => b.start <= k && b.end > k);
    assert.deepEqual(state.live.map((b) => b.ordinal), live.map((b) => b.ordinal), `live set at ${k}`);
    assert.equal(state.liveBytes, live.reduce((s, b) => s + b.size, 0));
    const started = buffers.filter((b) => b.start <= k);
    assert.equal(state.arenaHighWater, Math.max(...started.map((b) => b.offset + b.size)));
    const ev = buffers.find((b) => b.start === k || b.end === k)!;
    assert.equal(state.event.ordinal, ev.ordinal);
    assert.equal(state.event.kind, ev.start === k ? 'alloc' : 'free');
    // no two live planned buffers share a byte
    const sorted = [...state.live].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i - 1].offset + sorted[i - 1].size <= sorted[i].offset);
  }
  assert.throws(() => stepper.at(6000), /event index must be in 0\.\.5999/);
  assert.throws(() => stepper.at(-1));
});

test('an iteration of 100,000 allocations indexes once and answers any k (times printed, not asserted)', () => {
  const buffers = randomIteration(100_000, 11);
  const t0 = performance.now();
  const stepper = new PlanStepper(buffers);
  const built = performance.now() - t0;
  let worst = 0;
  let s = 3;
  for (let q = 0; q < 200; q++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const k = s % stepper.events;
    const t = performance.now();
    const state = stepper.at(k);
    worst = Math.max(worst, performance.now() - t);
    assert.equal(state.k, k);
  }
  console.log(`# step index: built in ${built.toFixed(1)} ms; worst of 200 random queries ${worst.toFixed(2)} ms`);
});
