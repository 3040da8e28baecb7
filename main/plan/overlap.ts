/**
 * Time structure of an instance, built once by sorting: compressed time points, the
 * elementary sections between them, and an index that lists the buffers whose lifetimes
 * overlap a given one in O(log T + k), never by an all-pairs scan.
 *
 * Index: every lifetime is stored in the O(log T) canonical nodes of a segment tree over the
 * sections. The buffers overlapping [s, e) are those live at time s (a root-to-leaf walk of
 * the tree: they started at or before s) plus those starting inside (s, e) (a range of the
 * start-sorted order). The two sets are disjoint, so every neighbour is listed once.
 */
import type { Packed } from './packed';

export interface Timeline {
  /** Sorted distinct time points (every start and end). */
  times: Float64Array;
  /** Number of sections: section j is [times[j], times[j+1]). */
  sections: number;
  /** Buffer i is live in sections [secLo[i], secHi[i]). */
  secLo: Int32Array;
  secHi: Int32Array;
  /** Bytes live in each section (raw sizes). */
  totals: Float64Array;
}

function lowerBoundF64(a: Float64Array, x: number, lo = 0, hi = a.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBoundF64(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function buildTimeline(p: Packed): Timeline {
  const all = new Float64Array(2 * p.n);
  all.set(p.start, 0);
  all.set(p.end, p.n);
  all.sort();
  let m = 0;
  for (let i = 0; i < all.length; i++) if (m === 0 || all[i] !== all[m - 1]) all[m++] = all[i];
  const times = all.slice(0, m);
  const sections = Math.max(0, m - 1);
  const secLo = new Int32Array(p.n);
  const secHi = new Int32Array(p.n);
  const diff = new Float64Array(sections + 1);
  for (let i = 0; i < p.n; i++) {
    const lo = lowerBoundF64(times, p.start[i]);
    const hi = lowerBoundF64(times, p.end[i], lo);
    secLo[i] = lo;
    secHi[i] = hi;
    diff[lo] += p.size[i];
    diff[hi] -= p.size[i];
  }
  const totals = new Float64Array(sections);
  let acc = 0;
  for (let j = 0; j < sections; j++) {
    acc += diff[j];
    totals[j] = acc;
  }
  return { times, sections, secLo, secHi, totals };
}

export class OverlapIndex {
  readonly size: number; // leaves of the segment tree (power of two)
  readonly nodeStart: Int32Array; // CSR: items of node k are nodeItems[nodeStart[k] .. nodeStart[k+1])
  readonly nodeItems: Int32Array;
  readonly byStart: Int32Array; // buffer indices sorted by start
  readonly sortedStarts: Float64Array;
  readonly tl: Timeline;

  constructor(p: Packed, tl: Timeline = buildTimeline(p)) {
    this.tl = tl;
    let size = 1;
    while (size < Math.max(1, tl.sections)) size <<= 1;
    this.size = size;
    const count = new Int32Array(2 * size + 1);
    const visit = (lo: number, hi: number, f: (node: number) => void): void => {
      let l = lo + size;
      let r = hi + size;
      while (l < r) {
        if (l & 1) f(l++);
        if (r & 1) f(--r);
        l >>= 1;
        r >>= 1;
      }
    };
    for (let i = 0; i < p.n; i++) visit(tl.secLo[i], tl.secHi[i], (k) => count[k + 1]++);
    for (let k = 0; k < 2 * size; k++) count[k + 1] += count[k];
    this.nodeStart = count;
    const fill = count.slice(0, 2 * size);
    const items = new Int32Array(count[2 * size]);
    for (let i = 0; i < p.n; i++) visit(tl.secLo[i], tl.secHi[i], (k) => (items[fill[k]++] = i));
    this.nodeItems = items;
    const order = new Int32Array(p.n);
    for (let i = 0; i < p.n; i++) order[i] = i;
    order.sort((a, b) => p.start[a] - p.start[b] || a - b);
    this.byStart = order;
    this.sortedStarts = new Float64Array(p.n);
    for (let i = 0; i < p.n; i++) this.sortedStarts[i] = p.start[order[i]];
  }

  /**
   * Writes into `out` the indices of all buffers whose lifetime overlaps [s, e), except
   * `exclude`, and returns how many. `out` must have room for every buffer.
   */
  overlapping(s: number, e: number, out: Int32Array, exclude = -1): number {
    let k = 0;
    const { times, sections } = this.tl;
    // Buffers live at time s: stabbing query down to the section that contains s.
    const leaf = upperBoundF64(times, s) - 1; // last time point <= s
    if (leaf >= 0 && leaf < sections) {
      const items = this.nodeItems;
      const starts = this.nodeStart;
      for (let node = leaf + this.size; node >= 1; node >>= 1) {
        for (let q = starts[node], qe = starts[node + 1]; q < qe; q++) {
          const b = items[q];
          if (b !== exclude) out[k++] = b;
        }
      }
    }
    // Buffers starting in (s, e).
    const ss = this.sortedStarts;
    for (let q = lowerBoundF64(ss, s); q < ss.length && ss[q] < e; q++) {
      if (ss[q] === s) continue;
      const b = this.byStart[q];
      if (b !== exclude) out[k++] = b;
    }
    return k;
  }

  /**
   * For the placement loop (place.ts): the byte ranges [offsets[j], top[j]) of buffer i's
   * neighbours j that have top[j] > 0 (placed, with bytes), written to los/his; returns how
   * many. The same walk as overlapping(), without listing the neighbours first.
   */
  placedRanges(p: Packed, i: number, top: Float64Array, offsets: Float64Array, los: Float64Array, his: Float64Array): number {
    const s = p.start[i];
    const e = p.end[i];
    let c = 0;
    const { times, sections } = this.tl;
    const leaf = upperBoundF64(times, s) - 1;
    if (leaf >= 0 && leaf < sections) {
      const items = this.nodeItems;
      const starts = this.nodeStart;
      for (let node = leaf + this.size; node >= 1; node >>= 1) {
        for (let q = starts[node], qe = starts[node + 1]; q < qe; q++) {
          const b = items[q];
          const t = top[b];
          if (t > 0 && b !== i) {
            los[c] = offsets[b];
            his[c++] = t;
          }
        }
      }
    }
    const ss = this.sortedStarts;
    const byStart = this.byStart;
    for (let q = lowerBoundF64(ss, s); q < ss.length && ss[q] < e; q++) {
      if (ss[q] === s) continue;
      const b = byStart[q];
      const t = top[b];
      if (t > 0 && b !== i) {
        los[c] = offsets[b];
        his[c++] = t;
      }
    }
    return c;
  }

  /** The buffers whose lifetime overlaps buffer i's (i excluded). */
  neighbours(p: Packed, i: number, out: Int32Array): number {
    return this.overlapping(p.start[i], p.end[i], out, i);
  }
}

/**
 * The buffers placed so far, findable by time for a placement loop that places in any order
 * (place.ts): each placed buffer's byte range is written into the segment-tree nodes its
 * lifetime decomposes into (a node's placed ones packed first, in a copy of the index's
 * layout), and under its rank in start order, with that rank set in a bitset. The placed neighbours of buffer i are then the placed ranges
 * in the nodes on the path to the section of its start (read in sequence, no filtering) plus
 * the placed buffers that start inside (start, end) (set bits in a rank range).
 */
export class PlacedRanges {
  private readonly fill: Int32Array;
  /** The placed ranges, inline in each node's slots: reads stay sequential. */
  private readonly slotLo: Float64Array;
  private readonly slotHi: Float64Array;
  private readonly bits: Int32Array;
  private readonly rankOf: Int32Array;
  /** The placed ranges by rank in start order. */
  private readonly rankLo: Float64Array;
  private readonly rankHi: Float64Array;
  /** startsBefore[t]: buffers starting before time point t (no binary searches per query). */
  private readonly startsBefore: Int32Array;

  constructor(
    private readonly p: Packed,
    private readonly idx: OverlapIndex,
  ) {
    this.fill = new Int32Array(2 * idx.size);
    this.slotLo = new Float64Array(idx.nodeItems.length);
    this.slotHi = new Float64Array(idx.nodeItems.length);
    this.bits = new Int32Array((p.n >>> 5) + 1);
    this.rankOf = new Int32Array(p.n);
    for (let q = 0; q < p.n; q++) this.rankOf[idx.byStart[q]] = q;
    this.rankLo = new Float64Array(p.n);
    this.rankHi = new Float64Array(p.n);
    const T = idx.tl.times.length;
    this.startsBefore = new Int32Array(T + 1);
    for (let i = 0; i < p.n; i++) this.startsBefore[idx.tl.secLo[i] + 1]++;
    for (let t = 0; t < T; t++) this.startsBefore[t + 1] += this.startsBefore[t];
  }

  /** Records buffer i as placed at [lo, hi). */
  add(i: number, lo: number, hi: number): void {
    const { idx, fill, slotLo, slotHi } = this;
    const start = idx.nodeStart;
    let l = idx.tl.secLo[i] + idx.size;
    let r = idx.tl.secHi[i] + idx.size;
    while (l < r) {
      if (l & 1) {
        const q = start[l] + fill[l]++;
        slotLo[q] = lo;
        slotHi[q] = hi;
        l++;
      }
      if (r & 1) {
        --r;
        const q = start[r] + fill[r]++;
        slotLo[q] = lo;
        slotHi[q] = hi;
      }
      l >>= 1;
      r >>= 1;
    }
    const k = this.rankOf[i];
    this.bits[k >>> 5] |= 1 << (k & 31);
    this.rankLo[k] = lo;
    this.rankHi[k] = hi;
  }

  /** Writes the placed neighbours' ranges of buffer i (not placed itself) to los/his; returns how many. */
  ranges(i: number, los: Float64Array, his: Float64Array): number {
    const { idx, fill, slotLo, slotHi, bits, rankLo, rankHi } = this;
    let c = 0;
    // The section that starts at i's start, and the time point of its end: no searching.
    const leaf = idx.tl.secLo[i];
    const endPoint = idx.tl.secHi[i];
    if (leaf < idx.tl.sections) {
      const start = idx.nodeStart;
      for (let node = leaf + idx.size; node >= 1; node >>= 1) {
        for (let q = start[node], qe = q + fill[node]; q < qe; q++) {
          los[c] = slotLo[q];
          his[c++] = slotHi[q];
        }
      }
    }
    // Placed buffers starting in (start, end): ranks [a, b) in start order.
    let a = this.startsBefore[leaf + 1];
    const b = this.startsBefore[endPoint];
    while (a < b) {
      const w = a >>> 5;
      let word = bits[w] & (-1 << (a & 31));
      const wEnd = (w + 1) << 5;
      if (b < wEnd) word &= (1 << (b & 31)) - 1;
      while (word !== 0) {
        const t = word & -word;
        const q = (w << 5) + 31 - Math.clz32(t);
        word ^= t;
        los[c] = rankLo[q];
        his[c++] = rankHi[q];
      }
      a = wEnd;
    }
    return c;
  }
}
