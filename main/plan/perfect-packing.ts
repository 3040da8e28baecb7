/**
 * Generated perfect packings: the rectangle [0, horizon) x [0, capacity) (time x bytes) cut
 * into exactly `pieces` buffers. Every time step is covered exactly, so the peak of live bytes,
 * and the optimum arena, is the capacity. For benchmarks and tests of the planners; seeded
 * (mulberry32), so an instance is fixed by (kind, seed, pieces, horizon, capacity). Pure.
 *
 * Kinds:
 *   guillotine  recursive guillotine cuts: a random piece is cut in time or in bytes at a
 *               random point, until there are `pieces`.
 *   strips      nested strips: a random piece is cut into 2 to 4 strips along one axis and
 *               each strip at 0 to 3 random points along the other (a multi-way guillotine).
 *   skyline     not guillotine in general: pieces are dropped onto the lowest flat run of a
 *               skyline over time, each over a random sub-span of the run with a random height
 *               (clipped at the capacity), so piece edges interlock like brickwork; then the
 *               largest pieces are cut in two until there are `pieces`.
 */
import type { Buffer } from './types';
import { mulberry32 } from '../../shared/random';

export type PackingKind = 'guillotine' | 'strips' | 'skyline';
export const PACKING_KINDS: readonly PackingKind[] = ['guillotine', 'strips', 'skyline'];

interface Rect {
  t0: number;
  t1: number;
  o0: number;
  o1: number;
}

export function perfectPacking(kind: PackingKind, seed: number, pieces: number, horizon = 2 * pieces, capacity = 1 << 20): Buffer[] {
  const r = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  let rects: Rect[];
  if (kind === 'skyline') rects = dropped(r, Math.ceil(pieces * 0.7), horizon, capacity);
  else rects = [{ t0: 0, t1: horizon, o0: 0, o1: capacity }];
  const cut = (x: Rect, inTime: boolean, at: number): [Rect, Rect] =>
    inTime ? [{ ...x, t1: at }, { ...x, t0: at }] : [{ ...x, o1: at }, { ...x, o0: at }];
  const canCut = (x: Rect, inTime: boolean): boolean => (inTime ? x.t1 - x.t0 >= 2 : x.o1 - x.o0 >= 2);
  for (let guard = 0; rects.length < pieces && guard < pieces * 50; guard++) {
    let k: number;
    if (kind === 'skyline') {
      // The largest piece by area (ties: the first), so the pieces stay of similar area.
      k = 0;
      for (let q = 1; q < rects.length; q++) if (area(rects[q]) > area(rects[k])) k = q;
    } else k = Math.floor(r() * rects.length);
    const x = rects[k];
    const inTime = r() < 0.5;
    if (!canCut(x, inTime)) {
      if (kind === 'skyline' && canCut(x, !inTime)) rects.splice(k, 1, ...cut(x, !inTime, mid(int, x, !inTime)));
      continue;
    }
    if (kind === 'strips') {
      const out: Rect[] = [];
      const strips = splitPoints(int, inTime ? x.t0 : x.o0, inTime ? x.t1 : x.o1, int(1, 3));
      for (let s = 0; s + 1 < strips.length; s++) {
        const strip: Rect = inTime ? { ...x, t0: strips[s], t1: strips[s + 1] } : { ...x, o0: strips[s], o1: strips[s + 1] };
        const across = splitPoints(int, inTime ? strip.o0 : strip.t0, inTime ? strip.o1 : strip.t1, int(0, 3));
        for (let c = 0; c + 1 < across.length; c++) {
          out.push(inTime ? { ...strip, o0: across[c], o1: across[c + 1] } : { ...strip, t0: across[c], t1: across[c + 1] });
        }
      }
      if (rects.length - 1 + out.length > pieces) {
        rects.splice(k, 1, ...cut(x, inTime, mid(int, x, inTime)));
      } else rects.splice(k, 1, ...out);
    } else rects.splice(k, 1, ...cut(x, inTime, mid(int, x, inTime)));
  }
  // Shuffle so input order says nothing about the packing.
  for (let i = rects.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [rects[i], rects[j]] = [rects[j], rects[i]];
  }
  return rects.map((x, i) => ({ id: i, start: x.t0, end: x.t1, size: x.o1 - x.o0 }));
}

const area = (x: Rect): number => (x.t1 - x.t0) * (x.o1 - x.o0);

/** A random cut point strictly inside x along one axis. */
function mid(int: (lo: number, hi: number) => number, x: Rect, inTime: boolean): number {
  return inTime ? int(x.t0 + 1, x.t1 - 1) : int(x.o0 + 1, x.o1 - 1);
}

/** lo, up to `k` distinct random points strictly between, hi; sorted. */
function splitPoints(int: (lo: number, hi: number) => number, lo: number, hi: number, k: number): number[] {
  const pts = new Set<number>();
  for (let q = 0; q < k && hi - lo >= 2; q++) pts.add(int(lo + 1, hi - 1));
  return [lo, ...[...pts].sort((a, b) => a - b), hi];
}

/**
 * About `target` pieces dropped onto a skyline over [0, horizon) until it is flat at
 * `capacity`: each takes a random sub-span of the lowest flat run (leftmost on ties) that
 * starts at the run's left end or ends at its right end, and a random height (clipped).
 */
function dropped(r: () => number, target: number, horizon: number, capacity: number): Rect[] {
  const top = new Float64Array(horizon);
  const out: Rect[] = [];
  const meanW = Math.max(1, (2 * horizon) / Math.sqrt(target));
  const meanArea = (capacity * horizon) / target;
  for (;;) {
    let a = -1;
    let L = Infinity;
    for (let c = 0; c < horizon; c++) {
      if (top[c] < L) {
        L = top[c];
        a = c;
      }
    }
    if (L >= capacity) break;
    let b = a + 1;
    while (b < horizon && top[b] === L) b++;
    const w = Math.min(b - a, Math.max(1, Math.round(meanW * (0.25 + 1.5 * r()))));
    const t0 = r() < 0.5 ? a : b - w;
    const h = Math.min(capacity - L, Math.max(1, Math.round((meanArea / w) * (0.25 + 1.5 * r()))));
    out.push({ t0, t1: t0 + w, o0: L, o1: L + h });
    for (let c = t0; c < t0 + w; c++) top[c] = L + h;
    // A piece that leaves a sliver above it is stretched to the capacity instead.
    if (capacity - (L + h) < meanArea / w / 8) {
      out[out.length - 1].o1 = capacity;
      for (let c = t0; c < t0 + w; c++) top[c] = capacity;
    }
  }
  return out;
}
