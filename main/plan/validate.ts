/**
 * Plan validator, O(n log n): a sweep over time keeps the live buffers ordered by offset
 * (ranks of (offset, index) in a Fenwick tree); a buffer that starts is checked against its
 * predecessor and successor by offset only. That suffices because the live set is kept free
 * of overlaps (a buffer found overlapping is reported and left out of the set), so offsets
 * and tops are sorted alike. Ends are processed before starts at equal times.
 */
import type { Buffer } from './types';
import { pack, type Packed } from './packed';

export interface Violation {
  kind: 'length' | 'offset' | 'misaligned' | 'overlap' | 'arena';
  /** Ids of the buffers involved (one, or two for an overlap). */
  ids: Array<string | number>;
  message: string;
}

export interface ValidateOptions {
  /** Stop after this many violations (default 10). */
  maxViolations?: number;
  /** When given, the arena must equal max(offset + size). */
  arenaBytes?: number;
}

class Fenwick {
  private readonly t: Int32Array;
  private readonly log: number;
  constructor(private readonly n: number) {
    this.t = new Int32Array(n + 1);
    let l = 1;
    while (l * 2 <= n) l *= 2;
    this.log = l;
  }
  add(i: number, d: number): void {
    for (i++; i <= this.n; i += i & -i) this.t[i] += d;
  }
  /** Number of set ranks < i. */
  prefix(i: number): number {
    let s = 0;
    for (; i > 0; i -= i & -i) s += this.t[i];
    return s;
  }
  /** The rank of the k-th set element (k from 1). */
  kth(k: number): number {
    let pos = 0;
    for (let step = this.log; step > 0; step >>= 1) {
      if (pos + step <= this.n && this.t[pos + step] < k) {
        pos += step;
        k -= this.t[pos];
      }
    }
    return pos; // 0-based rank
  }
}

export function validatePacked(
  p: Packed,
  ids: ArrayLike<string | number>,
  offsets: ArrayLike<number>,
  options: ValidateOptions = {},
): Violation[] {
  const max = options.maxViolations ?? 10;
  const out: Violation[] = [];
  const full = (): boolean => out.length >= max;
  if (offsets.length !== p.n) {
    out.push({ kind: 'length', ids: [], message: `plan has ${offsets.length} offsets for ${p.n} buffers` });
    return out;
  }
  const ok = new Uint8Array(p.n);
  let top = 0;
  for (let i = 0; i < p.n && !full(); i++) {
    const o = offsets[i];
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
      out.push({ kind: 'offset', ids: [ids[i]], message: `buffer ${ids[i]}: offset ${o} is not a non-negative integer` });
      continue;
    }
    if (o % p.align[i] !== 0) {
      out.push({ kind: 'misaligned', ids: [ids[i]], message: `buffer ${ids[i]}: offset ${o} is not a multiple of its alignment ${p.align[i]}` });
    }
    ok[i] = 1;
    if (o + p.size[i] > top) top = o + p.size[i];
  }
  if (full()) return out;
  // Ranks by (offset, index) of the buffers that take bytes.
  const rankOrder: number[] = [];
  for (let i = 0; i < p.n; i++) if (ok[i] && p.size[i] > 0) rankOrder.push(i);
  rankOrder.sort((a, b) => offsets[a] - offsets[b] || a - b);
  const m = rankOrder.length;
  const rank = new Int32Array(p.n).fill(-1);
  for (let r = 0; r < m; r++) rank[rankOrder[r]] = r;
  const byStart = rankOrder.slice().sort((a, b) => p.start[a] - p.start[b]);
  const byEnd = rankOrder.slice().sort((a, b) => p.end[a] - p.end[b]);
  const live = new Fenwick(m);
  const inSet = new Uint8Array(p.n);
  let e = 0;
  const overlaps = (a: number, b: number): boolean =>
    offsets[a] < offsets[b] + p.size[b] && offsets[b] < offsets[a] + p.size[a];
  const report = (a: number, b: number): void => {
    const [x, y] = offsets[a] <= offsets[b] ? [a, b] : [b, a];
    out.push({
      kind: 'overlap',
      ids: [ids[x], ids[y]],
      message:
        `buffers ${ids[x]} (time [${p.start[x]}, ${p.end[x]}), bytes [${offsets[x]}, ${offsets[x] + p.size[x]})) and ` +
        `${ids[y]} (time [${p.start[y]}, ${p.end[y]}), bytes [${offsets[y]}, ${offsets[y] + p.size[y]})) overlap`,
    });
  };
  for (let q = 0; q < m && !full(); q++) {
    const i = byStart[q];
    const t = p.start[i];
    while (e < m && p.end[byEnd[e]] <= t) {
      const j = byEnd[e++];
      if (inSet[j]) {
        live.add(rank[j], -1);
        inSet[j] = 0;
      }
    }
    const r = rank[i];
    const below = live.prefix(r);
    let bad = false;
    if (below > 0) {
      const pred = rankOrder[live.kth(below)];
      if (overlaps(pred, i)) {
        report(pred, i);
        bad = true;
      }
    }
    const total = live.prefix(m);
    if (!bad && below < total) {
      const succ = rankOrder[live.kth(below + 1)];
      if (overlaps(succ, i)) {
        report(i, succ);
        bad = true;
      }
    }
    if (!bad) {
      live.add(r, 1);
      inSet[i] = 1;
    }
  }
  if (!full() && options.arenaBytes !== undefined && options.arenaBytes !== top) {
    out.push({ kind: 'arena', ids: [], message: `arena is ${options.arenaBytes} bytes but the plan's max(offset + size) is ${top}` });
  }
  return out;
}

/** All violations of a plan (the first `maxViolations`); an empty list means valid. */
export function validate(
  buffers: readonly Buffer[],
  offsets: ArrayLike<number>,
  options: ValidateOptions = {},
): Violation[] {
  return validatePacked(pack(buffers), buffers.map((b) => b.id), offsets, options);
}

/** Throws an Error listing the violations when the plan is not valid. */
export function assertValid(
  buffers: readonly Buffer[],
  offsets: ArrayLike<number>,
  options: ValidateOptions & { planner?: string } = {},
): void {
  const v = validate(buffers, offsets, options);
  if (v.length) {
    const who = options.planner ? `plan from ${options.planner}` : 'plan';
    throw new Error(`invalid ${who}: ${v.length >= (options.maxViolations ?? 10) ? 'at least ' : ''}${v.length} violation(s):\n  ` + v.map((x) => x.message).join('\n  '));
  }
}
