/**
 * The placement step shared by the greedy planners: take buffers in a given order and put
 * each into a gap left by the already-placed buffers whose lifetimes overlap it.
 *
 * The placed neighbours' byte ranges are gathered, and their starts and ends sorted apart
 * (native typed-array sorts); merging the two sorted lists walks the free gaps of their union
 * bottom-up: at a start where every earlier range has ended, the gap runs from the latest end
 * so far to that start. Above the highest end, space is unbounded.
 *   first: the lowest gap that fits (TFLite Micro's greedy planner, first-fit).
 *   best:  the smallest gap that fits, lowest on ties; the top only if none fits (TFLite's
 *          GreedyBySize offset assignment, best-fit).
 */
import { roundUp, type Packed } from './packed';
import { OverlapIndex } from './overlap';

export type Fit = 'first' | 'best';

export function placeInOrder(p: Packed, order: ArrayLike<number>, fit: Fit, index?: OverlapIndex): Float64Array {
  const idx = index ?? new OverlapIndex(p);
  const n = p.n;
  const offsets = new Float64Array(n);
  // top[j] = offset + size once buffer j is placed with size > 0, else 0: one array tells
  // whether a neighbour takes space and where its range ends.
  const top = new Float64Array(n);
  const los = new Float64Array(n);
  const his = new Float64Array(n);
  // The first SCAN_LIMIT placed buffers (size > 0) by offset, for the scan path.
  const byOff = new Int32Array(Math.min(n, SCAN_LIMIT));
  let nPlaced = 0;
  for (let q = 0; q < order.length; q++) {
    const i = order[q];
    const size = p.size[i];
    const a = p.align[i];
    if (size === 0) {
      offsets[i] = 0;
      continue;
    }
    const c = idx.placedRanges(p, i, top, offsets, los, his);
    // The scan walks every placed buffer; it wins over sorting the neighbours only while few
    // are placed. Past SCAN_LIMIT placed buffers the offset-ordered list it needs is no longer
    // kept (keeping it sorted costs a shift per insertion: quadratic on 100k buffers).
    const scan = nPlaced < SCAN_LIMIT && c * (Math.log2(c + 1) + 1) * SORT_COST >= nPlaced;
    const chosen = scan ? gapByScan(p, offsets, byOff, nPlaced, p.start[i], p.end[i], size, a, fit) : gapBySort(los, his, c, size, a, fit);
    offsets[i] = chosen;
    top[i] = chosen + size;
    if (nPlaced < SCAN_LIMIT) {
      // Insert into byOff after every equal offset.
      let lo = 0;
      let hi = nPlaced;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (offsets[byOff[mid]] <= chosen) lo = mid + 1;
        else hi = mid;
      }
      byOff.copyWithin(lo + 1, lo, nPlaced);
      byOff[lo] = i;
    }
    nPlaced++;
  }
  return offsets;
}

/** Relative cost of sorting one neighbour against scanning one placed buffer (measured, rough). */
const SORT_COST = 1;
/** Placed buffers beyond which only the neighbour sort is used. */
const SCAN_LIMIT = 4096;

/** Gap search over the c placed neighbours' ranges: sorted by start, swept bottom-up. */
function gapBySort(los: Float64Array, his: Float64Array, c: number, size: number, a: number, fit: Fit): number {
  // One native sort of packed keys (start * 2^bits + neighbour index) orders the ranges by start
  // with their ends alongside. The keys must stay exact integers in a double (< 2^53); past
  // that (an arena over 2^(53-bits) bytes) the starts and ends are sorted apart instead.
  let bits = 1;
  while (1 << bits < c) bits++;
  const scale = 2 ** bits;
  let maxLo = 0;
  for (let r = 0; r < c; r++) if (los[r] > maxLo) maxLo = los[r];
  if ((maxLo + 1) * scale > Number.MAX_SAFE_INTEGER) return gapBySortApart(los, his, c, size, a, fit);
  const keys = keyBuf.length >= c ? keyBuf.subarray(0, c) : (keyBuf = new Float64Array(c * 2)).subarray(0, c);
  for (let r = 0; r < c; r++) keys[r] = los[r] * scale + r;
  keys.sort();
  let top = 0; // highest end among the ranges that start below the current one
  let chosen = -1;
  let bestGap = Infinity;
  for (let q = 0; q < c; q++) {
    const r = keys[q] % scale;
    const x = (keys[q] - r) / scale;
    if (x > top) {
      const at = roundUp(top, a);
      if (at + size <= x) {
        if (fit === 'first') return at;
        if (x - top < bestGap) {
          bestGap = x - top;
          chosen = at;
        }
      }
    }
    const h = his[r];
    if (h > top) top = h;
  }
  return chosen >= 0 ? chosen : roundUp(top, a);
}

let keyBuf = new Float64Array(1024);

/**
 * The same search with starts and ends sorted apart: at a start where every earlier range has
 * ended, the gap runs from the latest end so far to that start.
 */
function gapBySortApart(los: Float64Array, his: Float64Array, c: number, size: number, a: number, fit: Fit): number {
  const lo = los.subarray(0, c).sort();
  const hi = his.subarray(0, c).sort();
  let chosen = -1;
  let bestGap = Infinity;
  let e = 0;
  for (let s = 0; s < c; s++) {
    const x = lo[s];
    while (e < c && hi[e] <= x) e++;
    if (e !== s) continue; // some range started before x is still open
    if (s > 0 && lo[s - 1] === x) continue;
    const gapStart = e > 0 ? hi[e - 1] : 0;
    const at = roundUp(gapStart, a);
    if (at + size > x) continue;
    if (fit === 'first') return at;
    const gap = x - gapStart;
    if (gap < bestGap) {
      bestGap = gap;
      chosen = at;
    }
  }
  return chosen >= 0 ? chosen : roundUp(c > 0 ? hi[c - 1] : 0, a);
}

/** Gap search walking every placed buffer in offset order, keeping those live in [s, e). */
function gapByScan(
  p: Packed,
  offsets: Float64Array,
  byOff: Int32Array,
  nPlaced: number,
  s: number,
  e: number,
  size: number,
  a: number,
  fit: Fit,
): number {
  const start = p.start;
  const end = p.end;
  const sz = p.size;
  let top = 0; // highest byte in use so far by overlapping buffers below
  let chosen = -1;
  let bestGap = Infinity;
  for (let q = 0; q < nPlaced; q++) {
    const j = byOff[q];
    if (start[j] >= e || end[j] <= s) continue;
    const o = offsets[j];
    if (o > top) {
      const at = roundUp(top, a);
      if (at + size <= o) {
        if (fit === 'first') return at;
        if (o - top < bestGap) {
          bestGap = o - top;
          chosen = at;
        }
      }
    }
    const t = o + sz[j];
    if (t > top) top = t;
  }
  return chosen >= 0 ? chosen : roundUp(top, a);
}

/** Indices 0..n-1 sorted by a comparator (stable on index). */
export function sortedOrder(n: number, cmp: (a: number, b: number) => number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort((a, b) => cmp(a, b) || a - b);
}
