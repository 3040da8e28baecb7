import type { StoredPlanInfo } from '../../../shared/api';
import { planCompareOption } from '../../../shared/charts/plan-compare';
import { ec, type EChart } from '../../globals';
import { state } from '../../state';
import { clear, fmtBytes, fmtInt, h } from '../../ui';

/** Plans in the comparison chart (the newest). */
const COMPARE_PLANS = 12;

/**
 * The Plan view's plans of the session: a table (a row click or its Map button opens the
 * memory map, Replay opens the Replay view on it) and a chart of each arena against the lower
 * bound and the system allocator (shared/charts/plan-compare.ts, as in the report).
 */
export interface PlansTable {
  els: HTMLElement[];
  /** `plannable`: the session has a complete iteration (the "run the planners" hint shows when it has no plan yet). */
  render(plans: StoredPlanInfo[], plannable: boolean): void;
  resize(): void;
}

export function plansTable(hooks: { openMap(planId: number): void; replay(planId: number): void }): PlansTable {
  const body = h('tbody');
  const table = h(
    'table',
    { id: 'plans-table' },
    h(
      'thead',
      {},
      h('tr', {}, ...['plan', 'iteration', 'algorithm', 'arena', 'lower bound', 'arena − bound', 'system allocator', 'arena / bound', 'arena / system', 'seconds', 'optimal', ''].map((c, i) =>
        h('th', { class: i >= 3 && i <= 9 ? 'num' : '', text: c }),
      )),
    ),
    body,
  );
  const noPlans = h('p', { class: 'empty', text: 'No plans for this session yet: run the planners.' });
  const compareBox = h('div', { class: 'chart', id: 'plan-compare' });
  let compare: EChart | null = null;

  function row(p: StoredPlanInfo): HTMLElement {
    const sys = p.baselineSpanBytes;
    const over = p.arenaBytes - p.lowerBoundBytes;
    return h(
      'tr',
      {
        'data-plan': p.planId,
        class: `${p.best ? 'best' : ''} ${p.planId === state.plan ? 'selected' : ''}`,
        style: 'cursor:pointer',
        title: 'click to draw its memory map',
        onclick: (e: Event) => {
          if ((e.target as HTMLElement).closest('button')) return; // Map / Replay do their own
          hooks.openMap(p.planId);
        },
      },
      h('td', { class: 'num', text: String(p.planId) }),
      h('td', { class: 'num', text: String(p.iteration) }),
      h('td', { text: p.algorithm + (p.best ? ' ★' : '') }),
      h('td', { class: 'num', text: fmtBytes(p.arenaBytes), title: `${fmtInt(p.arenaBytes)} B` }),
      h('td', { class: 'num', text: fmtBytes(p.lowerBoundBytes), title: `${fmtInt(p.lowerBoundBytes)} B` }),
      h('td', { class: 'num over', text: over === 0 ? '0 B (optimal)' : `+${fmtBytes(over)}`, title: `${fmtInt(over)} B more than the lower bound` }),
      h('td', { class: 'num', text: fmtBytes(sys), title: sys === null ? '' : `${fmtInt(sys)} B` }),
      h('td', { class: 'num', text: p.ratio.toFixed(4) }),
      h('td', { class: 'num', text: sys ? (p.arenaBytes / sys).toFixed(3) : '-' }),
      h('td', { class: 'num', text: p.seconds.toFixed(3) }),
      h('td', { text: p.optimal ? 'yes' : 'no' }),
      h(
        'td',
        {},
        h('button', { class: 'btn', text: 'Map', onclick: () => hooks.openMap(p.planId) }), ' ',
        h('button', { class: 'btn', text: 'Replay', onclick: () => hooks.replay(p.planId) }),
      ),
    );
  }

  function renderCompare(plans: StoredPlanInfo[]): void {
    compareBox.style.display = plans.length ? '' : 'none';
    if (!plans.length) return;
    if (!compare) compare = ec().init(compareBox);
    compare.resize();
    compare.setOption(planCompareOption(plans.slice(0, COMPARE_PLANS), state.plan), true);
  }

  function render(plans: StoredPlanInfo[], plannable: boolean): void {
    renderCompare(plans);
    clear(body);
    noPlans.style.display = plans.length || !plannable ? 'none' : '';
    table.style.display = plans.length ? '' : 'none';
    for (const p of plans) body.append(row(p));
  }

  return {
    els: [table, h('p', { class: 'note', id: 'plans-hint', text: 'Click a row to draw its memory map.' }), compareBox, noPlans],
    render,
    resize: () => compare?.resize(),
  };
}
