/**
 * Greedy by breadth (after TensorFlow Lite's GreedyByBreadth): time sections are visited
 * from the one with the most live bytes (its "breadth") down; in each, the buffers live there
 * and not yet placed go largest first, each at the lowest fitting gap.
 *
 * Equivalent order, computed without visiting sections: a buffer is first met in the widest
 * of its own sections (leftmost on ties, as a stable sort by breadth would visit them), so
 * sort by (that breadth desc, that section asc, size desc). A range-max table finds it in O(1).
 */
import type { Packed } from './packed';
import { placeInOrder, sortedOrder } from './place';
import { OverlapIndex } from './overlap';
import { RangeMax } from './rmq';

export function greedyByBreadth(p: Packed, index?: OverlapIndex): Float64Array {
  const idx = index ?? new OverlapIndex(p);
  const { secLo, secHi, totals } = idx.tl;
  const rmq = new RangeMax(totals);
  const widest = new Int32Array(p.n);
  const breadth = new Float64Array(p.n);
  for (let i = 0; i < p.n; i++) {
    widest[i] = rmq.argmax(secLo[i], secHi[i]);
    breadth[i] = totals[widest[i]];
  }
  const order = sortedOrder(
    p.n,
    (a, b) => breadth[b] - breadth[a] || widest[a] - widest[b] || p.size[b] - p.size[a],
  );
  return placeInOrder(p, order, 'first', idx);
}
