import type { TopReply } from '../../../shared/api';
import { topBarsData, topBarsOption } from '../../../shared/charts/top-bars';
import { formatDuration, formatSeconds } from '../../../shared/format';
import { api } from '../../client';
import { ec, type EChart } from '../../globals';
import { debounce, h, showError } from '../../ui';

/**
 * The Memory view's bars of bytes allocated by aten op and by module over the visible range
 * (shared/charts/top-bars.ts): totals, not live bytes. Summing a range reads every allocation in
 * it (a second on millions of events), so a zoom asks once it has settled, and only the latest
 * range is asked for while a request is out. #top-range carries data-range ("t0,t1" or "session").
 */
export interface TopPanel {
  els: HTMLElement[];
  init(): void;
  /** The bars of [t0, t1] (ns), or of the whole session. */
  load(t0?: number, t1?: number): Promise<void>;
  /** load, once the range has not changed for a while. */
  loadSettled(t0: number, t1: number): void;
  resize(): void;
}

export function topPanel(hooks: { session(): number | null }): TopPanel {
  const opsBox = h('div', { class: 'chart', id: 'top-ops' });
  const modBox = h('div', { class: 'chart', id: 'top-modules' });
  const rangeNote = h('p', { class: 'note', id: 'top-range' });
  let opsChart: EChart | null = null;
  let modChart: EChart | null = null;
  let seq = 0;
  /** The range the bars should show next, while a request is out (only the latest is asked for). */
  let wanted: { t0?: number; t1?: number } | null = null;
  let busy = false;

  function init(): void {
    if (opsChart) return;
    const bar = (box: HTMLElement, title: string) => {
      const c = ec().init(box);
      c.setOption(topBarsOption(title));
      return c;
    };
    opsChart = bar(opsBox, 'Bytes allocated by aten op (totals over the range, not live bytes)');
    modChart = bar(modBox, 'Bytes allocated by module (totals over the range, not live bytes)');
  }

  async function load(t0?: number, t1?: number): Promise<void> {
    wanted = { t0, t1 };
    if (busy) return;
    busy = true;
    try {
      while (wanted) {
        const w = wanted;
        wanted = null;
        await loadNow(w.t0, w.t1);
      }
    } finally {
      busy = false;
    }
  }

  async function loadNow(t0?: number, t1?: number): Promise<void> {
    const session = hooks.session();
    if (session === null) return;
    const mine = ++seq;
    try {
      const range = t0 !== undefined && t1 !== undefined ? { t0, t1 } : {};
      const [ops, mods] = await Promise.all([
        api('overview.top', { session, by: 'op', limit: 15, ...range }),
        api('overview.top', { session, by: 'module', limit: 15, ...range }),
      ]);
      if (mine !== seq) return;
      draw(ops, mods);
    } catch (err) {
      showError(err);
    }
  }

  function draw(ops: TopReply, mods: TopReply): void {
    opsChart!.setOption(topBarsData(ops));
    modChart!.setOption(topBarsData(mods));
    const r = ops.range;
    rangeNote.textContent = r
      ? `Bytes allocated between ${formatSeconds(r.t0, r.t1 - r.t0)} and ${formatSeconds(r.t1, r.t1 - r.t0)} (${formatDuration(r.t1 - r.t0)}, the visible range), summed over every allocation made in it: totals, not live bytes.`
      : 'Bytes allocated over the whole session, summed over every allocation: totals, not live bytes (zoom to sum a range).';
    rangeNote.dataset.range = r ? `${r.t0},${r.t1}` : 'session';
  }

  const settled = debounce((t0: number, t1: number) => void load(t0, t1), 600);

  return {
    els: [h('h3', { text: 'Allocated over the visible range' }), rangeNote, h('div', { class: 'grid2' }, opsBox, modBox)],
    init,
    load,
    loadSettled: settled,
    resize: () => {
      opsChart?.resize();
      modChart?.resize();
    },
  };
}
