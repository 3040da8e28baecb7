/** First fit in time order: buffers in order of their start (then input order), each at the lowest fitting gap. */
import type { Packed } from './packed';
import { placeByStart } from './place';
import type { OverlapIndex } from './overlap';

export function firstFit(p: Packed, _index?: OverlapIndex): Float64Array {
  return placeByStart(p, 'first');
}
