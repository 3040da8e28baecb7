import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddrMap } from '../../main/store/addr-map';

test('AddrMap agrees with Map under random inserts and deletes of heap-like addresses', () => {
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const m = new AddrMap<number>(16);
  const ref = new Map<number, number>();
  const pool: number[] = [];
  for (let i = 0; i < 5000; i++) pool.push(0x7f0000000000 + Math.floor(rnd() * 2 ** 20) * 16);
  for (let step = 0; step < 200_000; step++) {
    const k = pool[Math.floor(rnd() * pool.length)];
    if (rnd() < 0.55) {
      m.set(k, step);
      ref.set(k, step);
    } else {
      assert.equal(m.delete(k), ref.delete(k));
    }
    if (step % 1000 === 0) {
      for (const p of pool.slice(0, 200)) assert.equal(m.get(p), ref.get(p));
      assert.equal(m.size, ref.size);
    }
  }
  assert.deepEqual([...m.values()].sort((a, b) => a - b), [...ref.values()].sort((a, b) => a - b));
});

test('AddrMap keeps bigint addresses apart and refuses key 0', () => {
  const m = new AddrMap<string>();
  m.set(2n ** 60n, 'big');
  m.set(4096, 'small');
  assert.equal(m.get(2n ** 60n), 'big');
  assert.equal(m.get(4096), 'small');
  assert.equal(m.size, 2);
  assert.throws(() => m.set(0, 'x'));
});
