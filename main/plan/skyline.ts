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
class Columns {
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
 * One skyline run. `dir` 1 mirrors time; keys are perturbed by up to `noise` (relative) with
 * `rnd`. Returns offsets, or null when the deadline passes first.
 */
function run(cols: Columns, dir: 0 | 1, key: Key, noise: number, rnd: () => number, deadline: number): Float64Array | null {
  const { p, T, len } = cols;
  const n = p.n;
  const { size, align } = p;
  const s = cols.s[dir];
  const e = cols.e[dir];
  const at = cols.at[dir];
  const atStart = cols.atStart[dir];
  const colLen = dir === 0 ? len : len.slice().reverse();
  // Time from column 0 to column c.
  const pre = new Float64Array(T + 1);
  for (let c = 0; c < T; c++) pre[c + 1] = pre[c] + colLen[c];
  const off = new Float64Array(n);
  const placed = new Uint8Array(n);
  const k = new Float64Array(n);
  let left = 0;
  for (let i = 0; i < n; i++) {
    if (size[i] === 0) continue;
    left++;
    const d = p.end[i] - p.start[i];
    const base = key === 0 ? size[i] : key === 1 ? d : size[i] * d;
    k[i] = noise > 0 ? base * (1 + noise * rnd()) : base;
  }
  // Unplaced buffers covering each column; a column with none is closed (Infinity).
  const cover = new Int32Array(T + 1);
  for (let i = 0; i < n; i++) {
    if (size[i] === 0) continue;
    cover[s[i]]++;
    cover[e[i]]--;
  }
  for (let c = 1; c <= T; c++) cover[c] += cover[c - 1];
  const top = new Float64Array(T);
  for (let c = 0; c < T; c++) if (cover[c] === 0) top[c] = Infinity;
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
export function skylineSearch(p: Packed, deadline: number, target = 0, seed = 0x5c71): SkylineResult | null {
  const cols = new Columns(p);
  const rnd = mulberry32(seed);
  let bestOff: Float64Array | null = null;
  let bestArena = Infinity;
  let runs = 0;
  for (let r = 0; bestArena > target && performance.now() < deadline; r++) {
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
