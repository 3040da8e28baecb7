import type { PlanSetInfo } from '../../../shared/api';
import { state } from '../../state';
import { clear, fmtBytes, fmtInt, h } from '../../ui';

/**
 * The Plan view's plan sets (memoplan plan --signatures all), newest first: one table each, its
 * plans by signature, then its left-out signatures. A row (or its Map button) opens that plan's
 * memory map.
 */
export function setsPanel(openMap: (planId: number) => void): { el: HTMLElement; render(sets: PlanSetInfo[], planned: Map<number, PlanSetInfo>): void } {
  const box = h('div', { id: 'plan-sets' });
  const el = h(
    'div',
    { id: 'plan-sets-section' },
    h('h3', { text: 'Plan sets' }),
    h('p', { class: 'note', text: 'One plan per iteration signature of the recording that repeats; replay a set with memoplan replay --plan set:ID. Click a row to draw that plan\'s memory map.' }),
    box,
  );
  el.style.display = 'none';

  /** `planned`: sets planned in this page, with the planning run's own left-out reasons (a listing derives them). */
  function render(sets: PlanSetInfo[], planned: Map<number, PlanSetInfo>): void {
    clear(box);
    el.style.display = sets.length ? '' : 'none';
    const shown = sets.slice(0, 10);
    for (const listed of shown) box.append(setBlock(planned.get(listed.setId) ?? listed, openMap));
    if (sets.length > shown.length) box.append(h('p', { class: 'note', text: `${sets.length - shown.length} older set(s) not shown.` }));
  }
  return { el, render };
}

function setBlock(set: PlanSetInfo, openMap: (planId: number) => void): HTMLElement {
  const rows = set.plans.map((p) =>
    h(
      'tr',
      {
        'data-plan': p.planId,
        class: p.planId === state.plan ? 'selected' : '',
        style: 'cursor:pointer',
        title: 'click to draw its memory map',
        onclick: (e: Event) => {
          if ((e.target as HTMLElement).closest('button')) return;
          openMap(p.planId);
        },
      },
      h('td', {
        class: 'mono',
        text: p.signature,
        title: [
          p.planSignature ? `in the set file (above the size floor): ${p.planSignature}` : '',
          p.iterationSignatures.length > 1 ? `serves ${p.iterationSignatures.join(', ')}` : '',
        ].filter(Boolean).join('; '),
      }),
      h('td', { class: 'num', text: fmtInt(p.iterationsSeen) }),
      h('td', { class: 'num', text: p.shapeKey ?? '—', title: p.shapeKey === null ? 'no input-shape key (none is written yet)' : '' }),
      h('td', { class: 'num', text: fmtInt(p.buffers) }),
      h('td', { class: 'num', text: fmtBytes(p.arenaBytes), title: `${fmtInt(p.arenaBytes)} B` }),
      h('td', { class: 'num', text: fmtBytes(p.lowerBoundBytes), title: `${fmtInt(p.lowerBoundBytes)} B` }),
      h('td', { class: 'num', text: p.ratio.toFixed(4) }),
      h('td', { class: 'num', text: String(p.planId) }),
      h('td', {}, h('button', { class: 'btn', text: 'Map', onclick: () => openMap(p.planId) })),
    ),
  );
  const floor = set.sizeFloor === null ? '' : `, size floor ${fmtInt(set.sizeFloor)} B`;
  const block = h(
    'div',
    { class: 'plan-set', 'data-set': set.setId },
    h('p', { text: `Set ${set.setId}: ${set.plans.length} plan${set.plans.length === 1 ? '' : 's'} (${set.algorithm}${floor}), ${set.createdAt}` }),
    h(
      'table',
      { class: 'plan-set-table' },
      h('thead', {}, h('tr', {}, ...['signature', 'iterations seen', 'shape key', 'buffers', 'arena', 'lower bound', 'arena / bound', 'plan', ''].map((c, i) =>
        h('th', { class: i >= 1 && i <= 7 ? 'num' : '', text: c }),
      ))),
      h('tbody', {}, ...rows),
    ),
  );
  if (set.leftOut.length) {
    block.append(
      h('p', { class: 'note', text: `Signatures left out${set.leftOutFrom === 'recording' ? ' (reasons derived from the recording)' : ''}:` }),
      h('ul', { class: 'plan-set-left-out' }, ...set.leftOut.map((l) =>
        h('li', {}, h('span', { class: 'mono', text: l.signature }), ` (${fmtInt(l.iterations)} iteration${l.iterations === 1 ? '' : 's'}): ${l.reason}`),
      )),
    );
  }
  return block;
}
