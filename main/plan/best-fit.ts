/** Best fit in time order: buffers in order of their start, each in the smallest fitting gap, else on top. */
import type { Packed } from './packed';
import { placeInOrder, sortedOrder } from './place';
import type { OverlapIndex } from './overlap';

export function bestFit(p: Packed, index?: OverlapIndex): Float64Array {
  return placeInOrder(p, sortedOrder(p.n, (a, b) => p.start[a] - p.start[b]), 'best', index);
}
