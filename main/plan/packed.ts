/**
 * Checks planner input and packs it into typed arrays (structure of arrays), the form every
 * planner works on. Sizes and offsets are kept in Float64Array: arenas pass 4 GiB, and every
 * integer below 2^53 is exact in a double.
 */
import type { Buffer } from './types';

export interface Packed {
  n: number;
  start: Float64Array;
  end: Float64Array;
  size: Float64Array;
  align: Float64Array;
}

const isPow2 = (a: number): boolean => Number.isSafeInteger(a) && a > 0 && Number.isInteger(Math.log2(a));

/** Throws an Error naming the buffer (index and id) for any malformed buffer. */
export function pack(buffers: readonly Buffer[]): Packed {
  const n = buffers.length;
  const p: Packed = {
    n,
    start: new Float64Array(n),
    end: new Float64Array(n),
    size: new Float64Array(n),
    align: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const b = buffers[i];
    const where = `buffer #${i} (id ${String(b?.id)})`;
    if (!b) throw new Error(`${where}: missing`);
    if (!Number.isSafeInteger(b.start) || !Number.isSafeInteger(b.end)) throw new Error(`${where}: start and end must be integers`);
    if (b.end <= b.start) throw new Error(`${where}: end (${b.end}) must be greater than start (${b.start})`);
    if (!Number.isSafeInteger(b.size) || b.size < 0) throw new Error(`${where}: size must be a non-negative integer, got ${b.size}`);
    const a = b.align ?? 1;
    if (!isPow2(a)) throw new Error(`${where}: align must be a power of two, got ${a}`);
    p.start[i] = b.start;
    p.end[i] = b.end;
    p.size[i] = b.size;
    p.align[i] = a;
  }
  return p;
}

/** Smallest multiple of `a` (a power of two) that is >= x. Exact for x < 2^53. */
export function roundUp(x: number, a: number): number {
  return a === 1 ? x : Math.ceil(x / a) * a;
}

/** Arena bytes of a plan: max(offset + size), 0 for no buffers. */
export function arenaOf(p: Packed, offsets: ArrayLike<number>): number {
  let top = 0;
  for (let i = 0; i < p.n; i++) {
    const t = offsets[i] + p.size[i];
    if (t > top) top = t;
  }
  return top;
}
