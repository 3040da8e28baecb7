/** First fit in time order: buffers in order of their start (then input order), each at the lowest fitting gap. */
import type { Packed } from './packed';
import { placeInOrder, sortedOrder } from './place';
import type { OverlapIndex } from './overlap';

export function firstFit(p: Packed, index?: OverlapIndex): Float64Array {
  return placeInOrder(p, sortedOrder(p.n, (a, b) => p.start[a] - p.start[b]), 'first', index);
}
