/**
 * Exact solver in the spirit of Google's MiniMalloc (Moffitt, ASPLOS 2023); own code.
 *
 * Decision problem "does everything fit under capacity C?", answered by a depth-first search:
 *  - canonical placements: a buffer is only ever put at the lowest offset its placed,
 *    time-overlapping neighbours allow (its "min offset", rounded up to its alignment), and
 *    buffers are placed in non-decreasing (offset, preorder rank) order. Every feasible plan
 *    can be pushed down into such a form, so the search stays complete.
 *  - dominance: a buffer is not placed at an offset at or above the top (min offset + size)
 *    of some unplaced buffer: that one could drop into the gap below, so the plan is not
 *    canonical.
 *  - section inference: in every time section, max(current offset, section floor) plus the
 *    bytes still unplaced there must stay within C.
 *  - independent parts: the instance is split where no buffer crosses a time boundary; each
 *    part is solved on its own (the arena is the max over parts).
 *  - preorder heuristics round-robin with doubling node limits, as MiniMalloc does: WAT, TAW,
 *    TWA (W = lifetime length, A = size * lifetime, T = max bytes live in its sections).
 * The search is iterative (explicit undo logs), so depth is not bounded by the JS stack.
 *
 * Optimisation on top: start from the best heuristic plan (upper bound); first probe the
 * lower bound (peak live bytes), then binary search the capacity, each probe with a slice of
 * the time left. Only parts whose current plan exceeds the probed capacity are re-solved.
 * `optimal` is true only when the best arena equals a proven lower bound: the peak, or a
 * capacity + 1 whose search was exhausted without a solution.
 */
import { arenaOf, roundUp, type Packed } from './packed';
import { buildTimeline, OverlapIndex, type Timeline } from './overlap';
import { RangeMax } from './rmq';

export interface ExactOptions {
  timeLimitSeconds?: number;
  /** A valid plan to start from (its arena is the first upper bound). */
  initialOffsets: ArrayLike<number>;
}

export interface ExactOutcome {
  offsets: Float64Array;
  arenaBytes: number;
  optimal: boolean;
  lowerBound: number;
  /** The best proven lower bound (>= peak live bytes). */
  provenLowerBound: number;
  nodes: number;
}

type Status = 'found' | 'infeasible' | 'aborted' | 'timeout';

interface Part {
  members: Int32Array; // global buffer indices, sizes > 0
  secLo: number;
  secHi: number;
  lowerBound: number;
  arena: number; // of the current best offsets
}

/** Growable stacks for the undo logs. */
class F64Stack {
  a = new Float64Array(1024);
  len = 0;
  push(x: number): void {
    if (this.len === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.len++] = x;
  }
}
class I32Stack {
  a = new Int32Array(1024);
  len = 0;
  push(x: number): void {
    if (this.len === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.len++] = x;
  }
}

class Search {
  readonly minOff: Float64Array;
  readonly off: Float64Array;
  /** Offsets of the last solution found, for the part's members. */
  readonly sol: Float64Array;
  readonly floor: Float64Array;
  readonly total: Float64Array;
  /** cuts[b]: unplaced buffers crossing the boundary between sections b - 1 and b. */
  readonly cuts: Int32Array;
  readonly secStamp: Int32Array;
  readonly nb: Int32Array;
  nodes = 0;
  private stamp = 0;
  private budget = 0; // nodes left before 'aborted'
  private deadline = 0;
  private cap = 0;
  private pre: Int32Array = new Int32Array(0);
  private readonly minLogI = new I32Stack();
  private readonly minLogV = new F64Stack();
  private readonly flLogS = new I32Stack();
  private readonly flLogV = new F64Stack();
  /** Buffers live in each section (CSR), for the unallocated-floor inference; null when too large. */
  private readonly secStart: Int32Array | null = null;
  private readonly secItems: Int32Array | null = null;

  constructor(
    private readonly p: Packed,
    private readonly tl: Timeline,
    private readonly idx: OverlapIndex,
  ) {
    this.minOff = new Float64Array(p.n);
    this.off = new Float64Array(p.n).fill(-1);
    this.sol = new Float64Array(p.n);
    this.floor = new Float64Array(tl.sections);
    this.total = new Float64Array(tl.sections);
    this.cuts = new Int32Array(tl.sections + 1);
    this.secStamp = new Int32Array(tl.sections);
    this.nb = new Int32Array(p.n);
    let spans = 0;
    for (let i = 0; i < p.n; i++) spans += tl.secHi[i] - tl.secLo[i];
    if (spans <= MAX_SECTION_ITEMS) {
      const start = new Int32Array(tl.sections + 1);
      for (let i = 0; i < p.n; i++) for (let s = tl.secLo[i]; s < tl.secHi[i]; s++) start[s + 1]++;
      for (let s = 0; s < tl.sections; s++) start[s + 1] += start[s];
      const fill = start.slice(0, tl.sections);
      const items = new Int32Array(spans);
      for (let i = 0; i < p.n; i++) for (let s = tl.secLo[i]; s < tl.secHi[i]; s++) items[fill[s]++] = i;
      this.secStart = start;
      this.secItems = items;
    }
  }

  /**
   * Searches for offsets of the part's buffers within `cap`; on 'found' they are in
   * this.sol. `pre` ranks buffers for ties (lower = earlier).
   */
  solve(part: Part, cap: number, pre: Int32Array, nodeLimit: number, deadline: number): Status {
    const { minOff, off, floor, total, cuts, tl } = this;
    for (const i of part.members) {
      minOff[i] = 0;
      off[i] = -1;
    }
    for (let s = part.secLo; s < part.secHi; s++) {
      floor[s] = 0;
      total[s] = tl.totals[s];
      cuts[s] = 0;
    }
    cuts[part.secHi] = 0;
    for (const i of part.members) {
      cuts[tl.secLo[i] + 1]++;
      cuts[tl.secHi[i]]--;
    }
    for (let s = part.secLo + 1; s < part.secHi; s++) cuts[s] += cuts[s - 1];
    this.minLogI.len = this.minLogV.len = this.flLogS.len = this.flLogV.len = 0;
    this.cap = cap;
    this.pre = pre;
    this.budget = nodeLimit;
    this.deadline = deadline;
    return this.dfs(part.members, part.secLo, part.secHi, 0);
  }

  /** Sets a section floor, logging the old value for undo. */
  private raiseFloor(s: number, v: number): void {
    this.flLogS.push(s);
    this.flLogV.push(this.floor[s]);
    this.floor[s] = v;
  }

  /**
   * Depth-first search over the unplaced buffers `group`, which live in sections
   * [secLo, secHi) and interact with nothing outside them except placed buffers. On 'found'
   * the group's offsets are in this.sol and all state is restored as on entry.
   */
  private dfs(group: Int32Array, gLo: number, gHi: number, nest: number): Status {
    // nb is shared by nested searches: it is only used between a placement and its checks.
    const { p, tl, idx, minOff, off, floor, total, cuts, nb, pre, cap } = this;
    const { secLo, secHi } = tl;
    const size = p.size;
    const align = p.align;
    const m = group.length;
    const unp = Int32Array.from(group);
    let cnt = m;
    const chosen = new Int32Array(m);
    const keyOff = new Float64Array(m);
    const keyPre = new Int32Array(m);
    const tried = new Uint8Array(m);
    const minH = new Float64Array(m);
    const minLogStart = new Int32Array(m);
    const flLogStart = new Int32Array(m);
    const removedAt = new Int32Array(m); // slot in unp the buffer chosen at each depth came from
    const { minLogI, minLogV, flLogS, flLogV } = this;
    const secStart = this.secStart;
    const secItems = this.secItems;
    const secStamp = this.secStamp;

    const enter = (d: number): void => {
      let h = Infinity;
      for (let q = 0; q < cnt; q++) {
        const i = unp[q];
        const t = minOff[i] + size[i];
        if (t < h) h = t;
      }
      minH[d] = h;
      tried[d] = 0;
    };
    const undo = (d: number): void => {
      const u = chosen[d];
      for (let k = flLogS.len - 1; k >= flLogStart[d]; k--) floor[flLogS.a[k]] = flLogV.a[k];
      flLogS.len = flLogV.len = flLogStart[d];
      for (let s = secLo[u]; s < secHi[u]; s++) total[s] += size[u];
      for (let b = secLo[u] + 1; b < secHi[u]; b++) cuts[b]++;
      for (let k = minLogI.len - 1; k >= minLogStart[d]; k--) minOff[minLogI.a[k]] = minLogV.a[k];
      minLogI.len = minLogV.len = minLogStart[d];
      const at = removedAt[d];
      unp[cnt] = unp[at];
      unp[at] = u;
      cnt++;
      off[u] = -1;
    };
    const finish = (d: number): Status => {
      // Record the placed buffers of this group, then restore everything.
      for (let k = 0; k <= d; k++) this.sol[chosen[k]] = off[chosen[k]];
      for (let k = d; k >= 0; k--) undo(k);
      return 'found';
    };

    const maxTot = new Float64Array(m); // per depth: an upper bound on total[s] over the group
    for (let s = gLo; s < gHi; s++) if (total[s] > maxTot[0]) maxTot[0] = total[s];
    let d = 0;
    enter(0);
    for (;;) {
      let lbO = -1;
      let lbP = -1;
      if (tried[d]) {
        lbO = keyOff[d];
        lbP = keyPre[d];
      } else if (d > 0) {
        lbO = keyOff[d - 1];
        lbP = keyPre[d - 1];
      }
      const h = minH[d];
      let uq = -1;
      let uo = Infinity;
      let up = 0;
      for (let q = 0; q < cnt; q++) {
        const i = unp[q];
        const o = minOff[i];
        if (o >= h || o < lbO || o > uo) continue;
        const r = pre[i];
        if (o === lbO && r <= lbP) continue;
        if (o < uo || r < up) {
          uq = q;
          uo = o;
          up = r;
        }
      }
      if (uq < 0) {
        if (d === 0) return 'infeasible';
        d--;
        undo(d);
        continue;
      }
      const u = unp[uq];
      chosen[d] = u;
      keyOff[d] = uo;
      keyPre[d] = up;
      tried[d] = 1;
      off[u] = uo;
      removedAt[d] = uq;
      cnt--;
      unp[uq] = unp[cnt];
      unp[cnt] = u;
      const top = uo + size[u];
      minLogStart[d] = minLogI.len;
      const k = idx.neighbours(p, u, nb);
      let changed = 0;
      for (let r = 0; r < k; r++) {
        const v = nb[r];
        if (off[v] < 0 && minOff[v] < top) {
          minLogI.push(v);
          minLogV.push(minOff[v]);
          minOff[v] = roundUp(top, align[v]);
          nb[changed++] = v;
        }
      }
      flLogStart[d] = flLogS.len;
      for (let s = secLo[u]; s < secHi[u]; s++) {
        this.raiseFloor(s, top);
        total[s] -= size[u];
      }
      let split = false;
      for (let b = secLo[u] + 1; b < secHi[u]; b++) if (--cuts[b] === 0) split = true;
      // Unallocated floor: a section's floor is at least the lowest min offset of its unplaced buffers.
      if (secStart && secItems) {
        const st = ++this.stamp;
        for (let r = 0; r < changed; r++) {
          const v = nb[r];
          const mv = minOff[v];
          for (let s = secLo[v]; s < secHi[v]; s++) {
            // The floor can only rise to at most v's new min offset; skip when it is there already.
            if (secStamp[s] === st || floor[s] >= mv) continue;
            secStamp[s] = st;
            const fl = floor[s];
            let mn = Infinity;
            for (let q = secStart[s], qe = secStart[s + 1]; q < qe; q++) {
              const w = secItems[q];
              if (off[w] < 0 && minOff[w] < mn) {
                mn = minOff[w];
                if (mn <= fl) break;
              }
            }
            if (mn !== Infinity && mn > fl) this.raiseFloor(s, mn);
          }
        }
      }
      this.nodes++;
      if (--this.budget < 0) return 'aborted';
      if ((this.nodes & 255) === 0 && performance.now() > this.deadline) return 'timeout';
      // Section inference: max(offset, floor) + unplaced bytes <= cap in every section.
      // Untouched sections passed floor + total <= cap at the parent; so unless uo plus the
      // largest remaining total can pass cap, only the sections whose floor moved need a look.
      let fits = true;
      let bound = maxTot[d];
      if (uo + bound <= cap) {
        for (let q = flLogStart[d]; q < flLogS.len; q++) {
          const s = flLogS.a[q];
          const f = floor[s] > uo ? floor[s] : uo;
          if (f + total[s] > cap) {
            fits = false;
            break;
          }
        }
      } else {
        bound = 0;
        for (let s = gLo; s < gHi; s++) {
          const t = total[s];
          if (t > bound) bound = t;
          const f = floor[s] > uo ? floor[s] : uo;
          if (f + t > cap) {
            fits = false;
            break;
          }
        }
      }
      if (!fits) {
        undo(d);
        continue;
      }
      if (cnt === 0) return finish(d);
      if (split && nest < MAX_NESTING) {
        const status = this.decompose(unp.subarray(0, cnt), gLo, gHi, nest);
        if (status === 'found') return finish(d);
        if (status !== 'infeasible') return status;
        undo(d);
        continue;
      }
      d++;
      maxTot[d] = bound; // totals only shrink deeper down
      enter(d);
    }
  }

  /** Splits the unplaced buffers at boundaries no unplaced buffer crosses and solves each group. */
  private decompose(rest: Int32Array, gLo: number, gHi: number, nest: number): Status {
    const { tl, cuts } = this;
    const bounds: number[] = [gLo];
    for (let b = gLo + 1; b < gHi; b++) if (cuts[b] === 0) bounds.push(b);
    bounds.push(gHi);
    const groups: number[][] = bounds.slice(1).map(() => []);
    for (const i of rest) {
      // Last bound <= secLo[i].
      let lo = 0;
      let hi = bounds.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (bounds[mid] <= tl.secLo[i]) lo = mid;
        else hi = mid - 1;
      }
      groups[lo].push(i);
    }
    for (let g = 0; g < groups.length; g++) {
      if (!groups[g].length) continue;
      const status = this.dfs(Int32Array.from(groups[g]), bounds[g], bounds[g + 1], nest + 1);
      if (status !== 'found') return status;
    }
    return 'found';
  }
}

/** Section membership lists are kept only up to this many entries (memory). */
const MAX_SECTION_ITEMS = 4_000_000;
/** Nested decompositions deeper than this are not split further (native stack). */
const MAX_NESTING = 2000;

const HEURISTICS = ['WAT', 'TAW', 'TWA'] as const;

function preorders(p: Packed, tl: Timeline): Int32Array[] {
  const rmq = tl.sections > 0 ? new RangeMax(tl.totals) : null;
  const W = new Float64Array(p.n);
  const A = new Float64Array(p.n);
  const T = new Float64Array(p.n);
  for (let i = 0; i < p.n; i++) {
    W[i] = p.end[i] - p.start[i];
    A[i] = p.size[i] * (p.end[i] - p.start[i]);
    T[i] = rmq ? rmq.max(tl.secLo[i], tl.secHi[i]) : 0;
  }
  const keys: Record<string, Float64Array> = { W, A, T };
  return HEURISTICS.map((h) => {
    const ks = [...h].map((c) => keys[c]);
    const order = new Int32Array(p.n);
    for (let i = 0; i < p.n; i++) order[i] = i;
    order.sort((a, b) => {
      for (const k of ks) if (k[a] !== k[b]) return k[b] - k[a];
      return a - b;
    });
    const rank = new Int32Array(p.n);
    for (let r = 0; r < p.n; r++) rank[order[r]] = r;
    return rank;
  });
}

/** Splits into parts where no buffer crosses a section boundary. */
function partsOf(p: Packed, tl: Timeline, offsets: Float64Array): Part[] {
  const S = tl.sections;
  const crossing = new Int32Array(S + 1); // crossing[j]: buffers spanning boundary between j-1 and j
  for (let i = 0; i < p.n; i++) {
    crossing[tl.secLo[i] + 1]++;
    crossing[tl.secHi[i]]--;
  }
  for (let j = 1; j <= S; j++) crossing[j] += crossing[j - 1];
  const partOfSec = new Int32Array(S);
  const bounds: number[] = [0];
  for (let j = 1; j < S; j++) if (crossing[j] === 0) bounds.push(j);
  bounds.push(S);
  for (let q = 0; q + 1 < bounds.length; q++) for (let j = bounds[q]; j < bounds[q + 1]; j++) partOfSec[j] = q;
  const lists: number[][] = bounds.slice(1).map(() => []);
  for (let i = 0; i < p.n; i++) if (p.size[i] > 0) lists[partOfSec[tl.secLo[i]]].push(i);
  const parts: Part[] = [];
  for (let q = 0; q < lists.length; q++) {
    if (!lists[q].length) continue;
    const part: Part = { members: Int32Array.from(lists[q]), secLo: bounds[q], secHi: bounds[q + 1], lowerBound: 0, arena: 0 };
    for (let s = part.secLo; s < part.secHi; s++) part.lowerBound = Math.max(part.lowerBound, tl.totals[s]);
    part.arena = partArena(p, part, offsets);
    parts.push(part);
  }
  return parts;
}

function partArena(p: Packed, part: Part, offsets: ArrayLike<number>): number {
  let top = 0;
  for (const i of part.members) top = Math.max(top, offsets[i] + p.size[i]);
  return top;
}

export function exactSolve(p: Packed, options: ExactOptions): ExactOutcome {
  const t0 = performance.now();
  const deadline = t0 + 1000 * (options.timeLimitSeconds ?? 10);
  const tl = buildTimeline(p);
  const idx = new OverlapIndex(p, tl);
  const offsets = Float64Array.from(options.initialOffsets);
  for (let i = 0; i < p.n; i++) if (p.size[i] === 0) offsets[i] = 0;
  let lowerBound = 0;
  for (let s = 0; s < tl.sections; s++) lowerBound = Math.max(lowerBound, tl.totals[s]);
  const parts = partsOf(p, tl, offsets);
  const ranks = preorders(p, tl);
  const search = new Search(p, tl, idx);
  let hi = arenaOf(p, offsets);
  let proven = lowerBound;

  // Tries to fit every part under cap; parts already under it are left alone.
  const probe = (cap: number, sliceEnd: number): Status => {
    const todo = parts.filter((q) => q.arena > cap).sort((a, b) => b.arena - a.arena);
    for (const part of todo) {
      if (part.lowerBound > cap) return 'infeasible';
      let limit = part.members.length;
      let status: Status = 'aborted';
      while (status === 'aborted') {
        limit *= 2;
        for (const rank of ranks) {
          status = search.solve(part, cap, rank, limit, sliceEnd);
          if (status !== 'aborted') break;
        }
      }
      if (status !== 'found') return status;
      for (const i of part.members) offsets[i] = search.sol[i];
      part.arena = partArena(p, part, offsets);
    }
    return 'found';
  };

  let lo = lowerBound; // smallest capacity not yet ruled out (by proof or by a timeout)
  let first = true;
  while (lo < hi) {
    const now = performance.now();
    const left = deadline - now;
    if (left <= 0) break;
    const cap = first ? lo : lo + Math.floor((hi - 1 - lo) / 2);
    const steps = Math.max(1, Math.ceil(Math.log2(hi - lo + 1)));
    const slice = first ? left * 0.6 : left / Math.min(steps, 3);
    first = false;
    const status = probe(cap, Math.min(deadline, now + slice));
    if (status === 'found') {
      hi = arenaOf(p, offsets);
    } else if (status === 'infeasible') {
      // Feasibility is monotone in the capacity: no plan fits in cap, nor in anything less.
      lo = cap + 1;
      proven = Math.max(proven, cap + 1);
    } else {
      lo = cap + 1; // unknown: move on without a proof
    }
  }
  return { offsets, arenaBytes: hi, optimal: hi <= proven, lowerBound, provenLowerBound: proven, nodes: search.nodes };
}
