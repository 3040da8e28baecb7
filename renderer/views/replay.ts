import type { PlanSetInfo } from '../../shared/api';
import { api } from '../client';
import { noSessionText, sessionSelect, shownSessionText, state } from '../state';
import { clear, fmtBytes, h, showError } from '../ui';
import type { View } from './view';
import { replayLivePanel } from './replay-live';
import { scrubber } from './replay/scrubber';
import { stepCharts } from './replay/step-charts';

/**
 * Replay: scrub through the iteration of a plan, event by event (replay/scrubber.ts: slider,
 * play/pause, step): the planned arena and the addresses the system allocator gave the same
 * buffers, at event k (replay/step-charts.ts); below, a live replay of the plan (replay-live.ts).
 * This module picks the session's plan or plan set.
 */
export function replayView(): View {
  const planSel = h('select', { id: 'replay-plan' });
  const shownNote = h('p', { class: 'note', id: 'replay-shown' });
  const setNote = h('p', { class: 'note', id: 'replay-set-note' });
  const charts = stepCharts();
  const scrub = scrubber((s) => charts.draw(s));
  const live = replayLivePanel();
  const select = sessionSelect(() => void loadPlans());
  let plan: number | null = null;
  let shownSession: number | null = null;
  let sets: PlanSetInfo[] = [];
  const el = h(
    'section',
    { class: 'view', id: 'view-replay' },
    h('h2', { text: 'Replay (offline step-through)' }),
    h('div', { class: 'row' }, h('label', { text: 'Session' }), select, h('label', { text: 'Plan' }), planSel),
    shownNote,
    setNote,
    ...scrub.els,
    ...charts.els,
    h('hr'),
    live.el,
  );
  planSel.addEventListener('change', () => void choose(planSel.value));

  /** The plan select's value: a plan id, or `set:ID` (step through its first plan, replay the whole set live). */
  async function choose(value: string): Promise<void> {
    const m = /^set:(\d+)$/.exec(value);
    const set = m ? sets.find((s) => s.setId === Number(m[1])) : undefined;
    if (set) {
      await openPlan(set.plans[0].planId, set.setId);
      setNote.textContent = `Plan set ${set.setId} (${set.plans.length} plans): the step-through shows its first plan, ${set.plans[0].planId}; Replay live serves the whole set.`;
    } else {
      await openPlan(Number(value));
    }
  }

  async function loadPlans(): Promise<void> {
    scrub.pause();
    const id = state.session;
    shownNote.textContent = shownSessionText();
    if (id === null) {
      scrub.eventLine.textContent = noSessionText();
      return;
    }
    select.value = String(id);
    try {
      const [list, setList] = await Promise.all([api('plan.list', { session: id }), api('plan.sets', { session: id })]);
      shownSession = id;
      sets = setList.filter((s) => s.plans.length > 0);
      clear(planSel);
      for (const p of list) planSel.append(h('option', { value: String(p.planId), text: `plan ${p.planId}: ${p.algorithm}, iteration ${p.iteration}, ${fmtBytes(p.arenaBytes)}${p.best ? ' ★' : ''}` }));
      for (const s of sets) planSel.append(h('option', { value: `set:${s.setId}`, text: `plan set ${s.setId}: ${s.plans.length} plans (every shape), ${s.algorithm}` }));
      if (!list.length) {
        plan = null;
        scrub.setPlan(null, 0);
        live.setPlan(null);
        scrub.eventLine.textContent = 'No plan for this session yet: make one in the Plan view.';
        return;
      }
      const pick = list.some((p) => p.planId === state.plan) ? state.plan! : (list.find((p) => p.best) ?? list[0]).planId;
      planSel.value = String(pick);
      await openPlan(pick);
    } catch (err) {
      showError(err);
    }
  }

  async function openPlan(id: number, set: number | null = null): Promise<void> {
    scrub.pause();
    setNote.textContent = '';
    try {
      const info = await api('replay.info', { plan: id });
      plan = id;
      state.plan = id;
      live.setPlan(id, set);
      scrub.setPlan(id, info.events);
      // Open where the most bytes are live: event 0 holds one small buffer and says little.
      scrub.go(info.peakEvent);
      charts.opened(info.peakEvent);
    } catch (err) {
      showError(err);
    }
  }

  return {
    name: 'replay',
    el,
    show: async () => {
      charts.init();
      charts.resize();
      live.show();
      if (shownSession !== state.session || state.session === null || (state.plan !== null && state.plan !== plan)) await loadPlans();
    },
    hide: () => scrub.pause(),
    resize: () => {
      charts.resize();
      live.resize();
    },
  };
}
