/**
 * Tiling search: a depth-first search for a plan within capacity `cap` that builds the skyline
 * bottom-up like skyline.ts's dive, but branches where the skyline is most constrained
 * (fail-first) instead of always at the lowest column.
 *
 * The skyline is the top of what is placed in each column (time between consecutive distinct
 * starts and ends). Take any run [a, b) of columns at one level L whose neighbours are both
 * higher (a local minimum; a column no unplaced buffer covers is a wall). Its first column can
 * only be filled at L by an unplaced buffer that starts at a and ends by b, or be wasted
 * (raised to the lower neighbour's level, when the column's slack allows it); likewise its last
 * column by one that ends at b and starts at a or later. Every such end must be resolved in any
 * completion, so the search may branch on any of them: it takes the end with the fewest options
 * (a forced move when there is one, a dead end at once when one has none), anywhere on the
 * skyline. On a tight instance (a perfect packing, where no column may be wasted) that finds a
 * wrong choice where it shows, not hundreds of placements later at the lowest column.
 *
 * A branch is cut when some column's top plus the bytes of its unplaced buffers passes `cap`
 * (MiniMalloc's section bound, per column). States shown to fail (placed set and skyline, by a
 * 64-bit hash) are remembered and cut when met again. The search restarts with perturbed
 * branch orders on a Luby schedule of node limits (heavy-tailed search). This is the
 * fail-first rule of constraint programming (Haralick and Elliott, 1980) and the nogood cache
 * and restarts of SAT solvers, over our skyline; the code is ours. Pure.
 */
import { roundUp, type Packed } from './packed';
import { branchesAt, Columns, type BranchList } from './skyline';
import { mulberry32 } from '../../shared/random';

/** Nodes of the first restart; later ones follow the Luby sequence times this. */
const LUBY_UNIT = 2000;
/**
 * Largest instance searched: one recursion level per placement, and a level's frame is large
 * (3,000 levels fit in Node's default stack, 4,000 did not). The instances it is for (perfect
 * packings, MiniMalloc's) have up to about 1,000 buffers.
 */
export const TILING_MAX_BUFFERS = 2000;
/** Slots of the failed-state cache (two 32-bit words each). */
const CACHE_BITS = 20;

function luby(i: number): number {
  // The i-th term (1-based) of 1, 1, 2, 1, 1, 2, 4, 1, ...
  for (;;) {
    let k = 1;
    while ((1 << k) - 1 < i) k++;
    if ((1 << k) - 1 === i) return 1 << (k - 1);
    i -= (1 << (k - 1)) - 1;
  }
}

export interface TilingResult {
  offsets: Float64Array;
  nodes: number;
  restarts: number;
}

/**
 * A plan within `cap`, or null when none was found before `deadline` (performance.now() ms) or
 * `maxNodes`, or the instance has more than TILING_MAX_BUFFERS buffers. Never a proof: the
 * skyline model does not reach every plan.
 */
export function tilingSearch(p: Packed, cap: number, deadline: number, seed = 0x711e, maxNodes = Infinity): TilingResult | null {
  if (p.n > TILING_MAX_BUFFERS) return null;
  const cols = new Columns(p);
  const T = cols.T;
  const n = p.n;
  const { size, align } = p;
  const s = cols.s[0];
  const e = cols.e[0];
  const at = cols.at[0];
  const atStart = cols.atStart[0];
  // Buffers (size > 0) by past-last column (CSR).
  const endStart = new Int32Array(T + 2);
  for (let i = 0; i < n; i++) if (size[i] > 0) endStart[e[i] + 1]++;
  for (let c = 0; c <= T; c++) endStart[c + 1] += endStart[c];
  const byEnd = new Int32Array(endStart[T + 1]);
  {
    const fill = endStart.slice(0, T + 1);
    for (let i = 0; i < n; i++) if (size[i] > 0) byEnd[fill[e[i]]++] = i;
  }
  const len = cols.len;
  const pre = new Float64Array(T + 1);
  for (let c = 0; c < T; c++) pre[c + 1] = pre[c] + len[c];

  const rnd = mulberry32(seed);
  // Zobrist keys per buffer, and per column for the skyline profile hash.
  const zb = new Int32Array(2 * n);
  for (let k = 0; k < zb.length; k++) zb[k] = (rnd() * 0x100000000) | 0;
  const cacheMask = (1 << CACHE_BITS) - 1;
  const cacheA = new Int32Array(1 << CACHE_BITS);
  const cacheB = new Int32Array(1 << CACHE_BITS);
  const cacheUsed = new Uint8Array(1 << CACHE_BITS);

  const top = new Float64Array(T);
  const rem = new Float64Array(T);
  const cover = new Int32Array(T + 1);
  const placed = new Uint8Array(n);
  const off = new Float64Array(n);
  const noise = new Float64Array(n);
  let left = 0;
  for (let i = 0; i < n; i++) {
    if (size[i] === 0) continue;
    left++;
    cover[s[i]]++;
    cover[e[i]]--;
    for (let c = s[i]; c < e[i]; c++) rem[c] += size[i];
  }
  for (let c = 1; c <= T; c++) cover[c] += cover[c - 1];
  for (let c = 0; c < T; c++) {
    if (cover[c] === 0) top[c] = Infinity;
    if (top[c] !== Infinity && rem[c] > cap) return null;
  }
  if (left === 0) return { offsets: off, nodes: 0, restarts: 0 };

  let hA = 0;
  let hB = 0;
  let nodes = 0;
  let budget = 0;
  let stopped = false;
  const best = new Float64Array(T + 1);
  // Reachability marks of a tight run's chains (current when equal to stamp).
  const fwd = new Int32Array(T + 1);
  const bwd = new Int32Array(T + 1);
  let stamp = 0;
  const lists: BranchList[] = [];

  /** Profile hash of the skyline (the placed set's hash is kept incrementally in hA, hB). */
  const stateKey = (): [number, number] => {
    let x = hA;
    let y = hB;
    for (let c = 0; c < T; c++) {
      const t = top[c];
      if (t === Infinity) continue;
      x = Math.imul(x ^ (t % 0x7fffffff), 0x01000193) ^ c;
      y = Math.imul(y ^ Math.floor(t / 0x7fffffff), 0x5bd1e995) + c;
    }
    return [x, y];
  };

  // One level: returns true when every buffer is placed.
  const step = (depth: number): boolean => {
    // Columns this frame wasted (column, old level), and the states it went through (their
    // keys): a waste is no recursion level (there can be thousands), and when the frame fails
    // every state of its chain failed.
    const raised: number[] = [];
    const keys: number[] = [];
    const fail = (): boolean => {
      for (let r = raised.length - 2; r >= 0; r -= 2) top[raised[r]] = raised[r + 1];
      if (!stopped) {
        for (let k = 0; k < keys.length; k += 3) {
          cacheA[keys[k + 2]] = keys[k];
          cacheB[keys[k + 2]] = keys[k + 1];
          cacheUsed[keys[k + 2]] = 1;
        }
      }
      return false;
    };
    for (;;) {
    if (left === 0) return true;
    if (++nodes > budget || ((nodes & 255) === 0 && performance.now() > deadline)) {
      stopped = true;
      return fail();
    }
    // The most constrained end of a local-minimum run.
    let bestCount = Infinity;
    let bestL = Infinity;
    let bA = -1;
    let bB = -1;
    let bSide = 0; // 0: first column, 1: last column
    for (let a = 0; a < T; ) {
      const L = top[a];
      let b = a + 1;
      while (b < T && top[b] === L) b++;
      if (L !== Infinity && (a === 0 || top[a - 1] > L) && (b === T || top[b] > L)) {
        const lv = a > 0 ? top[a - 1] : Infinity;
        const rv = b < T ? top[b] : Infinity;
        const up = Math.min(lv, rv);
        // Tight: no column of the run has room to waste, so chains of unplaced buffers inside
        // it must tile it exactly; which columns they reach from each end.
        let tight = true;
        for (let c = a; c < b && tight; c++) if (L + rem[c] < cap) tight = false;
        if (tight) {
          stamp++;
          fwd[a] = stamp;
          for (let c = a; c < b; c++) {
            if (fwd[c] !== stamp) continue;
            for (let q = atStart[c]; q < atStart[c + 1]; q++) {
              const i = at[q];
              if (!placed[i] && e[i] <= b) fwd[e[i]] = stamp;
            }
          }
          if (fwd[b] !== stamp) return fail();
          bwd[b] = stamp;
          for (let c = b; c > a; c--) {
            if (bwd[c] !== stamp) continue;
            for (let q = endStart[c]; q < endStart[c + 1]; q++) {
              const i = byEnd[q];
              if (!placed[i] && s[i] >= a) bwd[s[i]] = stamp;
            }
          }
        }
        for (let side = 0; side < 2; side++) {
          const col = side === 0 ? a : b - 1;
          let cnt = !tight && up !== Infinity && up + rem[col] <= cap ? 1 : 0;
          if (side === 0) {
            for (let q = atStart[a]; q < atStart[a + 1] && cnt < bestCount; q++) {
              const i = at[q];
              if (!placed[i] && e[i] <= b && (!tight || bwd[e[i]] === stamp)) cnt++;
            }
          } else {
            for (let q = endStart[b]; q < endStart[b + 1] && cnt < bestCount; q++) {
              const i = byEnd[q];
              if (!placed[i] && s[i] >= a && (!tight || fwd[s[i]] === stamp)) cnt++;
            }
          }
          if (cnt === 0) return fail();
          if (cnt < bestCount || (cnt === bestCount && L < bestL)) {
            bestCount = cnt;
            bestL = L;
            bA = a;
            bB = b;
            bSide = side;
          }
          if (a === b - 1) break; // one column: both ends are the same
        }
      }
      a = b;
    }
    if (bA < 0) return fail(); // unplaced buffers but no open run: cannot happen
    const [kA, kB] = stateKey();
    const slot = (kA ^ Math.imul(kB, 0x9e3779b1)) & cacheMask;
    if (cacheUsed[slot] && cacheA[slot] === kA && cacheB[slot] === kB) return fail();
    keys.push(kA, kB, slot);

    const a = bA;
    const b = bB;
    const L = bestL;
    const lv = a > 0 ? top[a - 1] : Infinity;
    const rv = b < T ? top[b] : Infinity;
    // Time the best chain of unplaced buffers inside the run covers from the chosen end.
    if (bSide === 0) {
      best[b] = 0;
      for (let c = b - 1; c > a; c--) {
        let bv = best[c + 1];
        for (let q = atStart[c]; q < atStart[c + 1]; q++) {
          const i = at[q];
          if (placed[i] || e[i] > b) continue;
          const v = best[e[i]] + pre[e[i]] - pre[c];
          if (v > bv) bv = v;
        }
        best[c] = bv;
      }
    } else {
      best[a] = 0;
      for (let c = a + 1; c < b; c++) {
        let bv = best[c - 1];
        for (let q = endStart[c]; q < endStart[c + 1]; q++) {
          const i = byEnd[q];
          if (placed[i] || s[i] < a) continue;
          const v = best[s[i]] + pre[c] - pre[s[i]];
          if (v > bv) bv = v;
        }
        best[c] = bv;
      }
    }
    const branches = branchesAt(lists, depth);
    if (bSide === 0) {
      for (let q = atStart[a]; q < atStart[a + 1]; q++) {
        const i = at[q];
        if (placed[i] || e[i] > b) continue;
        const tp = roundUp(L, align[i]) + size[i];
        const flat = lv === tp || (e[i] < T && top[e[i]] === tp) ? 1 : 0;
        branches.add(i, (best[e[i]] + pre[e[i]] - pre[a]) * 4 + flat * 2 + noise[i]);
      }
    } else {
      for (let q = endStart[b]; q < endStart[b + 1]; q++) {
        const i = byEnd[q];
        if (placed[i] || s[i] < a) continue;
        const tp = roundUp(L, align[i]) + size[i];
        const flat = rv === tp || (s[i] > 0 && top[s[i] - 1] === tp) ? 1 : 0;
        branches.add(i, (best[s[i]] + pre[b] - pre[s[i]]) * 4 + flat * 2 + noise[i]);
      }
    }
    for (let r = 0; r < branches.n; r++) {
      const i = branches.items[r];
      const o = roundUp(L, align[i]);
      const tp = o + size[i];
      let ok = true;
      for (let c = s[i]; c < e[i] && ok; c++) if (tp + rem[c] - size[i] > cap) ok = false;
      if (!ok) continue;
      const saved = top.slice(s[i], e[i]);
      off[i] = o;
      placed[i] = 1;
      left--;
      hA ^= zb[2 * i];
      hB ^= zb[2 * i + 1];
      for (let c = s[i]; c < e[i]; c++) {
        rem[c] -= size[i];
        top[c] = --cover[c] === 0 ? Infinity : tp;
      }
      if (step(depth + 1)) return true;
      placed[i] = 0;
      left++;
      hA ^= zb[2 * i];
      hB ^= zb[2 * i + 1];
      for (let c = s[i]; c < e[i]; c++) {
        rem[c] += size[i];
        cover[c]++;
      }
      top.set(saved, s[i]);
      if (stopped) return fail();
    }
    // Waste: the chosen end's column raised to the lower neighbour of the run.
    const col = bSide === 0 ? a : b - 1;
    const up = Math.min(lv, rv);
    if (up === Infinity || up + rem[col] > cap) return fail();
    raised.push(col, L);
    top[col] = up;
    }
  };

  let restarts = 0;
  for (let r = 1; nodes < maxNodes && performance.now() < deadline; r++) {
    for (let i = 0; i < n; i++) noise[i] = r === 1 ? 0 : rnd() * 3.5;
    budget = Math.min(maxNodes, nodes + LUBY_UNIT * luby(r));
    stopped = false;
    try {
      if (step(0)) return { offsets: off, nodes, restarts };
    } catch (err) {
      // A stack smaller than the one TILING_MAX_BUFFERS was measured with (a worker thread's,
      // say): no plan from this search, the caller goes on with the others.
      if (err instanceof RangeError) return null;
      throw err;
    }
    restarts++;
    if (!stopped) return null; // the whole tree failed: no plan in this model
  }
  return null;
}
