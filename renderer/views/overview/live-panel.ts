import type { LiveGroupRow, LiveReply } from '../../../shared/api';
import { icicleOption } from '../../../shared/charts/icicle';
import { api } from '../../client';
import { ec, type EChart } from '../../globals';
import { clear, fmtBytes, fmtInt, h, showError } from '../../ui';

const TABLE_ROWS = 15;

/**
 * The Memory view's live panel: what is live at one instant (the session's peak, an iteration's
 * peak, or the instant clicked on the timeline) as an icicle of Python stacks
 * (shared/charts/icicle.ts) and tables by module and aten op. #live-panel carries data-t,
 * data-at and data-live-bytes of the instant shown.
 */
export interface LivePanel {
  el: HTMLElement;
  init(): void;
  /** Asks what is live (the peak without t or iteration) and shows it. */
  show(req: { t?: number; iteration?: number }): Promise<void>;
  /** Forgets the instant shown (another session opens). */
  reset(): void;
  resize(): void;
}

export function livePanel(hooks: { session(): number | null; when(t: number): string; mark(t: number, label: string): void }): LivePanel {
  const flameBox = h('div', { class: 'chart flame', id: 'live-flame' });
  const title = h('h3', { id: 'live-title', text: 'Live at the peak' });
  const note = h('p', { class: 'note', id: 'live-note' });
  const modTable = h('table', { class: 'live dense', id: 'live-modules' });
  const opTable = h('table', { class: 'live dense', id: 'live-ops' });
  const onlyStacks = h('input', { type: 'checkbox', id: 'live-only-stacks', checked: true });
  let flame: EChart | null = null;
  let live: LiveReply | null = null;
  let seq = 0;

  const peakBtn = h('button', { class: 'btn', id: 'live-peak', text: 'Session peak', onclick: () => void show({}) });
  const iterPeakBtn = h('button', {
    class: 'btn',
    id: 'live-iter-peak',
    text: "This iteration's peak",
    onclick: () => {
      if (live?.iteration !== null && live?.iteration !== undefined) void show({ iteration: live.iteration });
    },
  });
  onlyStacks.addEventListener('change', () => drawFlame());

  const el = h(
    'div',
    { id: 'live-panel' },
    h('div', { class: 'live-head' }, title, peakBtn, iterPeakBtn, h('label', {}, onlyStacks, ' only allocations made under a Python stack')),
    note,
    flameBox,
    h(
      'div',
      { class: 'grid2' },
      h('div', {}, h('h3', { text: 'Live by module' }), h('div', { class: 'scroll' }, modTable)),
      h('div', {}, h('h3', { text: 'Live by aten op' }), h('div', { class: 'scroll' }, opTable)),
    ),
  );

  function init(): void {
    if (flame) return;
    flame = ec().init(flameBox);
    flame.on('click', (p: { data?: { full?: string } }) => {
      if (p.data?.full) note.textContent = p.data.full;
    });
  }

  /** Title, icicle, tables, and the instant marked on the timeline. */
  function draw(r: LiveReply): void {
    const what = r.at === 'peak' ? "the session's peak" : r.at.startsWith('iteration:') ? `iteration ${r.at.slice(10)}'s peak` : 'the instant clicked';
    title.textContent = `Live at ${hooks.when(r.t)} (${what}): ${fmtBytes(r.liveBytes)} in ${fmtInt(r.liveCount)} allocations`;
    el.dataset.t = String(r.t);
    el.dataset.at = r.at;
    el.dataset.liveBytes = String(r.liveBytes);
    iterPeakBtn.disabled = r.iteration === null;
    note.textContent =
      'Each bar is a Python frame (file:line function), outermost at the top, as wide as the bytes live under it; ' +
      'allocations made outside a forward pass (import, weights, the interpreter) have no Python stack. Click a bar for its full path.';
    fillTable(modTable, 'module', r.byModule, r.omitted.module, r.liveBytes);
    fillTable(opTable, 'aten op', r.byOp, r.omitted.op, r.liveBytes);
    drawFlame();
    hooks.mark(r.t, r.at === 'peak' ? 'peak' : r.at.startsWith('iteration:') ? 'iteration peak' : 'selected');
  }

  function drawFlame(): void {
    if (live && flame) flame.setOption(icicleOption(live, onlyStacks.checked), true);
  }

  async function show(req: { t?: number; iteration?: number }): Promise<void> {
    const session = hooks.session();
    if (session === null) return;
    const mine = ++seq;
    try {
      const r = await api('overview.live', { session, limit: 300, ...req });
      if (mine !== seq || hooks.session() !== session) return;
      live = r;
      draw(r);
    } catch (err) {
      showError(err);
    }
  }

  return {
    el,
    init,
    show,
    reset: () => {
      live = null;
    },
    resize: () => flame?.resize(),
  };
}

function fillTable(t: HTMLTableElement, what: string, rows: LiveGroupRow[], omitted: [number, number], total: number): void {
  clear(t);
  t.append(
    h('tr', {}, h('th', { text: what }), h('th', { class: 'num', text: 'live bytes' }), h('th', { class: 'num', text: '% of live' }), h('th', { class: 'num', text: 'allocations' }), h('th', { text: '' })),
  );
  const max = rows.length ? rows[0].bytes : 1;
  const shownRows = rows.slice(0, TABLE_ROWS);
  for (const g of shownRows) {
    t.append(
      h(
        'tr',
        {},
        h('td', { class: 'key', text: g.key, title: g.key }),
        h('td', { class: 'num', text: fmtBytes(g.bytes), title: `${fmtInt(g.bytes)} B` }),
        h('td', { class: 'num', text: total ? `${((100 * g.bytes) / total).toFixed(1)}%` : '-' }),
        h('td', { class: 'num', text: fmtInt(g.count) }),
        h('td', { class: 'bar' }, h('span', { style: `width:${Math.max(1, Math.round((100 * g.bytes) / Math.max(1, max)))}%` })),
      ),
    );
  }
  const restN = rows.length - shownRows.length + omitted[0];
  const restB = rows.slice(TABLE_ROWS).reduce((n, g) => n + g.bytes, 0) + omitted[1];
  if (restN > 0) {
    t.append(h('tr', {}, h('td', { class: 'muted', text: `${fmtInt(restN)} more` }), h('td', { class: 'num muted', text: fmtBytes(restB) }), h('td', {}), h('td', {}), h('td', {})));
  }
}
