/**
 * The placement step shared by the greedy planners: take buffers in a given order and put
 * each into a gap left by the already-placed buffers whose lifetimes overlap it.
 *
 * The placed neighbours' byte ranges are gathered (PlacedRanges, overlap.ts), ordered by start
 * (a bucket sort) and swept bottom-up: at a start above every earlier range's end, the gap runs
 * from the highest end so far to that start. Above the highest end, space is unbounded.
 * placeByStart does the same for time-ordered placement with a sweep and no neighbour lists.
 *   first: the lowest gap that fits (TFLite Micro's greedy planner, first-fit).
 *   best:  the smallest gap that fits, lowest on ties; the top only if none fits (TFLite's
 *          GreedyBySize offset assignment, best-fit).
 */
import { roundUp, type Packed } from './packed';
import { OverlapIndex, PlacedRanges } from './overlap';

export type Fit = 'first' | 'best';

export function placeInOrder(p: Packed, order: ArrayLike<number>, fit: Fit, index?: OverlapIndex): Float64Array {
  const idx = index ?? new OverlapIndex(p);
  const placed = new PlacedRanges(p, idx);
  const n = p.n;
  const offsets = new Float64Array(n);
  const los = new Float64Array(n);
  const his = new Float64Array(n);
  for (let q = 0; q < order.length; q++) {
    const i = order[q];
    const size = p.size[i];
    if (size === 0) {
      offsets[i] = 0;
      continue;
    }
    const c = placed.ranges(i, los, his);
    const o = c === 0 ? 0 : gapBySort(los, his, c, size, p.align[i], fit);
    offsets[i] = o;
    placed.add(i, o, o + size);
  }
  return offsets;
}

/**
 * Gap search over the c placed neighbours' ranges, ordered by start and swept bottom-up. The
 * order comes from a bucket sort on the starts (c buckets over [0, highest start], each bucket
 * insertion-sorted): expected O(c) where a comparison sort costs O(c log c), and this is the
 * placement loop's hot spot.
 */
function gapBySort(los: Float64Array, his: Float64Array, c: number, size: number, a: number, fit: Fit): number {
  if (bucketCount.length < c + 1) {
    bucketCount = new Int32Array(2 * c + 1);
    bucketOf = new Int32Array(2 * c + 1);
    sortedLo = new Float64Array(2 * c + 1);
    sortedHi = new Float64Array(2 * c + 1);
  }
  const count = bucketCount;
  const bkt = bucketOf;
  const sLo = sortedLo;
  const sHi = sortedHi;
  let maxLo = 0;
  for (let r = 0; r < c; r++) if (los[r] > maxLo) maxLo = los[r];
  const B = c;
  const scale = B / (maxLo + 1);
  count.fill(0, 0, B + 1);
  const last = B - 1;
  for (let r = 0; r < c; r++) {
    const b = Math.min(last, (los[r] * scale) | 0);
    bkt[r] = b;
    count[b + 1]++;
  }
  for (let b = 0; b < B; b++) count[b + 1] += count[b];
  // Scatter the ranges into bucket order (values, not indices: the sweep reads in sequence).
  for (let r = 0; r < c; r++) {
    const q = count[bkt[r]]++;
    sLo[q] = los[r];
    sHi[q] = his[r];
  }
  // count[b] is now the end of bucket b. Each bucket is insertion-sorted by start just before
  // the sweep reaches it, so a first fit stops without sorting the rest.
  let top = 0; // highest end among the ranges that start below the current one
  let chosen = -1;
  let bestGap = Infinity;
  let begin = 0;
  for (let b = 0; b < B; b++) {
    const end = count[b];
    for (let q = begin + 1; q < end; q++) {
      const x = sLo[q];
      const h = sHi[q];
      let k = q;
      while (k > begin && sLo[k - 1] > x) {
        sLo[k] = sLo[k - 1];
        sHi[k] = sHi[k - 1];
        k--;
      }
      sLo[k] = x;
      sHi[k] = h;
    }
    for (let q = begin; q < end; q++) {
      const x = sLo[q];
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
      const h = sHi[q];
      if (h > top) top = h;
    }
    begin = end;
  }
  return chosen >= 0 ? chosen : roundUp(top, a);
}

let bucketCount = new Int32Array(1024);
let bucketOf = new Int32Array(1024);
let sortedLo = new Float64Array(1024);
let sortedHi = new Float64Array(1024);

/**
 * Placement in order of start (then index), each buffer in a gap among the buffers live at its
 * start: exactly its placed time-overlapping neighbours, since every buffer that starts
 * earlier is placed and every one that starts later is not. The live buffers are kept in an
 * array ordered by offset (their byte ranges are disjoint), so the gap search is one walk up
 * the array and no neighbour lists are built: O(n log n + n * live). A buffer leaves the array
 * when the sweep passes its end (all buffers that end by then were placed earlier).
 */
export function placeByStart(p: Packed, fit: Fit): Float64Array {
  const n = p.n;
  const { start, end, size, align } = p;
  const offsets = new Float64Array(n);
  const order = orderByKey(start);
  const byEnd = orderByKey(end);
  let cap = 64;
  let lOff = new Float64Array(cap);
  let lTop = new Float64Array(cap);
  let live = 0;
  let e = 0;
  for (let q = 0; q < n; q++) {
    const i = order[q];
    const s = start[i];
    while (e < n && end[byEnd[e]] <= s) {
      const j = byEnd[e++];
      if (size[j] === 0) continue;
      // Remove j: its offset is unique among the live buffers.
      const o = offsets[j];
      let lo = 0;
      let hi = live;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (lOff[mid] < o) lo = mid + 1;
        else hi = mid;
      }
      lOff.copyWithin(lo, lo + 1, live);
      lTop.copyWithin(lo, lo + 1, live);
      live--;
    }
    const sz = size[i];
    if (sz === 0) {
      offsets[i] = 0;
      continue;
    }
    const a = align[i];
    let prevTop = 0;
    let chosen = -1;
    let at = 0;
    if (fit === 'first') {
      for (let k = 0; k < live; k++) {
        const x = lOff[k];
        if (x > prevTop) {
          at = roundUp(prevTop, a);
          if (at + sz <= x) {
            chosen = at;
            break;
          }
        }
        prevTop = lTop[k];
      }
    } else {
      let bestGap = Infinity;
      for (let k = 0; k < live; k++) {
        const x = lOff[k];
        if (x > prevTop && x - prevTop < bestGap) {
          at = roundUp(prevTop, a);
          if (at + sz <= x) {
            bestGap = x - prevTop;
            chosen = at;
          }
        }
        prevTop = lTop[k];
      }
    }
    if (chosen < 0) chosen = roundUp(prevTop, a);
    offsets[i] = chosen;
    // Insert after every live buffer with a lower offset.
    if (live === cap) {
      cap *= 2;
      const o2 = new Float64Array(cap);
      o2.set(lOff);
      lOff = o2;
      const t2 = new Float64Array(cap);
      t2.set(lTop);
      lTop = t2;
    }
    let lo = 0;
    let hi = live;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (lOff[mid] < chosen) lo = mid + 1;
      else hi = mid;
    }
    lOff.copyWithin(lo + 1, lo, live);
    lTop.copyWithin(lo + 1, lo, live);
    lOff[lo] = chosen;
    lTop[lo] = chosen + sz;
    live++;
  }
  return offsets;
}

/**
 * Indices 0..n-1 ordered by key ascending, then by index. Non-negative integer keys small
 * enough to carry the index in the low bits of a double are sorted as such (one native sort);
 * others with a comparator.
 */
export function orderByKey(key: Float64Array): Int32Array {
  const n = key.length;
  let bits = 1;
  while (2 ** bits < n) bits++;
  const scale = 2 ** bits;
  let max = 0;
  let plain = true;
  for (let i = 0; i < n; i++) {
    const k = key[i];
    if (k > max) max = k;
    if (!(k >= 0) || !Number.isInteger(k)) plain = false;
  }
  const order = new Int32Array(n);
  if (plain && (max + 1) * scale <= Number.MAX_SAFE_INTEGER) {
    const packed = new Float64Array(n);
    for (let i = 0; i < n; i++) packed[i] = key[i] * scale + i;
    packed.sort();
    for (let q = 0; q < n; q++) order[q] = packed[q] % scale;
    return order;
  }
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort((a, b) => key[a] - key[b] || a - b);
}

/** Indices 0..n-1 sorted by a comparator (stable on index). */
export function sortedOrder(n: number, cmp: (a: number, b: number) => number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort((a, b) => cmp(a, b) || a - b);
}
