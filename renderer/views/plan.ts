import { UI_PLANNERS, type PlanSetInfo, type StoredPlanInfo, type UiPlanner } from '../../shared/api';
import { api } from '../client';
import { noSessionText, sessionSelect, shownSessionText, state } from '../state';
import { clear, fmtBytes, fmtInt, h, showError, showStatus } from '../ui';
import { mapPanel } from './plan/map-panel';
import { plansTable } from './plan/plans-table';
import { setsPanel } from './plan/sets-panel';
import type { View } from './view';

/**
 * Plan: run planners on one iteration of a session, compare each arena with the lower bound and
 * with what the system allocator used (plan/plans-table.ts), list the session's plan sets
 * (plan/sets-panel.ts), and draw a plan's memory map (plan/map-panel.ts: logical time × offset).
 * This module holds the form, the planning runs and what the session has.
 */
export function planView(go: (view: string) => void): View {
  const iterSel = h('select', { id: 'plan-iteration' });
  const algSel = h('select', { id: 'plan-algorithm' });
  for (const a of UI_PLANNERS) algSel.append(h('option', { value: a, text: a === 'all' ? 'all planners (keep the best)' : a }));
  const timeLimit = h('input', { type: 'number', id: 'plan-time-limit', value: '2', min: '0.1', max: '60', step: '0.5', style: 'width:70px' });
  const runBtn = h('button', { class: 'btn primary', id: 'plan-run', text: 'Run planners' });
  const setBtn = h('button', {
    class: 'btn',
    id: 'plan-run-set',
    text: 'Plan every shape',
    title: 'One plan per repeating iteration signature (batch size, sequence length), stored as one plan set (memoplan plan --signatures all)',
  });
  const because = h('p', { class: 'note', id: 'plan-because' });
  const shownNote = h('p', { class: 'note', id: 'plan-shown' });
  const map = mapPanel();
  const table = plansTable({
    openMap: (id) => void showMap(id),
    replay: (id) => {
      state.plan = id;
      go('replay');
    },
  });
  const setsBox = setsPanel((id) => void showMap(id));
  let sets: PlanSetInfo[] = [];
  /** Sets planned in this page: the planning run's own left-out reasons (a listing derives them). */
  const planned = new Map<number, PlanSetInfo>();
  let shownSession: number | null = null;
  let plans: StoredPlanInfo[] = [];
  /** The shown session has a complete iteration to plan. */
  let plannable = false;

  const select = sessionSelect(() => void load());
  const el = h(
    'section',
    { class: 'view', id: 'view-plan' },
    h('h2', { text: 'Plan' }),
    h(
      'div',
      { class: 'row' },
      h('label', { text: 'Session' }), select,
      h('label', { text: 'Iteration' }), iterSel,
      h('label', { text: 'Planner' }), algSel,
      h('label', { text: 'Exact solver limit (s)' }), timeLimit,
      runBtn,
      setBtn,
    ),
    shownNote,
    because,
    ...table.els,
    setsBox.el,
    map.el,
  );

  /** The plans, the sets and which plan is selected, drawn again. */
  function render(): void {
    table.render(plans, plannable);
    setsBox.render(sets, planned);
  }

  async function showMap(planId: number): Promise<void> {
    state.plan = planId;
    render();
    await map.show(planId);
  }

  function noSession(): void {
    because.textContent = noSessionText();
    because.classList.remove('error');
    plannable = false;
    runBtn.disabled = true;
    setBtn.disabled = true;
    sets = [];
    plans = [];
    render();
    map.hide();
  }

  async function load(): Promise<void> {
    const id = state.session;
    shownNote.textContent = shownSessionText();
    if (id === null) return noSession();
    select.value = String(id);
    try {
      const [its, list, setList] = await Promise.all([api('plan.iterations', { session: id }), api('plan.list', { session: id }), api('plan.sets', { session: id })]);
      sets = setList;
      shownSession = id;
      clear(iterSel);
      iterSel.append(h('option', { value: '', text: its.defaultIteration === null ? 'default' : `default (${its.defaultIteration})` }));
      for (const it of its.iterations.filter((x) => x.complete)) {
        iterSel.append(h('option', { value: String(it.number), text: `${it.number}: ${fmtInt(it.allocs)} allocs, ${it.latencyMs === null ? '-' : it.latencyMs.toFixed(1) + ' ms'}` }));
      }
      plannable = its.iterations.some((x) => x.complete);
      runBtn.disabled = !plannable;
      setBtn.disabled = !plannable;
      because.textContent = its.defaultIteration === null
        ? `Nothing to plan: ${its.because ?? 'no complete iteration'}.` + (plannable ? '' : ' Its allocations are in the Memory view.')
        : `Default iteration ${its.defaultIteration}: ${its.because}`;
      because.classList.toggle('error', !plannable);
      plans = list;
      if (state.plan === null || !plans.some((p) => p.planId === state.plan)) state.plan = (plans.find((p) => p.best) ?? plans[0])?.planId ?? null;
      render();
      if (state.plan !== null) await showMap(state.plan);
      else map.hide();
    } catch (err) {
      showError(err);
    }
  }

  runBtn.addEventListener('click', async () => {
    if (state.session === null) return;
    runBtn.disabled = true;
    runBtn.textContent = 'Planning…';
    try {
      const r = await api('plan.run', {
        session: state.session,
        iteration: iterSel.value === '' ? undefined : Number(iterSel.value),
        algorithm: algSel.value as UiPlanner,
        timeLimit: Number(timeLimit.value) || 2,
      });
      if (r.set) throw new Error('plan.run answered a plan set'); // only with signatures 'all'
      const best = r.rows.find((x) => x.best) ?? r.rows[0];
      state.plan = best.plan_id;
      showStatus(`planned iteration ${r.iteration} (${fmtInt(r.buffers)} buffers): best ${best.algorithm}, ${fmtBytes(best.arena_bytes)} (${best.ratio.toFixed(4)} × lower bound)`);
      plans = await api('plan.list', { session: state.session });
      render();
      await showMap(best.plan_id!);
    } catch (err) {
      showError(err);
    } finally {
      runBtn.disabled = !plannable;
      runBtn.textContent = 'Run planners';
    }
  });

  setBtn.addEventListener('click', async () => {
    if (state.session === null) return;
    const session = state.session;
    setBtn.disabled = runBtn.disabled = true;
    setBtn.textContent = 'Planning every shape…';
    try {
      const r = await api('plan.run', { session, algorithm: algSel.value as UiPlanner, timeLimit: Number(timeLimit.value) || 2, signatures: 'all' });
      if (!r.set) throw new Error('plan.run answered a single plan');
      const set = r.set;
      planned.set(set.setId, set);
      const left = set.leftOut.length ? `; ${set.leftOut.length} signature(s) left out` : '';
      showStatus(`plan set ${set.setId}: ${set.plans.length} plan(s), one per repeating signature${left}`);
      [plans, sets] = await Promise.all([api('plan.list', { session }), api('plan.sets', { session })]);
      state.plan = set.plans[0].planId;
      render();
      await showMap(set.plans[0].planId);
      setsBox.el.scrollIntoView({ block: 'nearest' });
    } catch (err) {
      showError(err);
    } finally {
      setBtn.disabled = runBtn.disabled = !plannable;
      setBtn.textContent = 'Plan every shape';
    }
  });

  return {
    name: 'plan',
    el,
    show: async () => {
      map.init();
      if (shownSession !== state.session || state.session === null) await load();
      else render();
    },
    resize: () => {
      map.resize();
      table.resize();
    },
  };
}
