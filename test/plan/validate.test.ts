import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Buffer } from '../../main/plan/types';
import { validate, assertValid, lowerBound } from '../../main/plan';

const bufs: Buffer[] = [
  { id: 'a', start: 0, end: 10, size: 8 },
  { id: 'b', start: 5, end: 15, size: 8, align: 8 },
  { id: 'c', start: 10, end: 20, size: 8 },
];

test('accepts a valid plan; lifetimes are half-open', () => {
  // a ends at 10 where c starts: they may share bytes.
  assert.deepEqual(validate(bufs, [0, 8, 0]), []);
  assert.doesNotThrow(() => assertValid(bufs, [0, 8, 0], { arenaBytes: 16 }));
});

test('rejects overlapping buffers and names both', () => {
  const v = validate(bufs, [0, 0, 16]);
  assert.equal(v.length, 1);
  assert.equal(v[0].kind, 'overlap');
  assert.deepEqual(v[0].ids.sort(), ['a', 'b']);
  assert.match(v[0].message, /buffers a .* and b .* overlap/);
  assert.throws(() => assertValid(bufs, [0, 0, 16]), /invalid plan: 1 violation.*\n.*a .*b .*overlap/);
});

test('rejects a partial byte overlap', () => {
  const v = validate(bufs, [0, 8, 7]); // c [7,15) meets b [8,16) during [10,15)
  assert.equal(v.length, 1);
  assert.deepEqual(v[0].ids, ['c', 'b']);
});

test('finds an overlap hidden behind a non-overlapping neighbour', () => {
  const many: Buffer[] = [
    { id: 'low', start: 0, end: 10, size: 100 },
    { id: 'mid', start: 0, end: 10, size: 10 },
    { id: 'late', start: 5, end: 10, size: 50 },
  ];
  // late [60,110) overlaps low [0,100) although its offset-predecessor mid [100,110) ... also overlaps.
  const v = validate(many, [0, 100, 60]);
  assert.ok(v.length >= 1);
  assert.ok(v.every((x) => x.kind === 'overlap'));
});

test('rejects misaligned, negative and non-integer offsets, and a wrong arena', () => {
  assert.equal(validate(bufs, [0, 12, 0])[0].kind, 'misaligned');
  assert.match(validate(bufs, [0, 12, 0])[0].message, /buffer b: offset 12 is not a multiple of its alignment 8/);
  assert.equal(validate(bufs, [-8, 8, 0])[0].kind, 'offset');
  assert.equal(validate(bufs, [0.5, 8, 0])[0].kind, 'offset');
  assert.equal(validate(bufs, [0, 8])[0].kind, 'length');
  const arena = validate(bufs, [0, 8, 0], { arenaBytes: 100 });
  assert.equal(arena[0].kind, 'arena');
});

test('reports at most maxViolations', () => {
  const same: Buffer[] = Array.from({ length: 50 }, (_, i) => ({ id: i, start: 0, end: 5, size: 4 }));
  const v = validate(same, new Array(50).fill(0), { maxViolations: 5 });
  assert.equal(v.length, 5);
  assert.throws(() => assertValid(same, new Array(50).fill(0), { maxViolations: 3 }), /at least 3 violation/);
});

test('zero-size buffers never conflict', () => {
  const z: Buffer[] = [
    { id: 0, start: 0, end: 5, size: 0 },
    { id: 1, start: 0, end: 5, size: 4 },
  ];
  assert.deepEqual(validate(z, [0, 0]), []);
});

test('lower bound is the peak of live bytes', () => {
  assert.equal(lowerBound([]), 0);
  assert.equal(lowerBound(bufs), 16);
  assert.equal(
    lowerBound([
      { id: 0, start: 0, end: 2, size: 5 },
      { id: 1, start: 2, end: 4, size: 7 },
      { id: 2, start: 1, end: 3, size: 1 },
    ]),
    8,
  );
});

test('malformed buffers are rejected with the buffer named', () => {
  assert.throws(() => lowerBound([{ id: 'q', start: 3, end: 3, size: 1 }]), /buffer #0 \(id q\): end \(3\) must be greater than start \(3\)/);
  assert.throws(() => lowerBound([{ id: 'q', start: 0, end: 3, size: 1, align: 3 }]), /align must be a power of two/);
});
