import { UserError } from '../../shared/errors';
import { LIMITS, type ReplayInfo, type ReplayState } from '../../shared/api';
import type { DB } from '../store/db';
import { loadStepper, type PlanStepper } from '../replay/step';
import { ApiInputError } from './validate';

/**
 * The Replay view's offline step-through (replay.info, replay.at): a plan's arena against the
 * recorded addresses after event k (main/replay/step.ts), with the steppers of the few plans
 * stepped through last kept loaded.
 */

const STEPPER_CACHE = 4;

export class Steppers {
  /** One stepper per plan, most recently used last. */
  private readonly steppers = new Map<number, PlanStepper>();

  constructor(private readonly db: () => DB) {}

  /** Forgets every stepper (their plans may be gone: a deletion, another database). */
  clear(): void {
    this.steppers.clear();
  }

  info(plan: number): ReplayInfo {
    const s = this.stepper(plan);
    // The event after which the most bytes are live: where the view opens.
    const delta = new Float64Array(s.events + 1);
    for (const x of s.buffers) {
      delta[x.start] += x.size;
      delta[x.end] -= x.size;
    }
    let live = 0;
    let best = -1;
    let peakEvent = 0;
    for (let k = 0; k < s.events; k++) {
      live += delta[k];
      if (live > best) [best, peakEvent] = [live, k];
    }
    return { plan, events: s.events, arenaBytes: s.arenaBytes, buffers: s.buffers.length, peakEvent, peakBytes: Math.max(0, best) };
  }

  at(plan: number, k: number): ReplayState {
    const s = this.stepper(plan);
    if (k >= s.events) throw new ApiInputError(`replay.at: k must be in 0..${s.events - 1}, got ${k}`);
    const st = s.at(k);
    const live = st.live.length > LIMITS.replayLive ? [...st.live].sort((a, b) => b.size - a.size).slice(0, LIMITS.replayLive) : st.live;
    return {
      plan,
      k: st.k,
      events: st.events,
      event: st.event,
      liveCount: st.live.length,
      liveBytes: st.liveBytes,
      arenaHighWater: st.arenaHighWater,
      arenaBytes: st.arenaBytes,
      system: st.system,
      live: live.map((b) => ({ ordinal: b.ordinal, offset: b.offset, size: b.size, addr: b.addr, start: b.start, end: b.end, module: b.module, op: b.op })),
    };
  }

  private stepper(planId: number): PlanStepper {
    let s = this.steppers.get(planId);
    if (s) {
      this.steppers.delete(planId);
    } else {
      s = loadStepper(this.db(), planId);
      if (s.events === 0) throw new UserError(`plan ${planId} has no buffers to step through`);
    }
    this.steppers.set(planId, s);
    while (this.steppers.size > STEPPER_CACHE) this.steppers.delete(this.steppers.keys().next().value!);
    return s;
  }
}
