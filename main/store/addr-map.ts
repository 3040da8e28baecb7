/**
 * A hash map from heap addresses to values. V8's Map is slow on these keys (addresses are
 * beyond the small-integer range, so every key is a boxed double, and their hashes collide:
 * about 600 ns per operation measured here, against ~30 ns for this table). Open addressing
 * with linear probing and backward-shift deletion; key 0 marks an empty slot (a NULL result is
 * never stored). Addresses that do not fit a double exactly (bigint) go to a plain Map.
 */
export class AddrMap<V> {
  private keys: Float64Array;
  private vals: (V | undefined)[];
  private mask: number;
  private count = 0;
  private readonly big = new Map<bigint, V>();

  constructor(capacity = 1 << 16) {
    let cap = 16;
    while (cap < capacity) cap <<= 1;
    this.keys = new Float64Array(cap);
    this.vals = new Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count + this.big.size;
  }

  private slot(k: number): number {
    const lo = k % 4294967296;
    const hi = (k - lo) / 4294967296;
    let h = Math.imul((lo >>> 4) ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    return h & this.mask;
  }

  get(key: number | bigint): V | undefined {
    if (typeof key === 'bigint') return this.big.get(key);
    const keys = this.keys;
    for (let i = this.slot(key); ; i = (i + 1) & this.mask) {
      const k = keys[i];
      if (k === key) return this.vals[i];
      if (k === 0) return undefined;
    }
  }

  set(key: number | bigint, value: V): void {
    if (typeof key === 'bigint') {
      this.big.set(key, value);
      return;
    }
    if (key === 0) throw new Error('AddrMap: key 0 is reserved');
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    const keys = this.keys;
    for (let i = this.slot(key); ; i = (i + 1) & this.mask) {
      const k = keys[i];
      if (k === key) {
        this.vals[i] = value;
        return;
      }
      if (k === 0) {
        keys[i] = key;
        this.vals[i] = value;
        this.count++;
        return;
      }
    }
  }

  delete(key: number | bigint): boolean {
    if (typeof key === 'bigint') return this.big.delete(key);
    const keys = this.keys;
    const mask = this.mask;
    let i = this.slot(key);
    for (; ; i = (i + 1) & mask) {
      if (keys[i] === key) break;
      if (keys[i] === 0) return false;
    }
    // Backward-shift: move later members of the probe run into the hole so lookups never stop early.
    let hole = i;
    for (let j = (i + 1) & mask; keys[j] !== 0; j = (j + 1) & mask) {
      const home = this.slot(keys[j]);
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        keys[hole] = keys[j];
        this.vals[hole] = this.vals[j];
        hole = j;
      }
    }
    keys[hole] = 0;
    this.vals[hole] = undefined;
    this.count--;
    return true;
  }

  *values(): IterableIterator<V> {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== 0) yield this.vals[i] as V;
    yield* this.big.values();
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    this.keys = new Float64Array(oldKeys.length * 2);
    this.vals = new Array(oldKeys.length * 2);
    this.mask = this.keys.length - 1;
    this.count = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== 0) this.set(oldKeys[i], oldVals[i] as V);
  }
}
