/**
 * Exact solver in the spirit of Google's MiniMalloc (Moffitt, ASPLOS 2023); own code.
 * docs/PLANNER.md says which ideas are used and why.
 *
 * Decision problem "does everything fit under capacity C?", answered by a depth-first search:
 *  - canonical placements: a buffer is only ever put at the lowest offset its placed,
 *    time-overlapping neighbours allow (its "min offset", rounded up to its alignment), and
 *    buffers are placed in non-decreasing (offset, preorder rank) order. Every feasible plan
 *    can be pushed down into such a form, so the search stays complete.
 *  - dominance: a buffer is not placed at an offset at or above the top (min offset + size)
 *    of some unplaced buffer: that one could drop into the gap below, so the plan is not
 *    canonical.
 *  - sections: the cross sections of the instance (the buffers live just before some buffer
 *    ends: the maximal sets of buffers live together). Every other moment's set is a subset
 *    of one of these, so checking them is enough, and there are far fewer of them.
 *  - section inference: in every section, max(current offset, top of what is placed there,
 *    lowest min offset of its unplaced buffers) + its unplaced bytes must stay within C
 *    (MiniMalloc's section inference, monotonic floor and unallocated floor).
 *  - failure cache: a search state is the set of placed buffers and the top of what is placed
 *    in every section; with the canonical key of the last placement it fixes the subtree
 *    below. States proven to have no completion are remembered (hashed), and the same state
 *    reached again by another route with a key no smaller is cut at once.
 *  - independent parts: the instance is split where no buffer crosses a section boundary, also
 *    during the search once the buffers placed so far leave no unplaced buffer across one
 *    (MiniMalloc's dynamic decomposition); each part is solved on its own.
 *  - preorder heuristics WAT, TAW, TWA as in MiniMalloc (W = lifetime length, A = size *
 *    lifetime, T = max bytes live in its sections). Which one solves a hard instance quickly
 *    varies a lot, so one search per preorder runs, taking turns with equal node budgets and
 *    each resuming where it stopped (generators), instead of MiniMalloc's restarts with
 *    doubling node limits: no work is repeated, and the first to fit a part wins it. A fourth
 *    search restarts with randomly perturbed preorders on a Luby schedule of node limits,
 *    against the heavy tail.
 * The search is iterative (explicit undo logs), so depth is not bounded by the JS stack.
 *
 * Optimisation on top: upper bounds from the given plan and from canonical descents (the
 * search's first branch all the way down, no backtracking: a strong greedy that also scales to
 * 10^5 buffers with a lazy heap). Then rounds with doubling node budgets: the searches at the
 * lowest capacity not yet ruled out run on, and a couple of fresh probes a little below the
 * best plan (the step grows after a success, halves after a failure) improve it when the
 * lowest capacity is out of reach. A search that exhausts its tree proves its capacity
 * infeasible (feasibility is monotone in the capacity), raising the proven lower bound; every
 * canonical arena is a multiple of the largest power of two dividing all sizes, so bounds
 * round up to it. `optimal` is true only when the best arena equals a proven lower bound.
 * Parts over DFS_MAX_MEMBERS buffers only get descents.
 */
import { mulberry32 } from '../../shared/random';
import { arenaOf, roundUp, type Packed } from './packed';
import { OverlapIndex } from './overlap';
import { ENV } from '../../shared/env-vars';

export interface ExactOptions {
  timeLimitSeconds?: number;
  /** Absolute deadline in performance.now() milliseconds; wins over timeLimitSeconds. */
  deadline?: number;
  /** A valid plan to start from (its arena is the first upper bound). */
  initialOffsets?: ArrayLike<number>;
  /** The instance's overlap index, when already built. */
  index?: OverlapIndex;
}

export interface ExactOutcome {
  offsets: Float64Array;
  arenaBytes: number;
  optimal: boolean;
  /** Peak of live bytes. */
  lowerBound: number;
  /** The best proven lower bound (>= peak live bytes): no plan has a smaller arena. */
  provenLowerBound: number;
  nodes: number;
  /** True when the deadline stopped the search before it proved the arena optimal. */
  timedOut: boolean;
}

type Status = 'found' | 'infeasible' | 'aborted' | 'timeout';

/** The instance seen by the search: sections are cross sections (see above). */
interface Model {
  p: Packed;
  n: number;
  /** Number of cross sections. */
  S: number;
  /** Buffer i (size > 0) is live in sections [lo[i], hi[i]); zero-size buffers: lo = hi = 0. */
  lo: Int32Array;
  hi: Int32Array;
  /** Bytes live in each section. */
  totals: Float64Array;
  /** Members (size > 0) of each section, CSR; null when too large (no search then). */
  secStart: Int32Array | null;
  secItems: Int32Array | null;
  /** Neighbours (size > 0) of each buffer, CSR; null when too many pairs (index walk then). */
  nbStart: Int32Array | null;
  nbItems: Int32Array | null;
  idx: OverlapIndex;
}

/** Section membership lists are kept only up to this many entries (memory). */
const MAX_SECTION_ITEMS = 8_000_000;
/** Neighbour lists are kept only up to this many entries (memory). */
const MAX_PAIRS = 8_000_000;
/** Parts with more buffers than this get canonical descents only (a search node costs O(members)). */
const DFS_MAX_MEMBERS = 6000;
/** Nested decompositions deeper than this are not split further. */
const MAX_NESTING = 2000;

function buildModel(p: Packed, idx: OverlapIndex): Model {
  const tl = idx.tl;
  const n = p.n;
  const isCross = new Uint8Array(tl.sections);
  for (let i = 0; i < n; i++) if (p.size[i] > 0) isCross[tl.secHi[i] - 1] = 1;
  const before = new Int32Array(tl.sections + 1);
  for (let j = 0; j < tl.sections; j++) before[j + 1] = before[j] + isCross[j];
  const S = before[tl.sections];
  const totals = new Float64Array(S);
  for (let j = 0; j < tl.sections; j++) if (isCross[j]) totals[before[j]] = tl.totals[j];
  const lo = new Int32Array(n);
  const hi = new Int32Array(n);
  let spans = 0;
  for (let i = 0; i < n; i++) {
    if (p.size[i] === 0) continue;
    lo[i] = before[tl.secLo[i]];
    hi[i] = before[tl.secHi[i]];
    spans += hi[i] - lo[i];
  }
  let secStart: Int32Array | null = null;
  let secItems: Int32Array | null = null;
  if (spans <= MAX_SECTION_ITEMS) {
    secStart = new Int32Array(S + 1);
    for (let i = 0; i < n; i++) for (let s = lo[i]; s < hi[i]; s++) secStart[s + 1]++;
    for (let s = 0; s < S; s++) secStart[s + 1] += secStart[s];
    const fill = secStart.slice(0, S);
    secItems = new Int32Array(spans);
    for (let i = 0; i < n; i++) for (let s = lo[i]; s < hi[i]; s++) secItems[fill[s]++] = i;
  }
  // Neighbour lists: count first (the index walk is cheap), keep them when they fit.
  let nbStart: Int32Array | null = null;
  let nbItems: Int32Array | null = null;
  const tmp = new Int32Array(n);
  let pairs = 0;
  const counts = new Int32Array(n + 1);
  for (let i = 0; i < n && pairs <= MAX_PAIRS; i++) {
    if (p.size[i] === 0) continue;
    const k = idx.neighbours(p, i, tmp);
    let c = 0;
    for (let r = 0; r < k; r++) if (p.size[tmp[r]] > 0) c++;
    counts[i + 1] = c;
    pairs += c;
  }
  if (pairs <= MAX_PAIRS) {
    for (let i = 0; i < n; i++) counts[i + 1] += counts[i];
    nbStart = counts;
    nbItems = new Int32Array(pairs);
    for (let i = 0; i < n; i++) {
      if (p.size[i] === 0) continue;
      const k = idx.neighbours(p, i, tmp);
      let q = counts[i];
      for (let r = 0; r < k; r++) if (p.size[tmp[r]] > 0) nbItems[q++] = tmp[r];
    }
  }
  return { p, n, S, lo, hi, totals, secStart, secItems, nbStart, nbItems, idx };
}

/** Writes the size > 0 neighbours of buffer i into out (the index walk may list zero-size ones too; callers skip them). */
function neighboursOf(m: Model, i: number, out: Int32Array): number {
  if (m.nbStart && m.nbItems) {
    const a = m.nbStart[i];
    const b = m.nbStart[i + 1];
    for (let q = a; q < b; q++) out[q - a] = m.nbItems[q];
    return b - a;
  }
  return m.idx.neighbours(m.p, i, out);
}

/** Per-depth state of one dfs frame. */
interface Frame {
  unp: Int32Array;
  chosen: Int32Array;
  keyOff: Float64Array;
  keyPre: Int32Array;
  tried: Uint8Array;
  minH: Float64Array;
  minLogStart: Int32Array;
  flLogStart: Int32Array;
  removedAt: Int32Array;
  preH1: Int32Array;
  preH2: Int32Array;
  ptopStart: Int32Array;
  maxTot: Float64Array;
  candStart: Int32Array;
  candEnd: Int32Array;
  cursor: Int32Array;
}

interface Part {
  members: Int32Array; // buffer indices, sizes > 0
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
  /** Top of the placed buffers in each section. */
  readonly floor: Float64Array;
  /** Unplaced bytes in each section. */
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
  private cancel: (() => boolean) | null = null;
  private pre: Int32Array = new Int32Array(0);
  private readonly minLogI = new I32Stack();
  private readonly minLogV = new F64Stack();
  private readonly flLogS = new I32Stack();
  private readonly flLogV = new F64Stack();
  private readonly affected: Int32Array;
  /** Placed top of each section (the floor without the unallocated-floor raise), for the state hash. */
  private readonly ptop: Float64Array;
  private readonly ptopLog = new F64Stack();
  /** Hash contribution of each section's placed top, and their logs (parallel to ptopLog). */
  private readonly c1: Int32Array;
  private readonly c2: Int32Array;
  private readonly cLog1 = new I32Stack();
  private readonly cLog2 = new I32Stack();
  /** Random keys of the sections. */
  private readonly zs1: Int32Array;
  private readonly zs2: Int32Array;
  private readonly frames: Frame[] = [];
  /** Candidates of every open depth, each depth's sorted run on top of its parent's. */
  private readonly cand = new I32Stack();
  /** Position of each buffer in the current frame's unp array. */
  private readonly pos: Int32Array;
  /** Zobrist keys of the buffers, two independent 32-bit halves. */
  private readonly z1: Int32Array;
  private readonly z2: Int32Array;
  /** Hash of the current state: placed set and placed section tops. */
  private h1 = 0;
  private h2 = 0;
  private readonly failed: FailCache;

  constructor(private readonly m: Model) {
    this.minOff = new Float64Array(m.n);
    this.off = new Float64Array(m.n).fill(-1);
    this.sol = new Float64Array(m.n);
    this.floor = new Float64Array(m.S);
    this.total = new Float64Array(m.S);
    this.cuts = new Int32Array(m.S + 1);
    this.secStamp = new Int32Array(m.S);
    this.nb = new Int32Array(m.n);
    this.affected = new Int32Array(m.S);
    this.ptop = new Float64Array(m.S);
    this.failed = new FailCache(m.n);
    this.pos = new Int32Array(m.n);
    this.c1 = new Int32Array(m.S);
    this.c2 = new Int32Array(m.S);
    this.zs1 = new Int32Array(m.S);
    this.zs2 = new Int32Array(m.S);
    for (let s = 0; s < m.S; s++) {
      this.zs1[s] = mix32(s * 0x27d4eb2d + 0x165667b1);
      this.zs2[s] = mix32(s * 0x165667b1 + 0x27d4eb2d);
    }
    this.z1 = new Int32Array(m.n);
    this.z2 = new Int32Array(m.n);
    let x = 0x9e3779b9;
    for (let i = 0; i < m.n; i++) {
      x = mix32(x + i);
      this.z1[i] = x;
      x = mix32(x ^ 0x85ebca6b);
      this.z2[i] = x;
    }
  }

  /**
   * Searches for offsets of the part's buffers within `cap`; on 'found' they are in
   * this.sol. `pre` ranks buffers for ties (lower = earlier).
   */
  solve(part: Part, cap: number, pre: Int32Array, nodeLimit: number, deadline: number): Status {
    const gen = this.start(part, cap, pre, nodeLimit, deadline);
    for (;;) {
      const r = gen.next();
      if (r.done) return r.value;
    }
  }

  /**
   * The same search as a generator: it yields every few hundred nodes, so several searches
   * (one per preorder) can take turns and each resumes where it stopped. `cancel` is asked
   * at every yield; true ends the search with 'aborted'.
   */
  *start(part: Part, cap: number, pre: Int32Array, nodeLimit: number, deadline: number, cancel?: () => boolean): Generator<void, Status, void> {
    const { minOff, off, floor, total, cuts, m } = this;
    for (const i of part.members) {
      minOff[i] = 0;
      off[i] = -1;
    }
    for (let s = part.secLo; s < part.secHi; s++) {
      floor[s] = 0;
      this.ptop[s] = 0;
      this.c1[s] = this.c2[s] = 0;
      total[s] = m.totals[s];
      cuts[s] = 0;
    }
    this.h1 = this.h2 = 0;
    this.ptopLog.len = this.cLog1.len = this.cLog2.len = 0;
    this.failed.reset();
    cuts[part.secHi] = 0;
    for (const i of part.members) {
      cuts[m.lo[i] + 1]++;
      cuts[m.hi[i]]--;
    }
    for (let s = part.secLo + 1; s < part.secHi; s++) cuts[s] += cuts[s - 1];
    this.minLogI.len = this.minLogV.len = this.flLogS.len = this.flLogV.len = 0;
    this.cap = cap;
    this.pre = pre;
    this.budget = nodeLimit;
    this.deadline = deadline;
    this.cancel = cancel ?? null;
    return yield* this.dfs(part.members, part.secLo, part.secHi, 0);
  }

  /** The per-depth arrays of nesting level `nest`, for a group of g buffers. */
  private frame(nest: number, g: number): Frame {
    let f = this.frames[nest];
    if (!f || f.unp.length < g) {
      const c = Math.max(g, f ? f.unp.length * 2 : 16);
      f = {
        unp: new Int32Array(c),
        chosen: new Int32Array(c),
        keyOff: new Float64Array(c),
        keyPre: new Int32Array(c),
        tried: new Uint8Array(c),
        minH: new Float64Array(c),
        minLogStart: new Int32Array(c),
        flLogStart: new Int32Array(c),
        removedAt: new Int32Array(c),
        preH1: new Int32Array(c),
        preH2: new Int32Array(c),
        ptopStart: new Int32Array(c),
        maxTot: new Float64Array(c),
        candStart: new Int32Array(c),
        candEnd: new Int32Array(c),
        cursor: new Int32Array(c),
      };
      this.frames[nest] = f;
    }
    return f;
  }

  /**
   * Section s still fits within the capacity at current offset `o`: max(o, floor) + unplaced
   * bytes <= cap, after raising the floor to the lowest min offset of the unplaced members
   * (MiniMalloc's unallocated floor, kept for the later checks). The scan stops at the first
   * member that could still go at or below max(floor, o): then nothing rises.
   */
  private sectionFits(s: number, o: number): boolean {
    const { m, off, minOff, cap, floor } = this;
    const items = m.secItems!;
    const base0 = floor[s] > o ? floor[s] : o;
    let lowest = Infinity;
    for (let q = m.secStart![s], qe = m.secStart![s + 1]; q < qe; q++) {
      const w = items[q];
      if (off[w] >= 0) continue;
      const mo = minOff[w];
      if (mo <= base0) {
        lowest = -1;
        break;
      }
      if (mo < lowest) lowest = mo;
    }
    if (lowest > base0 && lowest !== Infinity) {
      this.flLogS.push(s);
      this.flLogV.push(floor[s]);
      floor[s] = lowest;
      return lowest + this.total[s] <= cap;
    }
    return base0 + this.total[s] <= cap;
  }

  /**
   * Depth-first search over the unplaced buffers `group`, which live in sections
   * [gLo, gHi) and interact with nothing outside them except placed buffers. On 'found'
   * the group's offsets are in this.sol and all state is restored as on entry.
   */
  private *dfs(group: Int32Array, gLo: number, gHi: number, nest: number): Generator<void, Status, void> {
    // nb is shared by nested searches: it is only used between a placement and its checks.
    const { m, minOff, off, floor, total, cuts, nb, pre, cap, secStamp, affected } = this;
    const { lo: secLo, hi: secHi } = m;
    const size = m.p.size;
    const align = m.p.align;
    const g = group.length;
    // Per-depth arrays come from a pool by nesting level: one frame per level is active at a time.
    const fr = this.frame(nest, g);
    const unp = fr.unp;
    unp.set(group);
    let cnt = g;
    const pos = this.pos;
    for (let q = 0; q < g; q++) pos[unp[q]] = q;
    const cand = this.cand;
    const candBase = cand.len;
    const { candStart, candEnd, cursor } = fr;
    const { chosen, keyOff, keyPre, tried, minH, minLogStart, flLogStart, preH1, preH2, ptopStart, maxTot } = fr;
    const removedAt = fr.removedAt; // slot in unp the buffer chosen at each depth came from
    const c1 = this.c1;
    const c2 = this.c2;
    const zs1 = this.zs1;
    const zs2 = this.zs2;
    const ptop = this.ptop;
    const ptopLog = this.ptopLog;
    const cLog1 = this.cLog1;
    const cLog2 = this.cLog2;
    const failed = this.failed;
    const z1 = this.z1;
    const z2 = this.z2;
    // The nesting context goes into the hash: keys restart in a nested group.
    const ctx = mix32(gLo * 65599 + gHi * 31 + nest);
    const { minLogI, minLogV, flLogS, flLogV } = this;

    // Entering depth d: the dominance bound, then the candidates (unplaced, min offset below
    // the bound, key above the parent's) sorted by (min offset, rank), tried in that order.
    // The state is restored before each try, so the run stays valid for the whole depth.
    const enter = (d: number): void => {
      let h = Infinity;
      for (let q = 0; q < cnt; q++) {
        const i = unp[q];
        const t = minOff[i] + size[i];
        if (t < h) h = t;
      }
      minH[d] = h;
      tried[d] = 0;
      const lbO = d > 0 ? keyOff[d - 1] : -1;
      const lbP = d > 0 ? keyPre[d - 1] : -1;
      cand.len = d > 0 ? candEnd[d - 1] : candBase;
      const start = cand.len;
      for (let q = 0; q < cnt; q++) {
        const i = unp[q];
        const o = minOff[i];
        if (o >= h || o < lbO) continue;
        const r = pre[i];
        if (o === lbO && r <= lbP) continue;
        cand.push(i);
        // Insertion by (min offset, rank).
        const a = cand.a;
        let k = cand.len - 1;
        while (k > start) {
          const j = a[k - 1];
          const oj = minOff[j];
          if (oj < o || (oj === o && pre[j] < r)) break;
          a[k] = j;
          k--;
        }
        a[k] = i;
      }
      candStart[d] = start;
      candEnd[d] = cand.len;
      cursor[d] = start;
    };
    const undo = (d: number): void => {
      const u = chosen[d];
      for (let k = ptopLog.len - 1, s = secHi[u] - 1; k >= ptopStart[d]; k--, s--) {
        ptop[s] = ptopLog.a[k];
        c1[s] = cLog1.a[k];
        c2[s] = cLog2.a[k];
      }
      ptopLog.len = cLog1.len = cLog2.len = ptopStart[d];
      this.h1 = preH1[d];
      this.h2 = preH2[d];
      for (let k = flLogS.len - 1; k >= flLogStart[d]; k--) floor[flLogS.a[k]] = flLogV.a[k];
      flLogS.len = flLogV.len = flLogStart[d];
      for (let s = secLo[u]; s < secHi[u]; s++) total[s] += size[u];
      for (let b = secLo[u] + 1; b < secHi[u]; b++) cuts[b]++;
      for (let k = minLogI.len - 1; k >= minLogStart[d]; k--) minOff[minLogI.a[k]] = minLogV.a[k];
      minLogI.len = minLogV.len = minLogStart[d];
      const at = removedAt[d];
      unp[cnt] = unp[at];
      pos[unp[cnt]] = cnt;
      unp[at] = u;
      pos[u] = at;
      cnt++;
      off[u] = -1;
    };
    const finish = (d: number): Status => {
      // Record the placed buffers of this group, then restore everything.
      for (let k = 0; k <= d; k++) this.sol[chosen[k]] = off[chosen[k]];
      for (let k = d; k >= 0; k--) undo(k);
      cand.len = candBase;
      return 'found';
    };

    maxTot[0] = 0; // per depth: an upper bound on total[s] over the group
    for (let s = gLo; s < gHi; s++) if (total[s] > maxTot[0]) maxTot[0] = total[s];
    let d = 0;
    enter(0);
    for (;;) {
      let uq = -1;
      let uo = 0;
      let up = 0;
      if (cursor[d] < candEnd[d]) {
        const i = cand.a[cursor[d]++];
        uq = pos[i];
        uo = minOff[i];
        up = pre[i];
      }
      if (uq < 0) {
        if (d === 0) {
          cand.len = candBase;
          return 'infeasible';
        }
        d--;
        // The state after the placement at depth d has no completion.
        failed.record(this.h1 ^ ctx, this.h2, keyOff[d], keyPre[d]);
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
      pos[unp[uq]] = uq;
      unp[cnt] = u;
      pos[u] = cnt;
      const top = uo + size[u];
      minLogStart[d] = minLogI.len;
      const k = neighboursOf(m, u, nb);
      let changed = 0;
      for (let r = 0; r < k; r++) {
        const v = nb[r];
        if (off[v] < 0 && minOff[v] < top && size[v] > 0) {
          minLogI.push(v);
          minLogV.push(minOff[v]);
          minOff[v] = roundUp(top, align[v]);
          nb[changed++] = v;
        }
      }
      flLogStart[d] = flLogS.len;
      preH1[d] = this.h1;
      preH2[d] = this.h2;
      ptopStart[d] = ptopLog.len;
      let h1 = this.h1 ^ z1[u];
      let h2 = this.h2 ^ z2[u];
      const ht = hashNum(top);
      for (let s = secLo[u]; s < secHi[u]; s++) {
        // Section s contributes c(s, placed top); the old contribution is logged with the top.
        ptopLog.push(ptop[s]);
        cLog1.push(c1[s]);
        cLog2.push(c2[s]);
        const n1 = mix32(zs1[s] ^ ht);
        const n2 = mix32(zs2[s] + ht);
        h1 ^= c1[s] ^ n1;
        h2 ^= c2[s] ^ n2;
        c1[s] = n1;
        c2[s] = n2;
        ptop[s] = top;
      }
      this.h1 = h1;
      this.h2 = h2;
      const st = ++this.stamp;
      let na = 0;
      for (let s = secLo[u]; s < secHi[u]; s++) {
        flLogS.push(s);
        flLogV.push(floor[s]);
        floor[s] = top;
        total[s] -= size[u];
        secStamp[s] = st;
        affected[na++] = s;
      }
      let split = false;
      for (let b = secLo[u] + 1; b < secHi[u]; b++) if (--cuts[b] === 0) split = true;
      // Sections where a pushed-up neighbour may raise the unallocated floor. Every changed
      // neighbour overlaps u, so their sections and u's form one interval [cLo, cHi): walk it
      // once (u's own sections are in already); min offsets rose to at least top.
      let cLo = secLo[u];
      let cHi = secHi[u];
      for (let r = 0; r < changed; r++) {
        const v = nb[r];
        if (secLo[v] < cLo) cLo = secLo[v];
        if (secHi[v] > cHi) cHi = secHi[v];
      }
      for (let s = cLo; s < secLo[u]; s++) {
        if (floor[s] < top) affected[na++] = s;
      }
      for (let s = secHi[u]; s < cHi; s++) {
        if (floor[s] < top) affected[na++] = s;
      }
      this.nodes++;
      if (--this.budget < 0) return 'aborted';
      if ((this.nodes & 255) === 0) {
        if (performance.now() > this.deadline) return 'timeout';
        yield;
        if (this.cancel && this.cancel()) return 'aborted';
      }
      let fits = true;
      for (let q = 0; q < na; q++) {
        const s = affected[q];
        if (!this.sectionFits(s, uo)) {
          fits = false;
          break;
        }
      }
      // Every other section passed at the parent and only the current offset moved:
      // max(offset, floor) + unplaced bytes <= cap. Unless uo plus the largest remaining
      // total can pass cap, nothing to look at.
      // At the parent's offset nothing outside the affected sections moved since the parent's
      // check (same offset, floors and totals there unchanged): no scan then.
      let bound = maxTot[d];
      if (fits && uo + bound > cap && (d === 0 || keyOff[d - 1] !== uo)) {
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
      // A state already shown to have no completion under a key no greater than this one.
      if (fits && useCache && failed.has(this.h1 ^ ctx, this.h2, uo, up)) fits = false;
      if (!fits) {
        undo(d);
        continue;
      }
      if (cnt === 0) return finish(d);
      if (split && nest < MAX_NESTING) {
        const status = yield* this.decompose(unp.subarray(0, cnt), gLo, gHi, nest);
        // The nested frames moved positions and the candidate stack: restore ours.
        for (let q = 0; q < g; q++) pos[unp[q]] = q;
        cand.len = candEnd[d];
        if (status === 'found') return finish(d);
        if (status !== 'infeasible') return status;
        failed.record(this.h1 ^ ctx, this.h2, uo, up);
        undo(d);
        continue;
      }
      d++;
      maxTot[d] = bound; // totals only shrink deeper down
      enter(d);
    }
  }

  /** Splits the unplaced buffers at boundaries no unplaced buffer crosses and solves each group. */
  private *decompose(rest: Int32Array, gLo: number, gHi: number, nest: number): Generator<void, Status, void> {
    const { m, cuts } = this;
    const bounds: number[] = [gLo];
    for (let b = gLo + 1; b < gHi; b++) if (cuts[b] === 0) bounds.push(b);
    bounds.push(gHi);
    const groups: number[][] = bounds.slice(1).map(() => []);
    for (const i of rest) {
      // Last bound <= lo[i].
      let a = 0;
      let b = bounds.length - 1;
      while (a < b) {
        const mid = (a + b + 1) >>> 1;
        if (bounds[mid] <= m.lo[i]) a = mid;
        else b = mid - 1;
      }
      groups[a].push(i);
    }
    for (let q = 0; q < groups.length; q++) {
      if (!groups[q].length) continue;
      const status = yield* this.dfs(Int32Array.from(groups[q]), bounds[q], bounds[q + 1], nest + 1);
      if (status !== 'found') return status;
    }
    return 'found';
  }
}

/** The Luby sequence 1 1 2 1 1 2 4 1 1 2 1 1 2 4 8 ... (i from 1): restart lengths within a log factor of the best fixed one. */
function luby(i: number): number {
  for (;;) {
    let k = 1;
    while ((1 << k) - 1 < i) k++;
    if (i === (1 << k) - 1) return 1 << (k - 1);
    i -= (1 << (k - 1)) - 1;
  }
}

/** A 32-bit integer mixer (murmur3's finaliser). */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return x ^ (x >>> 16);
}

/** A 32-bit digest of a non-negative integer below 2^53. */
function hashNum(v: number): number {
  return mix32((v >>> 0) ^ mix32(Math.floor(v / 4294967296) + 0x3c6ef372));
}

/**
 * States of the search known to have no completion: a state is the set of placed buffers and
 * the top of the placed buffers in every section (64 bits of hashes). Together with the
 * canonical key (offset, rank) of the last placement they fix the whole subtree below: the
 * same state reached again (another order of placements, or buffers swapped to the same
 * profile) with a key at least as large has no completion either. One entry per slot, newest
 * wins; a stamp per search makes reset O(1).
 */
class FailCache {
  private readonly bits: number;
  private readonly k1: Int32Array;
  private readonly k2: Int32Array;
  private readonly off: Float64Array;
  private readonly rank: Int32Array;
  private readonly stamp: Int32Array;
  private cur = 0;
  /** Sized to the instance: 2^10 slots and up, 2^18 at most. */
  constructor(n: number) {
    let bits = 10;
    while (bits < 18 && 1 << bits < n * 64) bits++;
    this.bits = bits;
    this.k1 = new Int32Array(1 << bits);
    this.k2 = new Int32Array(1 << bits);
    this.off = new Float64Array(1 << bits);
    this.rank = new Int32Array(1 << bits);
    this.stamp = new Int32Array(1 << bits);
  }
  reset(): void {
    this.cur++;
  }
  record(h1: number, h2: number, o: number, r: number): void {
    const slot = h1 & ((1 << this.bits) - 1);
    if (this.stamp[slot] === this.cur && this.k1[slot] === h1 && this.k2[slot] === h2) {
      if (o < this.off[slot] || (o === this.off[slot] && r < this.rank[slot])) {
        this.off[slot] = o;
        this.rank[slot] = r;
      }
      return;
    }
    this.stamp[slot] = this.cur;
    this.k1[slot] = h1;
    this.k2[slot] = h2;
    this.off[slot] = o;
    this.rank[slot] = r;
  }
  has(h1: number, h2: number, o: number, r: number): boolean {
    const slot = h1 & ((1 << this.bits) - 1);
    return (
      this.stamp[slot] === this.cur &&
      this.k1[slot] === h1 &&
      this.k2[slot] === h2 &&
      (o > this.off[slot] || (o === this.off[slot] && r >= this.rank[slot]))
    );
  }
}

/** Static preorders: keys compared descending, in the letters' order; ties by index. Keys are built when first needed. */
class Preorders {
  private readonly keys: Record<string, Float64Array> = {};
  constructor(private readonly m: Model) {}

  private key(c: string): Float64Array {
    const got = this.keys[c];
    if (got) return got;
    const { p, n } = this.m;
    const k = new Float64Array(n);
    if (c === 'W') for (let i = 0; i < n; i++) k[i] = p.end[i] - p.start[i];
    else if (c === 'A') for (let i = 0; i < n; i++) k[i] = p.size[i] * (p.end[i] - p.start[i]);
    else if (c === 'Z') k.set(p.size);
    else if (c === 'S') {
      // Earlier start first (the key is descending): the bottom-left rule of strip packing.
      let last = 0;
      for (let i = 0; i < n; i++) if (p.start[i] > last) last = p.start[i];
      for (let i = 0; i < n; i++) k[i] = last - p.start[i];
    }
    else if (c === 'T') {
      // Max bytes live in any of its sections: range maxima on an iterative segment tree.
      const { S, totals, lo, hi } = this.m;
      let size = 1;
      while (size < S) size <<= 1;
      const t = new Float64Array(2 * size);
      t.set(totals, size);
      for (let v = size - 1; v >= 1; v--) t[v] = Math.max(t[2 * v], t[2 * v + 1]);
      for (let i = 0; i < n; i++) {
        let l = lo[i] + size;
        let r = hi[i] + size;
        let best = 0;
        while (l < r) {
          if (l & 1) best = Math.max(best, t[l++]);
          if (r & 1) best = Math.max(best, t[--r]);
          l >>= 1;
          r >>= 1;
        }
        k[i] = best;
      }
    }
    this.keys[c] = k;
    return k;
  }

  /** Like rank(), with the first key multiplied by a random factor in [1 - spread/2, 1 + spread/2]. */
  noisyRank(name: string, rnd: () => number, spread: number): Int32Array {
    const ks = [...name].map((c) => this.key(c));
    const n = this.m.n;
    const k0 = new Float64Array(n);
    for (let i = 0; i < n; i++) k0[i] = ks[0][i] * (1 + spread * (rnd() - 0.5));
    ks[0] = k0;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => {
      for (const k of ks) if (k[a] !== k[b]) return k[b] - k[a];
      return a - b;
    });
    const rank = new Int32Array(n);
    for (let r = 0; r < n; r++) rank[order[r]] = r;
    return rank;
  }

  /**
   * rank[i]: position of buffer i in the order named by the letters. Past QUICK_RANK buffers
   * (descents only) the order is by the first letter's key, quantised to 2^-20 of its binary
   * log and packed with the index into one double: one native sort instead of a comparator.
   */
  rank(name: string): Int32Array {
    const ks = [...name].map((c) => this.key(c));
    const n = this.m.n;
    const order = new Int32Array(n);
    if (n > QUICK_RANK) {
      const k0 = ks[0];
      let bits = 1;
      while (2 ** bits < n) bits++;
      const packed = new Float64Array(n);
      const top = 2 ** 26; // log2 of a key < 2^53 needs 6 bits before the 20 after the point
      for (let i = 0; i < n; i++) packed[i] = (top - 1 - Math.floor(Math.log2(k0[i] + 1) * 2 ** 20)) * 2 ** bits + i;
      packed.sort();
      for (let q = 0; q < n; q++) order[q] = packed[q] % 2 ** bits;
    } else {
      for (let i = 0; i < n; i++) order[i] = i;
      order.sort((a, b) => {
        for (const k of ks) if (k[a] !== k[b]) return k[b] - k[a];
        return a - b;
      });
    }
    const rank = new Int32Array(n);
    for (let r = 0; r < n; r++) rank[order[r]] = r;
    return rank;
  }
}

/**
 * Probes on parts of at least this many buffers add short restarted dives (see probe). On D
 * (213 buffers) they cost more than they gave; on MiniMalloc's H (316) they take budget and
 * random draws from the lowest capacity's restarts, which is what solves H.
 */
const PROBE_RESTARTS_FROM = 400;

/** Instances larger than this get quantised single-key preorders (see Preorders.rank). */
const QUICK_RANK = 50_000;

/** MiniMalloc's preorders for the search. */
const SEARCH_ORDERS = ['WAT', 'TAW', 'TWA'] as const;
/** Preorders for the canonical descents, most useful first: area did best on real traces, S (earlier start first, then size) on cut rectangles. */
const DESCENT_ORDERS = ['A', 'TAW', 'SZ', 'WAT', 'Z'];

/**
 * One canonical descent: repeatedly place the unplaced buffer with the lowest min offset
 * (ties: lower rank) at that offset. A lazy binary heap keyed by (min offset, rank): a
 * popped entry whose min offset has grown since it was pushed goes back with the new key.
 * Returns null when the deadline passes first.
 */
function descend(m: Model, rank: Int32Array, deadline: number): Float64Array | null {
  const { p, n } = m;
  const size = p.size;
  const align = p.align;
  const minOff = new Float64Array(n);
  const off = new Float64Array(n).fill(-1);
  let cap = 1024;
  for (let i = 0; i < n; i++) if (size[i] > 0) cap++;
  let hk = new Float64Array(cap);
  let hr = new Int32Array(cap);
  let hi = new Int32Array(cap);
  let hn = 0;
  const push = (k: number, r: number, i: number): void => {
    if (hn === hk.length) {
      const k2 = new Float64Array(hn * 2);
      k2.set(hk);
      hk = k2;
      const r2 = new Int32Array(hn * 2);
      r2.set(hr);
      hr = r2;
      const i2 = new Int32Array(hn * 2);
      i2.set(hi);
      hi = i2;
    }
    let c = hn++;
    while (c > 0) {
      const pa = (c - 1) >> 1;
      if (hk[pa] < k || (hk[pa] === k && hr[pa] < r)) break;
      hk[c] = hk[pa];
      hr[c] = hr[pa];
      hi[c] = hi[pa];
      c = pa;
    }
    hk[c] = k;
    hr[c] = r;
    hi[c] = i;
  };
  const popTop = (): void => {
    hn--;
    const k = hk[hn];
    const r = hr[hn];
    const i = hi[hn];
    let c = 0;
    for (;;) {
      let ch = 2 * c + 1;
      if (ch >= hn) break;
      if (ch + 1 < hn && (hk[ch + 1] < hk[ch] || (hk[ch + 1] === hk[ch] && hr[ch + 1] < hr[ch]))) ch++;
      if (k < hk[ch] || (k === hk[ch] && r < hr[ch])) break;
      hk[c] = hk[ch];
      hr[c] = hr[ch];
      hi[c] = hi[ch];
      c = ch;
    }
    hk[c] = k;
    hr[c] = r;
    hi[c] = i;
  };
  // Heapify by pushing in rank order (keys all 0): already a heap.
  const byRank = new Int32Array(n);
  for (let i = 0; i < n; i++) byRank[rank[i]] = i;
  for (let q = 0; q < n; q++) {
    const i = byRank[q];
    if (size[i] > 0) push(0, rank[i], i);
    else off[i] = 0;
  }
  const nb = new Int32Array(n);
  let work = 0; // neighbour visits and heap operations since the last clock check
  while (hn > 0) {
    const k = hk[0];
    const i = hi[0];
    popTop();
    if (++work > 1 << 20) {
      if (performance.now() > deadline) return null;
      work = 0;
    }
    if (off[i] >= 0) continue;
    if (minOff[i] !== k) {
      push(minOff[i], rank[i], i);
      continue;
    }
    off[i] = k;
    const top = k + size[i];
    const c = neighboursOf(m, i, nb);
    for (let r = 0; r < c; r++) {
      const v = nb[r];
      if (off[v] < 0 && minOff[v] < top) minOff[v] = roundUp(top, align[v]);
    }
    work += c;
  }
  return off;
}

/** Splits into parts where no buffer crosses a section boundary. */
function partsOf(m: Model, offsets: Float64Array): Part[] {
  const { p, S } = m;
  const crossing = new Int32Array(S + 1); // crossing[j]: buffers spanning boundary between j-1 and j
  for (let i = 0; i < p.n; i++) {
    if (p.size[i] === 0) continue;
    crossing[m.lo[i] + 1]++;
    crossing[m.hi[i]]--;
  }
  for (let j = 1; j <= S; j++) crossing[j] += crossing[j - 1];
  const bounds: number[] = [0];
  for (let j = 1; j < S; j++) if (crossing[j] === 0) bounds.push(j);
  bounds.push(S);
  const partOfSec = new Int32Array(S);
  for (let q = 0; q + 1 < bounds.length; q++) for (let j = bounds[q]; j < bounds[q + 1]; j++) partOfSec[j] = q;
  const counts = new Int32Array(bounds.length);
  for (let i = 0; i < p.n; i++) if (p.size[i] > 0) counts[partOfSec[m.lo[i]]]++;
  const lists = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(bounds.length);
  for (let i = 0; i < p.n; i++) {
    if (p.size[i] === 0) continue;
    const q = partOfSec[m.lo[i]];
    lists[q][fill[q]++] = i;
  }
  const parts: Part[] = [];
  for (let q = 0; q + 1 < bounds.length; q++) {
    if (!lists[q].length) continue;
    const part: Part = { members: lists[q], secLo: bounds[q], secHi: bounds[q + 1], lowerBound: 0, arena: 0 };
    for (let s = part.secLo; s < part.secHi; s++) part.lowerBound = Math.max(part.lowerBound, m.totals[s]);
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

/** The largest power of two dividing every size (1 when some size is odd; 2^52 when all are 0). */
function grain(p: Packed): number {
  let g = 2 ** 52;
  for (let i = 0; i < p.n && g > 1; i++) {
    const s = p.size[i];
    if (s > 0) while (s % g !== 0) g /= 2;
  }
  // Alignments keep it: rounding a multiple of g up to a power of two stays a multiple of g.
  return g;
}

/** MEMOPLAN_EXACT_DEBUG=1: progress on stderr. MEMOPLAN_EXACT_NOCACHE=1: no failure cache (to check it changes no answer). */
const debug = process.env[ENV.EXACT_DEBUG] === '1';
const useCache = process.env[ENV.EXACT_NOCACHE] !== '1';

export function exactSolve(p: Packed, options: ExactOptions = {}): ExactOutcome {
  const t0 = performance.now();
  const deadline = options.deadline ?? t0 + 1000 * (options.timeLimitSeconds ?? 10);
  const idx = options.index ?? new OverlapIndex(p);
  if (options.initialOffsets && performance.now() >= deadline) {
    // No time left: the given plan as it is (building the search's model alone takes seconds at 10^6 buffers).
    const offsets = Float64Array.from(options.initialOffsets);
    for (let i = 0; i < p.n; i++) if (p.size[i] === 0) offsets[i] = 0;
    let peak = 0;
    for (let j = 0; j < idx.tl.sections; j++) peak = Math.max(peak, idx.tl.totals[j]);
    const arena = arenaOf(p, offsets);
    return { offsets, arenaBytes: arena, optimal: arena <= peak, lowerBound: peak, provenLowerBound: peak, nodes: 0, timedOut: arena > peak };
  }
  const m = buildModel(p, idx);
  let lowerBound = 0;
  for (let s = 0; s < m.S; s++) lowerBound = Math.max(lowerBound, m.totals[s]);
  let offsets: Float64Array | null = options.initialOffsets ? Float64Array.from(options.initialOffsets) : null;
  if (offsets) for (let i = 0; i < p.n; i++) if (p.size[i] === 0) offsets[i] = 0;
  let hi = offsets ? arenaOf(p, offsets) : Infinity;
  let nodes = 0;
  const log = (what: string): void => {
    if (debug) console.error(`exact ${((performance.now() - t0) / 1000).toFixed(2)}s ${what} best ${hi} lb ${lowerBound} nodes ${nodes}`);
  };

  // Upper bounds from canonical descents. The first always runs to the end when there is no
  // plan yet (a plan must be returned); the others only while there is time.
  const orders = new Preorders(m);
  for (let q = 0; q < DESCENT_ORDERS.length && hi > lowerBound; q++) {
    if (offsets && performance.now() > deadline) break;
    const off = descend(m, orders.rank(DESCENT_ORDERS[q]), offsets ? deadline : Infinity);
    if (!off) {
      log(`descent ${DESCENT_ORDERS[q]} stopped at the deadline`);
      break;
    }
    const a = arenaOf(p, off);
    if (a < hi) {
      hi = a;
      offsets = off;
    }
    log(`descent ${DESCENT_ORDERS[q]} ${a}`);
  }
  const best = offsets!;
  let proven = lowerBound;
  let timedOut = false;
  if (hi > lowerBound && m.secStart) {
    const parts = partsOf(m, best);
    log(`parts ${parts.map((q) => q.members.length).join(' ')}`);
    const searchable = (part: Part): boolean => part.members.length <= DFS_MAX_MEMBERS;
    let rankCache: Int32Array[] | null = null;
    const ranks = (): Int32Array[] => (rankCache ??= SEARCH_ORDERS.map((h) => orders.rank(h)));
    const search = new Search(m);
    // Tries to fit every part under cap; parts already under it are left alone.
    // Every part is tried, also after one gives up: those that fit keep their new offsets.
    const probe = (cap: number, limit: number): Status => {
      const todo = parts.filter((q) => q.arena > cap).sort((a, b) => b.arena - a.arena);
      for (const part of todo) {
        if (part.lowerBound > cap) return 'infeasible';
        if (!searchable(part)) return 'aborted';
      }
      let result: Status = 'found';
      for (const part of todo) {
        let status: Status = 'aborted';
        for (const rank of ranks()) {
          status = search.solve(part, cap, rank, limit, deadline);
          if (status !== 'aborted') break;
        }
        // Large parts: short dives with perturbed orders (Luby limits) for up to the same
        // budget again; a dive backtracks near where it overflows, which a long DFS never
        // revisits. (A dive that exhausts its tree is a proof like any complete search.)
        if (status === 'aborted' && part.members.length >= PROBE_RESTARTS_FROM) {
          let spent = 0;
          for (let run = 1; status === 'aborted' && spent < 3 * limit; run++) {
            const before = search.nodes;
            const rank = orders.noisyRank(SEARCH_ORDERS[run % SEARCH_ORDERS.length], rnd, 0.5);
            status = search.solve(part, cap, rank, luby(run) * 2 * part.members.length, deadline);
            spent += search.nodes - before;
          }
        }
        nodes = search.nodes;
        if (status === 'infeasible' || status === 'timeout') return status;
        if (status === 'aborted') {
          result = 'aborted';
          continue;
        }
        for (const i of part.members) best[i] = search.sol[i];
        part.arena = partArena(p, part, best);
      }
      return result;
    };
    const widest = parts.reduce((a, q) => (searchable(q) ? Math.max(a, q.members.length) : a), 0);
    // Parts too large to search keep their descent's arena: no capacity below it is probed.
    const fixed = parts.reduce((a, q) => (searchable(q) ? a : Math.max(a, q.arena)), 0);
    // Every canonical arena is a multiple of g (sums of sizes, rounded up to alignments).
    const g = grain(p);
    const down = (x: number): number => Math.floor(x / g) * g;
    const up = (x: number): number => Math.ceil(x / g) * g;
    let budget = Math.max(256, 2 * widest);
    let lo = up(lowerBound); // no plan fits below lo (proven)
    proven = lo;
    const arena = (): number => arenaOf(p, best);

    // The lowest capacity not yet ruled out gets one search per preorder that runs on from
    // round to round (taking turns), so no work is repeated; the first to fit a part wins it.
    // One more search restarts with randomly perturbed preorders and a Luby sequence of node
    // limits: hard instances are heavy-tailed (one order finds in thousands of nodes what
    // another misses in millions), and restarts with fresh orders are what evens that out.
    const lowest = [...SEARCH_ORDERS, 'restarts'].map(() => new Search(m));
    const rnd = mulberry32(0x5eed); // seeded: runs reproduce
    let gens: Generator<void, Status, void>[] = [];
    let gensCap = -1;
    const lowestGen = function* (k: number, cap: number): Generator<void, Status, void> {
      const todo = parts.filter((q) => q.arena > cap).sort((a, b) => b.arena - a.arena);
      for (const part of todo) if (part.lowerBound > cap || !searchable(part)) return part.lowerBound > cap ? 'infeasible' : 'aborted';
      for (const part of todo) {
        if (part.arena <= cap) continue;
        const st: Status = yield* lowest[k].start(part, cap, ranks()[k], Infinity, deadline, () => part.arena <= cap);
        if (st === 'infeasible' || st === 'timeout') return st;
        if (st === 'found') {
          for (const i of part.members) best[i] = lowest[k].sol[i];
          part.arena = partArena(p, part, best);
        }
      }
      return 'found';
    };
    const restartGen = function* (cap: number): Generator<void, Status, void> {
      const k = SEARCH_ORDERS.length;
      const unit = 2 * widest;
      for (let run = 1; ; run++) {
        const rank = orders.noisyRank(SEARCH_ORDERS[run % SEARCH_ORDERS.length], rnd, 0.5);
        const limit = luby(run) * unit;
        let restart = false;
        for (const part of parts) {
          if (part.arena <= cap) continue;
          if (part.lowerBound > cap) return 'infeasible';
          if (!searchable(part)) return 'aborted';
          const st: Status = yield* lowest[k].start(part, cap, rank, limit, deadline, () => part.arena <= cap);
          if (st === 'infeasible' || st === 'timeout') return st;
          if (st === 'found') {
            for (const i of part.members) best[i] = lowest[k].sol[i];
            part.arena = partArena(p, part, best);
          } else if (part.arena > cap) {
            restart = true; // out of nodes (not cancelled)
            break;
          }
        }
        if (!restart) return 'found';
      }
    };
    const nodeCount = (): number => lowest.reduce((a, q) => a + q.nodes, 0) + search.nodes;
    // Runs each lowest search `budget` nodes further; the first final answer wins.
    const runLowest = (cap: number): Status => {
      if (gensCap !== cap) {
        gens = [...SEARCH_ORDERS.map((_, k) => lowestGen(k, cap)), restartGen(cap)];
        gensCap = cap;
      }
      for (let k = 0; k < gens.length; k++) {
        const target = lowest[k].nodes + budget;
        while (lowest[k].nodes < target) {
          const r = gens[k].next();
          if (r.done) {
            gensCap = -1;
            return r.value;
          }
        }
      }
      return 'aborted';
    };

    let step = Math.max(g, down((hi - Math.max(lo, fixed)) / 4));
    while (Math.max(lo, fixed) < hi) {
      const first = Math.max(lo, fixed);
      let st = runLowest(first);
      nodes = nodeCount();
      log(`lowest ${first} +${budget}: ${st}`);
      if (st === 'timeout') break;
      if (st === 'found') {
        hi = arena();
        continue;
      }
      if (st === 'infeasible') {
        lo = up(first + 1);
        proven = lo;
        continue;
      }
      // Then a few probes a little below the best plan, fresh searches with half the budget:
      // capacities above the optimum are usually found fast, those below it never are. The
      // step below the best grows after a success and halves after a failure.
      const half = Math.max(256, budget >> 1);
      for (let probes = 0; probes < 2; probes++) {
        const cap = Math.max(down(hi - step), first + g);
        if (cap >= hi) break;
        st = probe(cap, half);
        nodes = nodeCount();
        log(`probe ${cap} limit ${half}: ${st}`);
        if (st === 'timeout') break;
        if (st === 'found') {
          hi = arena();
          step *= 2;
        } else {
          if (st === 'infeasible') {
            lo = up(cap + 1);
            proven = lo;
          }
          step = Math.max(g, down(step / 2));
        }
      }
      if (st === 'timeout') break;
      budget *= 2;
    }
    timedOut = lo < hi && performance.now() > deadline;
    hi = arena();
  }
  if (hi > proven && performance.now() > deadline) timedOut = true;
  return { offsets: best, arenaBytes: hi, optimal: hi <= proven, lowerBound, provenLowerBound: proven, nodes, timedOut };
}

/**
 * The decision search alone, for tests and experiments: can everything fit within `cap`,
 * searching with one preorder (letters as in SEARCH_ORDERS) and at most `nodeLimit` nodes per part?
 */
export function decide(p: Packed, cap: number, order: string, nodeLimit = Infinity, seconds = 60): { status: Status; nodes: number; offsets: Float64Array } {
  const m = buildModel(p, new OverlapIndex(p));
  const offsets = new Float64Array(p.n);
  const parts = partsOf(m, offsets);
  const search = new Search(m);
  const rank = new Preorders(m).rank(order);
  const deadline = performance.now() + seconds * 1000;
  for (const part of parts) {
    const before = search.nodes;
    const status = search.solve(part, cap, rank, nodeLimit, deadline);
    if (debug) console.error(`part of ${part.members.length}: ${status} after ${search.nodes - before} nodes`);
    if (status !== 'found' && !debug) return { status, nodes: search.nodes, offsets };
    for (const i of part.members) offsets[i] = search.sol[i];
  }
  return { status: 'found', nodes: search.nodes, offsets };
}

