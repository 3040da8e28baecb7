/**
 * Skyline placement with restarts: builds a plan bottom-up without leaving holes where it can,
 * for tight instances (perfect packings) that the canonical descents and the exact search's
 * probes leave several percent above the optimum at 500+ buffers.
 *
 * Time is cut into columns (between consecutive distinct starts and ends). The skyline is the
 * top of what is placed in each column. One step takes the lowest column (leftmost on ties)
 * and the maximal run [a, b) of columns at that level L. Both neighbours of the run are
 * higher, so without waste column a can only be filled at L by a buffer that starts at a and
 * ends by b, and the whole run must be tiled at L by such a chain. A weighted-interval DP over
 * the run's unplaced buffers (those that start and end inside it) finds the chain covering the
 * most time; its first buffer, when it starts at a, is placed at L. Otherwise column a is wasted:
 * raised to its lower neighbour's level. Ties in the DP go to a buffer whose top meets a
 * neighbour's level (the skyline stays flat), then to a key (size, duration or size x
 * duration, optionally perturbed). A column no unplaced buffer covers is closed (a wall).
 *
 * This is the skyline idea of strip packing (Burke, Kendall and Whitwell's best-fit) turned to
 * fixed lifetimes, with MiniMalloc's canonical "lowest first" order. Restarts vary the key,
 * mirror time (a perfect packing read backwards is one too) and perturb the keys. Pure.
 */
import { roundUp, arenaOf, type Packed } from './packed';
import { mulberry32 } from '../../shared/random';

/** Columns times buffers above which a run is too slow to repeat (O(n x columns) per run). */
export const SKYLINE_MAX_WORK = 5e8;

/** Tie-break keys: 0 size, 1 duration, 2 size x duration. */
type Key = 0 | 1 | 2;

/** Instance data shared by every run: columns and buffers by first column, both time directions. */
export class Columns {
  readonly T: number;
  readonly len: Float64Array;
  /** First and past-last column of each buffer, per direction. */
  readonly s: Int32Array[];
  readonly e: Int32Array[];
  /** Buffers (size > 0) by first column (CSR), per direction. */
  readonly at: Int32Array[];
  readonly atStart: Int32Array[];
  constructor(readonly p: Packed) {
    const n = p.n;
    const times = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      times[2 * i] = p.start[i];
      times[2 * i + 1] = p.end[i];
    }
    times.sort();
    let u = 0;
    for (let k = 0; k < times.length; k++) if (k === 0 || times[k] !== times[u - 1]) times[u++] = times[k];
    const ts = times.subarray(0, u);
    const T = Math.max(0, u - 1);
    this.T = T;
    this.len = new Float64Array(T);
    for (let c = 0; c < T; c++) this.len[c] = ts[c + 1] - ts[c];
    const find = (t: number): number => {
      let lo = 0;
      let hi = u - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ts[mid] < t) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const s0 = new Int32Array(n);
    const e0 = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      s0[i] = find(p.start[i]);
      e0[i] = find(p.end[i]);
    }
    // Mirrored: column c becomes T-1-c.
    const s1 = new Int32Array(n);
    const e1 = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      s1[i] = T - e0[i];
      e1[i] = T - s0[i];
    }
    this.s = [s0, s1];
    this.e = [e0, e1];
    this.at = [];
    this.atStart = [];
    for (const s of this.s) {
      const start = new Int32Array(T + 1);
      for (let i = 0; i < n; i++) if (p.size[i] > 0) start[s[i] + 1]++;
      for (let c = 0; c < T; c++) start[c + 1] += start[c];
      const fill = start.slice(0, T);
      const items = new Int32Array(start[T]);
      for (let i = 0; i < n; i++) if (p.size[i] > 0) items[fill[s[i]]++] = i;
      this.at.push(items);
      this.atStart.push(start);
    }
  }
}

/**
 * The branches of one level of a depth-first skyline search (dive() here, tiling.ts), best
 * first: buffers added with a value, kept in descending order by insertion (there are few).
 * One list per depth, emptied when the level starts and reused.
 */
export class BranchList {
  items = new Int32Array(8);
  private vals = new Float64Array(8);
  n = 0;
  clear(): void {
    this.n = 0;
  }
  add(i: number, v: number): void {
    if (this.n === this.items.length) {
      const c2 = new Int32Array(2 * this.n);
      c2.set(this.items);
      const v2 = new Float64Array(2 * this.n);
      v2.set(this.vals);
      this.items = c2;
      this.vals = v2;
    }
    const { items, vals } = this;
    let r = this.n++;
    while (r > 0 && vals[r - 1] < v) {
      items[r] = items[r - 1];
      vals[r] = vals[r - 1];
      r--;
    }
    items[r] = i;
    vals[r] = v;
  }
}

/** The list of `depth` in `lists`, emptied (made on first use). */
export function branchesAt(lists: BranchList[], depth: number): BranchList {
  const list = (lists[depth] ??= new BranchList());
  list.clear();
  return list;
}

/**
 * What run() and dive() start from, in direction `dir` (1 mirrors time): the columns each
 * buffer spans, the time from column 0 to each column (`pre`), the unplaced buffers covering
 * each column (`cover`; a column with none is closed: `top` Infinity), and the skyline `top`.
 * Buffers in `keep` are placed at `kept` (the skyline is then the top of them); their bytes
 * leave `rem` (unplaced bytes per column) when it is given.
 */
function startSkyline(cols: Columns, dir: 0 | 1, keep: Uint8Array | null, kept: ArrayLike<number> | null, rem: Float64Array | null) {
  const { p, T, len } = cols;
  const n = p.n;
  const { size } = p;
  const s = cols.s[dir];
  const e = cols.e[dir];
  const colLen = dir === 0 ? len : len.slice().reverse();
  const pre = new Float64Array(T + 1);
  for (let c = 0; c < T; c++) pre[c + 1] = pre[c] + colLen[c];
  const off = new Float64Array(n);
  const placed = new Uint8Array(n);
  let left = 0;
  const cover = new Int32Array(T + 1);
  for (let i = 0; i < n; i++) {
    if (size[i] === 0) continue;
    left++;
    cover[s[i]]++;
    cover[e[i]]--;
  }
  for (let c = 1; c <= T; c++) cover[c] += cover[c - 1];
  const top = new Float64Array(T);
  for (let c = 0; c < T; c++) if (cover[c] === 0) top[c] = Infinity;
  if (keep && kept) {
    for (let i = 0; i < n; i++) {
      if (!keep[i] || size[i] === 0) continue;
      off[i] = kept[i];
      placed[i] = 1;
      left--;
      const tp = kept[i] + size[i];
      for (let c = s[i]; c < e[i]; c++) {
        if (rem) rem[c] -= size[i];
        if (--cover[c] === 0) top[c] = Infinity;
        else if (tp > top[c]) top[c] = tp;
      }
    }
  }
  return { s, e, at: cols.at[dir], atStart: cols.atStart[dir], pre, off, placed, cover, top, left };
}

/**
 * One skyline run. `dir` 1 mirrors time; keys are perturbed by up to `noise` (relative) with
 * `rnd`. Returns offsets, or null when the deadline passes first.
 */
function run(cols: Columns, dir: 0 | 1, key: Key, noise: number, rnd: () => number, deadline: number, keep?: Uint8Array, kept?: ArrayLike<number>): Float64Array | null {
  const { p, T } = cols;
  const n = p.n;
  const { size, align } = p;
  const k = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (size[i] === 0) continue;
    const d = p.end[i] - p.start[i];
    const base = key === 0 ? size[i] : key === 1 ? d : size[i] * d;
    k[i] = noise > 0 ? base * (1 + noise * rnd()) : base;
  }
  const st = startSkyline(cols, dir, keep ?? null, kept ?? null, null);
  const { s, e, at, atStart, pre, off, placed, cover, top } = st;
  let left = st.left;
  // Time covered from column c to the run's end by the best chain, and its first buffer.
  const best = new Float64Array(T + 1);
  const choice = new Int32Array(T + 1);
  let steps = 0;
  while (left > 0) {
    if ((++steps & 63) === 0 && performance.now() > deadline) return null;
    let a = -1;
    let L = Infinity;
    for (let c = 0; c < T; c++) {
      if (top[c] < L) {
        L = top[c];
        a = c;
      }
    }
    if (a < 0) throw new Error('skyline: unplaced buffers but every column closed (a bug)');
    let b = a + 1;
    while (b < T && top[b] === L) b++;
    const lv = a > 0 ? top[a - 1] : Infinity;
    const rv = b < T ? top[b] : Infinity;
    // Walled in on both sides: column a must take a buffer that starts there.
    const walled = lv === Infinity && rv === Infinity;
    best[b] = 0;
    for (let c = b - 1; c >= a; c--) {
      let bv = c === a && walled ? -Infinity : best[c + 1];
      let ch = -1;
      let chFlat = false;
      for (let q = atStart[c]; q < atStart[c + 1]; q++) {
        const i = at[q];
        if (placed[i] || e[i] > b) continue;
        const v = best[e[i]] + pre[e[i]] - pre[c];
        if (c === a) {
          const tp = L + size[i];
          const flat = lv === tp || (e[i] < T && top[e[i]] === tp);
          if (v > bv || (v === bv && ch >= 0 && (flat > chFlat || (flat === chFlat && k[i] > k[ch])))) {
            bv = v;
            ch = i;
            chFlat = flat;
          }
        } else if (v > bv || (v === bv && ch >= 0 && k[i] > k[ch])) {
          bv = v;
          ch = i;
        }
      }
      best[c] = bv;
      choice[c] = ch;
    }
    const i = choice[a];
    if (i >= 0) {
      const o = roundUp(L, align[i]);
      off[i] = o;
      placed[i] = 1;
      left--;
      const tp = o + size[i];
      for (let c = s[i]; c < e[i]; c++) top[c] = --cover[c] === 0 ? Infinity : tp;
    } else {
      top[a] = Math.min(lv, rv);
    }
  }
  return off;
}

export interface SkylineResult {
  offsets: Float64Array;
  arenaBytes: number;
  /** Runs completed. */
  runs: number;
}

/** Whether restarted skyline runs are affordable on this instance. */
export function skylineFits(p: Packed): boolean {
  return 2 * p.n * p.n <= SKYLINE_MAX_WORK;
}

/**
 * Skyline runs until `deadline` (performance.now() ms) or until a run reaches `target` (a
 * lower bound): first the six plain variants (key x direction), then perturbed ones in turn,
 * seeded (runs reproduce given the same number of runs). The best plan, or null when no run
 * finished in time.
 */
export function skylineSearch(p: Packed, deadline: number, target = 0, seed = 0x5c71, maxRuns = Infinity): SkylineResult | null {
  const cols = new Columns(p);
  const rnd = mulberry32(seed);
  let bestOff: Float64Array | null = null;
  let bestArena = Infinity;
  let runs = 0;
  for (let r = 0; bestArena > target && r < maxRuns && performance.now() < deadline; r++) {
    const dir = (r % 2) as 0 | 1;
    const key = (Math.floor(r / 2) % 3) as Key;
    const off = run(cols, dir, key, r < 6 ? 0 : 0.5, rnd, deadline);
    if (!off) break;
    runs++;
    const a = arenaOf(p, off);
    if (a < bestArena) {
      bestArena = a;
      bestOff = off;
    }
  }
  return bestOff ? { offsets: bestOff, arenaBytes: bestArena, runs } : null;
}

/** Deepest skyline search (one recursion level per step): larger instances get plain runs only. */
export const DIVE_MAX_BUFFERS = 4000;

/**
 * A depth-first skyline search with capacity `cap`: the same steps as run(), but at every step
 * each buffer that can start the lowest run is a branch (best chain coverage first, then a
 * level-matching top, then the key), and wasting the run's first column is the last branch.
 * A branch is cut when some column's top plus the bytes of its unplaced buffers passes `cap`
 * (the MiniMalloc section bound, per column). Buffers in `keep` stay at `kept` (the search
 * then rebuilds only the rest). Stops after `nodeLimit` steps or at `deadline`. Returns a
 * plan within `cap`, or null.
 */
function dive(cols: Columns, dir: 0 | 1, k: Float64Array, cap: number, nodeLimit: number, deadline: number, keep: Uint8Array | null, kept: ArrayLike<number> | null): Float64Array | null {
  const { p, T } = cols;
  const n = p.n;
  const { size, align } = p;
  const rem = new Float64Array(T);
  for (let i = 0; i < n; i++) if (size[i] > 0) for (let c = cols.s[dir][i]; c < cols.e[dir][i]; c++) rem[c] += size[i];
  const st = startSkyline(cols, dir, keep, kept, rem);
  const { s, e, at, atStart, pre, off, placed, cover, top } = st;
  let left = st.left;
  if (keep && kept) for (let c = 0; c < T; c++) if (top[c] !== Infinity && top[c] + rem[c] > cap) return null;
  const best = new Float64Array(T + 1);
  let nodes = 0;
  let stop = false;
  const lists: BranchList[] = [];
  const step = (depth: number): boolean => {
    // Columns raised by waste in this frame (a waste is not a recursion level: there can be many).
    const raised: number[] = [];
    const undoRaised = (): void => {
      for (let r = raised.length - 2; r >= 0; r -= 2) top[raised[r]] = raised[r + 1];
    };
    for (;;) {
    if (left === 0) return true;
    if (++nodes > nodeLimit || ((nodes & 255) === 0 && performance.now() > deadline)) {
      stop = true;
      undoRaised();
      return false;
    }
    let a = -1;
    let L = Infinity;
    for (let c = 0; c < T; c++) {
      if (top[c] < L) {
        L = top[c];
        a = c;
      }
    }
    if (a < 0) {
      undoRaised();
      return false;
    }
    let b = a + 1;
    while (b < T && top[b] === L) b++;
    const lv = a > 0 ? top[a - 1] : Infinity;
    const rv = b < T ? top[b] : Infinity;
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
    // The branches at column a, best first (insertion sort: there are few).
    const branches = branchesAt(lists, depth);
    for (let q = atStart[a]; q < atStart[a + 1]; q++) {
      const i = at[q];
      if (placed[i] || e[i] > b) continue;
      const tp = roundUp(L, align[i]) + size[i];
      const flat = lv === tp || (e[i] < T && top[e[i]] === tp) ? 1 : 0;
      // Coverage dominates, then flatness, then the key (scaled below 1 by its rank in k).
      branches.add(i, (best[e[i]] + pre[e[i]] - pre[a]) * 4 + flat * 2 + k[i]);
    }
    for (let r = 0; r < branches.n; r++) {
      const i = branches.items[r];
      const o = roundUp(L, align[i]);
      const tp = o + size[i];
      let ok = true;
      for (let c = s[i]; c < e[i]; c++) if (tp + rem[c] - size[i] > cap) ok = false;
      if (!ok) continue;
      const saved = top.slice(s[i], e[i]);
      off[i] = o;
      placed[i] = 1;
      left--;
      for (let c = s[i]; c < e[i]; c++) {
        rem[c] -= size[i];
        top[c] = --cover[c] === 0 ? Infinity : tp;
      }
      if (step(depth + 1)) return true;
      placed[i] = 0;
      left++;
      for (let c = s[i]; c < e[i]; c++) {
        rem[c] += size[i];
        cover[c]++;
      }
      top.set(saved, s[i]);
      if (stop) {
        undoRaised();
        return false;
      }
    }
    // Waste: raise column a to its lower neighbour, and go on in this frame.
    const up = Math.min(lv, rv);
    if (up === Infinity || up + rem[a] > cap) {
      undoRaised();
      return false;
    }
    raised.push(a, L);
    top[a] = up;
    }
  };
  return step(0) ? off : null;
}

/** Keys for one dive: the base key, perturbed by up to `noise`, mapped by rank into [0, 1). */
function diveKeys(p: Packed, key: Key, noise: number, rnd: () => number): Float64Array {
  const n = p.n;
  const raw = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = p.end[i] - p.start[i];
    const base = key === 0 ? p.size[i] : key === 1 ? d : p.size[i] * d;
    raw[i] = noise > 0 ? base * (1 + noise * rnd()) : base;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => raw[x] - raw[y] || x - y);
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) out[order[r]] = r / n;
  return out;
}

/** Share of improvement tries under the best arena itself (kept when the bytes above the target do not grow). */
const SIDEWAYS = 0.4;

/**
 * Improves a plan (large-neighbourhood search: "drop the top and rebuild it"). Each try keeps
 * the buffers of the current plan up to a random rank in order of offset (biased to keep
 * most; one try in ten rebuilds everything), drops the rest, and rebuilds them with a
 * node-limited depth-first skyline search (dive()) over what is kept, with a random key,
 * noise and time direction. Most tries search under a capacity a step below the best arena
 * (the step doubles after a success and halves after a failure, as the exact search's probes
 * do); the others search under the best arena itself and are kept when the bytes x time above
 * `target` (on a tight instance: the holes below it) do not grow, which moves the plan
 * sideways when no single rebuild lowers its peak. Until `deadline` or `target` (a lower
 * bound), or `maxTries` tries (so a test can fix the work). Returns the best plan (at worst the
 * given one), or null when the instance is too large for the search.
 */
export function skylineImprove(p: Packed, offsets: ArrayLike<number>, deadline: number, target = 0, seed = 0x7a11, maxTries = Infinity, nodeLimit = 4000): SkylineResult | null {
  if (p.n > DIVE_MAX_BUFFERS) return null;
  const cols = new Columns(p);
  const rnd = mulberry32(seed);
  const n = p.n;
  let bestOff: Float64Array = Float64Array.from(offsets);
  let bestArena = arenaOf(p, bestOff);
  const items: number[] = [];
  for (let i = 0; i < n; i++) if (p.size[i] > 0) items.push(i);
  const m = items.length;
  const byOffset = (): number[] => items.slice().sort((x, y) => bestOff[x] - bestOff[y] || x - y);
  let order = byOffset();
  const keep = new Uint8Array(n);
  /** Bytes x time above the target. */
  const aboveOf = (off: Float64Array): number => {
    let a = 0;
    for (const i of items) {
      const t = off[i] + p.size[i];
      if (t > target) a += (t - Math.max(off[i], target)) * (p.end[i] - p.start[i]);
    }
    return a;
  };
  let bestAbove = aboveOf(bestOff);
  let gap = Math.max(1, Math.floor((bestArena - target) / 2));
  let runs = 0;
  while (bestArena > target && runs < maxTries && performance.now() < deadline) {
    const sideways = rnd() < SIDEWAYS;
    const cap = sideways ? bestArena : Math.max(target, bestArena - gap);
    const u = rnd();
    const kk = rnd() < 0.1 ? 0 : Math.floor(m * (1 - u * u));
    keep.fill(0);
    for (let q = 0; q < kk; q++) keep[order[q]] = 1;
    const dir = (rnd() < 0.5 ? 0 : 1) as 0 | 1;
    const keys = diveKeys(p, Math.floor(rnd() * 3) as Key, 0.5 * rnd(), rnd);
    const off = dive(cols, dir, keys, cap, nodeLimit, deadline, kk ? keep : null, kk ? bestOff : null);
    runs++;
    const a = off ? arenaOf(p, off) : Infinity;
    const above = off ? aboveOf(off) : Infinity;
    if (off && (a < bestArena || above <= bestAbove)) {
      if (!sideways) gap *= 2;
      bestArena = a;
      bestAbove = above;
      bestOff = off;
      order = byOffset();
    } else if (!sideways) gap = Math.max(1, Math.floor(gap / 2));
    gap = Math.min(gap, Math.max(1, bestArena - target));
  }
  return { offsets: bestOff, arenaBytes: bestArena, runs };
}
