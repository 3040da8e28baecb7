import type { DB } from '../store/db';
import { UserError } from '../../shared/errors';
import { iterationAllocations, iterationRows, type IterationRow } from '../store/iterations';
import { sessionAgentOps, sessionStatus } from '../store/sessions';
import { RECORD_FLAG_AGENT } from '../../shared/trace-kinds';
import { iterationSignature } from '../../shared/signature';
import type { Buffer } from './types';

/**
 * The planning input of a recorded session: the allocations of one steady-state iteration,
 * in allocation order, each with its size, alignment, op/module and lifetime in logical time.
 * The agent's own allocations (record flag RECORD_FLAG_AGENT) are the profiler's, not the
 * program's: they are in no signature and no plan.
 */

/** Everything malloc returns on x86-64 glibc is 16-byte aligned; programs rely on it. */
export const MIN_ALIGN = 16;

/**
 * In a session recorded with aten-op attribution, allocations up to this size are left out of
 * the plan (its size floor, docs/PLAN_FORMAT.md) and go to the allocator beneath. The agent's
 * dispatch mode makes small allocations of its own in torch's C++ dispatch path, outside any
 * code the agent can mark, which a run with the minimal agent does not make. Among small sizes
 * no one can tell which recorded allocation a run's allocation is, and a small block served at
 * another's offset and lifetime would block the large buffers planned over it. Large buffers
 * have telling sizes.
 */
export const AMBIGUOUS_SMALL_BYTES = 4096;

export interface IterationBuffer extends Buffer {
  /** Position among the iteration's allocations (0-based): the memo key with size and align. */
  ordinal: number;
  allocationId: number;
  addr: number;
  module: string;
  op: string;
}

export interface IterationInput {
  sessionId: number;
  iterationId: number;
  number: number;
  threadId: number;
  /** Of the iteration as stored (every allocation of the program). */
  signature: string;
  /** Allocations of at most this size are not part of the plan (0: none). */
  sizeFloor: number;
  /** The signature of `sequence` (equal to `signature` without a size floor). */
  planSignature: string;
  /** Allocations made in the iteration and freed within it: what a plan places. */
  buffers: IterationBuffer[];
  /** Allocations made in the iteration that outlive it: not plannable. */
  unplannable: { count: number; bytes: number };
  /** Small allocations of a session recorded with aten ops, left to the allocator beneath (AMBIGUOUS_SMALL_BYTES). */
  leftSmall: { count: number; bytes: number };
  /** Every allocation of the iteration above the size floor, in order (the plan file lists them all). */
  sequence: { ordinal: number; size: number; align: number; planned: boolean }[];
  /**
   * Address space the system allocator used for the same buffers: the extents of their
   * addresses, merged into clusters (a gap over 64 MiB starts a new one: mmap'd blocks live far
   * from the heap) and summed.
   */
  baselineSpanBytes: number;
  /** How the iteration was chosen, for the user. */
  chosenBecause: string;
}


const CLUSTER_GAP = 64 * 1024 * 1024;

/** Picks the iteration: the one numbered `number`, or the first whose signature repeats later. */
export function chooseIteration(db: DB, sessionId: number, number?: number): { row: IterationRow; because: string } {
  if (sessionStatus(db, sessionId) === undefined) throw new UserError(`no session ${sessionId} in this database`);
  const rows = iterationRows(db, sessionId);
  const complete = rows.filter((r) => r.end_seq !== null && r.signature !== null);
  if (complete.length === 0) {
    throw new UserError(
      `session ${sessionId} has no complete iteration (the agent marks each top-level forward(); scripts can use memoplan_agent.iteration())`,
    );
  }
  if (number !== undefined) {
    const row = complete.find((r) => r.number === number);
    if (!row) {
      const have = complete.map((r) => r.number);
      throw new UserError(`session ${sessionId} has no complete iteration ${number} (iterations ${have[0]}..${have[have.length - 1]})`);
    }
    return { row, because: `iteration ${number} as asked` };
  }
  for (let i = 0; i < complete.length; i++) {
    if (complete.slice(i + 1).some((r) => r.signature === complete[i].signature)) {
      return { row: complete[i], because: `the first iteration whose allocation signature repeats (${i} before it differ)` };
    }
  }
  const last = complete[complete.length - 1];
  return { row: last, because: 'no iteration signature repeats: the last complete iteration' };
}

/**
 * `sizeFloor`: the floor to plan with (a plan's stored one, a set's); absent: the one the
 * session's recording mode gives (below).
 */
export function loadIteration(db: DB, sessionId: number, number?: number, opts: { sizeFloor?: number | null } = {}): IterationInput {
  const { row, because } = chooseIteration(db, sessionId, number);
  const ops = sessionAgentOps(db, sessionId);
  const allocs = iterationAllocations(db, row.id, RECORD_FLAG_AGENT);
  const end = row.end_seq!;
  const freedWithin = (a: (typeof allocs)[number]) => a.free_seq !== null && a.free_seq <= end;
  // No floor when it would leave nothing to plan (an iteration of small allocations only).
  const sizeFloor =
    opts.sizeFloor !== undefined && opts.sizeFloor !== null
      ? opts.sizeFloor
      : ops && allocs.some((a) => a.size > AMBIGUOUS_SMALL_BYTES && freedWithin(a))
        ? AMBIGUOUS_SMALL_BYTES
        : 0;
  const small = allocs.filter((a) => a.size <= sizeFloor);
  const kept = sizeFloor > 0 ? allocs.filter((a) => a.size > sizeFloor) : allocs;
  const ordinalOf = new Map(kept.map((a, i) => [a.id, i]));
  const inside = kept.filter(freedWithin);
  const outside = kept.filter((a) => !freedWithin(a));
  // Logical time: the rank of each alloc or free event among the planned buffers' events.
  const times = new Float64Array(inside.length * 2);
  inside.forEach((a, i) => {
    times[2 * i] = a.seq;
    times[2 * i + 1] = a.free_seq!;
  });
  times.sort();
  const rank = new Map<number, number>();
  for (const t of times) if (!rank.has(t)) rank.set(t, rank.size);
  const buffers: IterationBuffer[] = inside.map((a) => ({
    id: ordinalOf.get(a.id)!,
    ordinal: ordinalOf.get(a.id)!,
    allocationId: a.id,
    start: rank.get(a.seq)!,
    end: rank.get(a.free_seq!)!,
    size: a.size,
    align: Math.max(MIN_ALIGN, a.align),
    addr: a.addr,
    module: a.module,
    op: a.op,
  }));
  return {
    sessionId,
    iterationId: row.id,
    number: row.number,
    threadId: row.thread_id,
    signature: row.signature!,
    sizeFloor,
    planSignature: sizeFloor > 0 ? iterationSignature(kept) : row.signature!,
    buffers,
    unplannable: { count: outside.length, bytes: outside.reduce((s, a) => s + a.size, 0) },
    leftSmall: { count: small.length, bytes: small.reduce((s, a) => s + a.size, 0) },
    sequence: kept.map((a, i) => ({ ordinal: i, size: a.size, align: Math.max(MIN_ALIGN, a.align), planned: freedWithin(a) })),
    baselineSpanBytes: addressSpan(buffers),
    chosenBecause: because,
  };
}

export function addressSpan(buffers: readonly { addr: number; size: number }[]): number {
  const sorted = [...buffers].sort((a, b) => a.addr - b.addr);
  let total = 0;
  let lo = -1;
  let hi = -1;
  for (const b of sorted) {
    if (lo < 0 || b.addr > hi + CLUSTER_GAP) {
      if (lo >= 0) total += hi - lo;
      lo = b.addr;
      hi = b.addr + b.size;
    } else hi = Math.max(hi, b.addr + b.size);
  }
  if (lo >= 0) total += hi - lo;
  return total;
}
