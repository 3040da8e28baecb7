/** Best fit in time order: buffers in order of their start, each in the smallest fitting gap, else on top. */
import type { Packed } from './packed';
import { placeByStart } from './place';
import type { OverlapIndex } from './overlap';

export function bestFit(p: Packed, _index?: OverlapIndex): Float64Array {
  return placeByStart(p, 'best');
}
