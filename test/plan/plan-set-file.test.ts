import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  decodePlanAny,
  decodePlanFile,
  decodePlanSet,
  encodePlanFile,
  encodePlanSet,
  fnv1a32,
  PLAN_HEADER_BYTES,
  PLAN_SET_DIR_BYTES,
  PlanFileError,
  readPlanAny,
  writePlanSet,
  type PlanFile,
  type PlanSetFile,
} from '../../main/plan/plan-file';
import { iterationSignature } from '../../shared/signature';
import { tmpDir } from '../helpers/tmp';

/** A small valid plan: n entries above the floor, every other one planned, packed end to end. */
function makePlan(planId: number, sizes: number[], sizeFloor: number): PlanFile {
  let at = 0;
  const entries = sizes.map((size, i) => {
    const planned = i % 2 === 0;
    const offset = planned ? at : 0;
    if (planned) at += Math.ceil(size / 64) * 64;
    return { planned, offset, size, align: 64 };
  });
  return { planId, arenaBytes: at, signature: iterationSignature(sizes.map((size) => ({ size, align: 64 }))), sizeFloor, entries };
}

function makeSet(k: number, sizeFloor = 4096): PlanSetFile {
  return {
    setId: 7,
    sizeFloor,
    plans: Array.from({ length: k }, (_, i) => ({
      plan: makePlan(100 + i, Array.from({ length: 3 + i }, (_, j) => sizeFloor + 64 * (j + 1) * (i + 1)), sizeFloor),
      key: 0n,
      seen: k - i,
    })),
  };
}

/** Recomputes the set checksum after an edit, so that the edit itself is what is refused. */
function resum(buf: Buffer): Buffer {
  buf.writeUInt32LE(fnv1a32(buf.subarray(PLAN_HEADER_BYTES)), 40);
  return buf;
}

test('a plan set round-trips: header, directory and each plan as a complete version-2 image', () => {
  const set = makeSet(3);
  const buf = encodePlanSet(set);
  assert.equal(buf.toString('latin1', 0, 8), 'MPPLAN1\0');
  assert.equal(buf.readUInt32LE(8), 3);
  assert.equal(buf.readUInt32LE(12), 128);
  assert.equal(buf.readBigUInt64LE(16), 3n);
  assert.equal(buf.readBigUInt64LE(24), 7n);
  assert.equal(buf.readBigUInt64LE(32), 4096n);
  assert.equal(buf.readUInt32LE(40), fnv1a32(buf.subarray(128)));
  assert.ok(buf.subarray(44, 128).every((b) => b === 0), 'flags and reserved are zero');
  let at = 128 + 32 * 3;
  set.plans.forEach((m, i) => {
    const d = 128 + 32 * i;
    const img = encodePlanFile(m.plan);
    assert.equal(buf.readBigUInt64LE(d), BigInt(at), `plan ${i} offset`);
    assert.equal(buf.readBigUInt64LE(d + 8), BigInt(img.length), `plan ${i} length`);
    assert.equal(buf.readBigUInt64LE(d + 16), 0n, 'key 0');
    assert.equal(buf.readBigUInt64LE(d + 24), BigInt(m.seen));
    assert.ok(buf.subarray(at, at + img.length).equals(img), `plan ${i} is its version-2 image`);
    at += img.length;
  });
  assert.equal(buf.length, at, 'the file ends with the last plan');
  assert.deepEqual(decodePlanSet(buf), set);
  assert.deepEqual(decodePlanAny(buf), { version: 3, ...set });
  assert.ok(encodePlanSet(decodePlanSet(buf)).equals(buf), 'encode(decode(file)) is the file');

  // A set of one, and of the most plans a set may hold.
  assert.deepEqual(decodePlanSet(encodePlanSet(makeSet(1))), makeSet(1));
  const big = makeSet(256, 0);
  assert.equal(decodePlanSet(encodePlanSet(big)).plans.length, 256);

  // Through a file: written atomically, read back by the version-agnostic reader.
  const file = path.join(tmpDir(), 'set.plan');
  writePlanSet(file, set);
  assert.deepEqual(readPlanAny(file), { version: 3, ...set });
});

test('a version-2 file decodes as a set of one; the version-2 decoder names a set as a set', () => {
  const p = makePlan(42, [8192, 9000, 12000], 4096);
  const v2 = encodePlanFile(p);
  assert.deepEqual(decodePlanAny(v2), { version: 2, setId: 0, sizeFloor: 4096, plans: [{ plan: p, key: 0n, seen: 0 }] });
  assert.throws(() => decodePlanFile(encodePlanSet(makeSet(2))), /is a plan set \(format version 3\), not a single plan/);
  assert.throws(() => decodePlanSet(v2), /version 2, not a plan set/);
});

test('the encoder refuses what no reader would accept', () => {
  assert.throws(() => encodePlanSet({ setId: 1, sizeFloor: 0, plans: [] }), /has 0 plans; a plan set holds 1\.\.256/);
  assert.throws(() => encodePlanSet(makeSet(257, 0)), /has 257 plans/);
  const floors = makeSet(2);
  floors.plans[1].plan = makePlan(9, [5000, 6000], 0);
  assert.throws(() => encodePlanSet(floors), /plan 1 has size floor 0, the set's is 4096/);
  const dup = makeSet(2);
  dup.plans[1].plan = { ...dup.plans[0].plan, planId: 99 };
  assert.throws(() => encodePlanSet(dup), /plans 0 and 1 have the same signature/);
  const negative = makeSet(2);
  negative.plans[1].seen = -1;
  assert.throws(() => encodePlanSet(negative), /plan 1's seen -1 is not a count/);
});

test('corrupt set files are refused, each with its own message', () => {
  const good = encodePlanSet(makeSet(3));
  const edit = (f: (b: Buffer) => void, checksum = true) => {
    const b = Buffer.from(good);
    f(b);
    return checksum ? resum(b) : b;
  };
  const dirEnd = 128 + 3 * PLAN_SET_DIR_BYTES;
  const len0 = Number(good.readBigUInt64LE(128 + 8));
  const cases: [string, Buffer, RegExp][] = [
    ['not a plan file', Buffer.from('MPTRACE\0' + ' '.repeat(200)), /is not a memoplan plan file/],
    ['shorter than a header', good.subarray(0, 100), /is not a memoplan plan file/],
    ['plan count 0', edit((b) => b.writeBigUInt64LE(0n, 16)), /plan count 0, a plan set holds 1\.\.256/],
    ['plan count 257', edit((b) => b.writeBigUInt64LE(257n, 16)), /plan count 257/],
    ['header size', edit((b) => b.writeUInt32LE(64, 12)), /header size 64, expected 128/],
    ['directory cut off', good.subarray(0, 128 + 40), /is truncated: .*directory of 3 plans ends at 224/],
    ['checksum', edit((b) => (b[b.length - 3] ^= 0x55), false), /checksum mismatch/],
    ['flags', edit((b) => b.writeUInt32LE(2, 44)), /has flags 0x2; none are defined/],
    ['reserved bytes', edit((b) => (b[100] = 1)), /reserved header bytes 48\.\.127 are not zero/],
    ['plan 0 not right after the directory', edit((b) => b.writeBigUInt64LE(BigInt(dirEnd + 8), 128)), /plan 0 is at offset 232, expected 224/],
    ['plan 1 not contiguous', edit((b) => b.writeBigUInt64LE(BigInt(dirEnd + len0 + 24), 128 + 32)), /plan 1 is at offset \d+, expected \d+/],
    ['length past the end', edit((b) => b.writeBigUInt64LE(1n << 40n, 128 + 2 * 32 + 8)), /plan 2 has length 1099511627776 .*outside the file/],
    ['length under a header', edit((b) => b.writeBigUInt64LE(64n, 128 + 8)), /plan 0 has length 64 .*shorter than a plan header/],
    ['a plan one entry short (its length)', edit((b) => b.writeBigUInt64LE(BigInt(len0 - 24), 128 + 8)), /\(plan 0\) is truncated or padded/],
    ['padding after the last plan', resum(Buffer.concat([good, Buffer.alloc(8)])), /is padded: .*its last plan ends at/],
    ['a plan whose own checksum is wrong', edit((b) => (b[dirEnd + 128] ^= 1)), /\(plan 0\) is corrupt: checksum mismatch/],
    ['a plan of format version 3 inside', edit((b) => b.writeUInt32LE(3, dirEnd + 8)), /\(plan 0\) is a plan set/],
    ['floors differing', edit((b) => b.writeBigUInt64LE(0n, 32)), /plan 0 has size floor 4096, the set's is 0/],
    [
      'duplicate signatures',
      edit((b) => {
        // plan 1's signature field becomes plan 0's
        const p1 = Number(b.readBigUInt64LE(128 + 32));
        b.copy(b, p1 + 48, dirEnd + 48, dirEnd + 112);
      }),
      /plans 0 and 1 have the same signature/,
    ],
  ];
  for (const [what, buf, re] of cases) {
    assert.throws(() => decodePlanAny(buf, 'set.plan'), (err: Error) => err instanceof PlanFileError && re.test(err.message), what);
  }
  // The file reader refuses a folder or a missing file as a user error, not a crash.
  const dir = tmpDir();
  assert.throws(() => readPlanAny(path.join(dir, 'missing.plan')), /plan file not found/);
  fs.writeFileSync(path.join(dir, 'empty.plan'), '');
  assert.throws(() => readPlanAny(path.join(dir, 'empty.plan')), /is not a memoplan plan file/);
});
