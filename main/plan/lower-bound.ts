/**
 * Lower bound on the arena: the peak over time of live bytes, by a sweep over the sorted
 * start and end events (ends first at equal times: lifetimes are half-open).
 *
 * Sizes are counted as they are, not rounded up to their alignment: rounding up is not a
 * valid bound (the topmost buffer of a stack needs no padding, and a small-alignment buffer
 * can fill the padding of a large-alignment one), so it could mark a plan "optimal" wrongly.
 */
import type { Buffer } from './types';
import { pack, type Packed } from './packed';

export function lowerBoundPacked(p: Packed): number {
  const order = new Int32Array(p.n);
  const endOrder = new Int32Array(p.n);
  for (let i = 0; i < p.n; i++) {
    order[i] = i;
    endOrder[i] = i;
  }
  order.sort((a, b) => p.start[a] - p.start[b]);
  endOrder.sort((a, b) => p.end[a] - p.end[b]);
  let live = 0;
  let peak = 0;
  let e = 0;
  for (let q = 0; q < p.n; q++) {
    const i = order[q];
    const t = p.start[i];
    while (e < p.n && p.end[endOrder[e]] <= t) live -= p.size[endOrder[e++]];
    live += p.size[i];
    if (live > peak) peak = live;
  }
  return peak;
}

/** Peak of live bytes over time: no valid plan has a smaller arena. */
export function lowerBound(buffers: readonly Buffer[]): number {
  return lowerBoundPacked(pack(buffers));
}
