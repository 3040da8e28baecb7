import type { DB } from '../store/db';
import { UserError } from '../../shared/errors';
import type { ReplayBuffer, ReplayState } from '../../shared/api';
import { addressSpan } from '../plan/iteration';
import { planBuffersWithAddresses, planExists } from '../store/plans';

/**
 * Offline step-through of a plan: the state of the planned arena, and of the addresses the
 * system allocator really gave the same buffers, after event k of the iteration. Event k is
 * the k-th alloc or free of a planned buffer (logical time, as the planner saw it).
 *
 * Indexed once (O(n)); each query starts from the nearest checkpoint of the live set (one
 * every CHECKPOINT events) and applies at most CHECKPOINT events, so scrubbing never replays
 * from the start.
 */

export const CHECKPOINT = 256;

/** A planned buffer with its recorded address: the contract's ReplayBuffer (shared/api.ts). */
export type StepBuffer = ReplayBuffer;

export interface StepState {
  k: number;
  events: number;
  event: ReplayState['event'];
  live: StepBuffer[];
  liveBytes: number;
  /** max(offset + size) over the buffers allocated so far */
  arenaHighWater: number;
  arenaBytes: number;
  system: {
    /** Clustered address span of the live buffers (see plan/iteration.ts addressSpan). */
    liveSpan: number;
    lowAddr: number | null;
    highAddr: number | null;
  };
}

export class PlanStepper {
  readonly events: number;
  private readonly eventBuffer: Int32Array;
  private readonly eventIsAlloc: Uint8Array;
  private readonly liveBytes: Float64Array;
  private readonly highWater: Float64Array;
  private readonly checkpoints: Int32Array[] = [];
  readonly arenaBytes: number;

  constructor(readonly buffers: readonly StepBuffer[]) {
    const T = buffers.reduce((m, b) => Math.max(m, b.end + 1), 0);
    this.events = T;
    this.eventBuffer = new Int32Array(T).fill(-1);
    this.eventIsAlloc = new Uint8Array(T);
    buffers.forEach((b, i) => {
      if (this.eventBuffer[b.start] !== -1 || this.eventBuffer[b.end] !== -1) throw new Error(`plan timeline: two events at one time (buffer ${b.ordinal})`);
      this.eventBuffer[b.start] = i;
      this.eventIsAlloc[b.start] = 1;
      this.eventBuffer[b.end] = i;
    });
    this.liveBytes = new Float64Array(T);
    this.highWater = new Float64Array(T);
    const live = new Set<number>();
    let bytes = 0;
    let high = 0;
    for (let t = 0; t < T; t++) {
      const i = this.eventBuffer[t];
      if (i >= 0) {
        const b = buffers[i];
        if (this.eventIsAlloc[t]) {
          live.add(i);
          bytes += b.size;
          high = Math.max(high, b.offset + b.size);
        } else {
          live.delete(i);
          bytes -= b.size;
        }
      }
      this.liveBytes[t] = bytes;
      this.highWater[t] = high;
      if (t % CHECKPOINT === 0) this.checkpoints.push(Int32Array.from(live));
    }
    this.arenaBytes = high;
  }

  at(k: number): StepState {
    if (!Number.isInteger(k) || k < 0 || k >= this.events) throw new UserError(`event index must be in 0..${this.events - 1}, got ${k}`);
    const c = Math.floor(k / CHECKPOINT);
    const live = new Set<number>(this.checkpoints[c]);
    for (let t = c * CHECKPOINT + 1; t <= k; t++) {
      const i = this.eventBuffer[t];
      if (i < 0) continue;
      if (this.eventIsAlloc[t]) live.add(i);
      else live.delete(i);
    }
    const liveBuffers = [...live].sort((a, b) => a - b).map((i) => this.buffers[i]);
    const e = this.buffers[this.eventBuffer[k]];
    const addrs = liveBuffers.map((b) => b.addr);
    return {
      k,
      events: this.events,
      event: { kind: this.eventIsAlloc[k] ? 'alloc' : 'free', ordinal: e.ordinal, size: e.size, module: e.module, op: e.op },
      live: liveBuffers,
      liveBytes: this.liveBytes[k],
      arenaHighWater: this.highWater[k],
      arenaBytes: this.arenaBytes,
      system: {
        liveSpan: addressSpan(liveBuffers),
        lowAddr: addrs.length ? Math.min(...addrs) : null,
        highAddr: liveBuffers.length ? Math.max(...liveBuffers.map((b) => b.addr + b.size)) : null,
      },
    };
  }
}

/** Loads a stored plan's buffers with their recorded addresses and ops. */
export function loadStepper(db: DB, planId: number): PlanStepper {
  if (!planExists(db, planId)) throw new UserError(`no plan ${planId} in this database`);
  const rows: StepBuffer[] = planBuffersWithAddresses(db, planId);
  return new PlanStepper(rows);
}
