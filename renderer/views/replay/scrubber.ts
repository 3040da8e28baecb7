import type { ReplayState } from '../../../shared/api';
import { api } from '../../client';
import { fmtBytes, fmtInt, h, showError } from '../../ui';

/**
 * The Replay view's controls over event k of a plan's iteration: a slider, first / step back /
 * play-pause / step / last, the play speed, and the line saying what event k is. Only the latest
 * wish is asked for while a request is out; each state that comes back goes to `draw`.
 */
export interface Scrubber {
  els: HTMLElement[];
  /** The event line (a message when there is nothing to step through). */
  eventLine: HTMLElement;
  /** Steps through plan `plan` (`events` long) from now on; null: nothing. */
  setPlan(plan: number | null, events: number): void;
  go(target: number): void;
  pause(): void;
}

export function scrubber(draw: (s: ReplayState) => void): Scrubber {
  const slider = h('input', { type: 'range', id: 'replay-slider', min: '0', max: '0', value: '0', step: '1' });
  const kLabel = h('span', { id: 'replay-k', class: 'muted' });
  const eventLine = h('p', { id: 'replay-event' });
  const speed = h('select', { id: 'replay-speed' });
  for (const s of [1, 10, 100, 1000]) speed.append(h('option', { value: String(s), text: `${s} events / tick` }));
  speed.value = '10';
  let plan: number | null = null;
  let events = 0;
  let k = 0;
  let timer: ReturnType<typeof setInterval> | null = null;
  let inFlight = false;
  let wanted: number | null = null;

  const playBtn = h('button', { class: 'btn', id: 'replay-play', text: '▶ Play', onclick: () => (timer ? pause() : play()) });
  const stepBtn = (id: string, text: string, delta: number | 'start' | 'end') =>
    h('button', {
      class: 'btn',
      id,
      text,
      onclick: () => {
        pause();
        go(delta === 'start' ? 0 : delta === 'end' ? events - 1 : k + delta);
      },
    });
  slider.addEventListener('input', () => {
    pause();
    go(Number(slider.value));
  });

  function play(): void {
    if (plan === null || events === 0) return;
    if (k >= events - 1) go(0);
    playBtn.textContent = '⏸ Pause';
    timer = setInterval(() => {
      if (inFlight) return;
      const next = Math.min(events - 1, k + Number(speed.value));
      go(next);
      if (next >= events - 1) pause();
    }, 100);
  }

  function pause(): void {
    if (timer) clearInterval(timer);
    timer = null;
    playBtn.textContent = '▶ Play';
  }

  /** Asks for event `target`; while a request is out, only the latest wish is kept. */
  function go(target: number): void {
    if (plan === null || events === 0) return;
    wanted = Math.max(0, Math.min(events - 1, Math.round(target)));
    if (!inFlight) void fetchNext();
  }

  async function fetchNext(): Promise<void> {
    while (wanted !== null && plan !== null) {
      const target = wanted;
      wanted = null;
      inFlight = true;
      try {
        const s = await api('replay.at', { plan, k: target });
        if (s.plan === plan) show(s);
      } catch (err) {
        pause();
        showError(err);
      } finally {
        inFlight = false;
      }
    }
  }

  function show(s: ReplayState): void {
    k = s.k;
    slider.value = String(s.k);
    kLabel.textContent = `event ${fmtInt(s.k)} of ${fmtInt(s.events)}`;
    eventLine.textContent = `${s.event.kind} of buffer #${s.event.ordinal}: ${fmtBytes(s.event.size)}, ${s.event.module || '(no module)'} ${s.event.op}`;
    draw(s);
  }

  return {
    els: [
      h('div', { class: 'row' }, slider, kLabel),
      h('div', { class: 'row' }, stepBtn('replay-first', '« first', 'start'), stepBtn('replay-back', '◀ step', -1), playBtn, stepBtn('replay-step', 'step ▶', 1), stepBtn('replay-last', 'last »', 'end'), speed),
      eventLine,
    ],
    eventLine,
    setPlan: (p, n) => {
      plan = p;
      events = n;
      slider.max = String(Math.max(0, n - 1));
      wanted = null;
    },
    go,
    pause,
  };
}
