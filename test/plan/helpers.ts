/** Shared test helpers: a seeded PRNG and instance generators. */
import type { Buffer } from '../../main/plan/types';
import { mulberry32 } from '../../main/ab/stats';

/** The project's seeded PRNG (mulberry32, main/ab/stats.ts). */
export const prng = mulberry32;

export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** Random lifetimes and sizes; some with alignment when `aligned`. */
export function randomInstance(r: () => number, n: number, horizon: number, maxSize: number, aligned = false): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const start = randInt(r, 0, horizon - 1);
    const end = randInt(r, start + 1, Math.min(horizon, start + 1 + Math.floor(horizon / 3)));
    const b: Buffer = { id: i, start, end, size: randInt(r, 1, maxSize) };
    if (aligned && r() < 0.5) b.align = 2 ** randInt(r, 0, 4);
    out.push(b);
  }
  return out;
}

/**
 * A tight instance: the rectangle [0, horizon) x [0, capacity) cut recursively (guillotine
 * cuts, in time or in bytes) into buffers. Every time step is covered exactly, so the peak of
 * live bytes equals the capacity and a plan at the capacity exists.
 */
export function tightInstance(r: () => number, pieces: number, horizon: number, capacity: number): Buffer[] {
  type Rect = { t0: number; t1: number; o0: number; o1: number };
  const rects: Rect[] = [{ t0: 0, t1: horizon, o0: 0, o1: capacity }];
  let guard = 0;
  while (rects.length < pieces && guard++ < pieces * 20) {
    const k = Math.floor(r() * rects.length);
    const x = rects[k];
    const cutTime = r() < 0.5;
    if (cutTime && x.t1 - x.t0 >= 2) {
      const c = randInt(r, x.t0 + 1, x.t1 - 1);
      rects.splice(k, 1, { ...x, t1: c }, { ...x, t0: c });
    } else if (!cutTime && x.o1 - x.o0 >= 2) {
      const c = randInt(r, x.o0 + 1, x.o1 - 1);
      rects.splice(k, 1, { ...x, o1: c }, { ...x, o0: c });
    }
  }
  // Shuffle so input order says nothing about the packing.
  for (let i = rects.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [rects[i], rects[j]] = [rects[j], rects[i]];
  }
  return rects.map((x, i) => ({ id: `t${i}`, start: x.t0, end: x.t1, size: x.o1 - x.o0 }));
}
