/**
 * Greedy by size (TensorFlow Lite): the largest buffers first, each at the lowest gap among
 * the already-placed buffers that overlap it in time.
 */
import type { Packed } from './packed';
import { placeInOrder, sortedOrder } from './place';
import type { OverlapIndex } from './overlap';

export function greedyBySize(p: Packed, index?: OverlapIndex): Float64Array {
  const order = sortedOrder(p.n, (a, b) => p.size[b] - p.size[a] || p.start[a] - p.start[b]);
  return placeInOrder(p, order, 'first', index);
}
