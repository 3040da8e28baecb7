import { AB_ALLOCATORS, isPlanArmName, type AbAllocator, type AbAllocatorInfo, type AbStartRequest } from '../../../shared/api';
import { api } from '../../client';
import { launchForm } from '../../launch-form';
import { state } from '../../state';
import { clear, fmtBytes, h, showError } from '../../ui';

const EXAMPLE = ['--model', 'resnet18', '--iterations', '20', '--warmup', '3'];

/**
 * The A/B form: the workload, the arms (the allocators memoplan found, and the plan arm with
 * the plan of a chosen session), the baseline, serving threads, runs, warm-up, samples kept and
 * the run timeout. The plan arm is ticked when there is a plan to run, until the user ticks or
 * unticks it.
 */
export interface AbForm {
  el: HTMLElement;
  /** The request the form says; throws with a message for the user when a field is wrong. */
  read(): AbStartRequest;
  /** Fills the example workload (resnet18). */
  example(): Promise<void>;
  /** The allocators (once), the sessions with plans, the plans of the chosen one. */
  show(): Promise<void>;
}

export function abForm(): AbForm {
  const armsBox = h('div', { class: 'row', id: 'ab-arms' });
  const armBoxes = new Map<AbAllocator, HTMLInputElement>();
  const planSession = h('select', { id: 'ab-plan-session' });
  const planSel = h('select', { id: 'ab-plan' });
  const threads = h('input', { type: 'text', id: 'ab-threads', value: '1', style: 'width:120px', placeholder: '1,2,4' });
  const runs = h('input', { type: 'number', id: 'ab-runs', value: '5', min: '1', max: '200', style: 'width:80px' });
  const warmup = h('input', { type: 'number', id: 'ab-warmup', value: '2', min: '0', style: 'width:80px' });
  const iterations = h('input', { type: 'number', id: 'ab-iterations', value: '', min: '1', placeholder: 'all', style: 'width:80px' });
  const timeout = h('input', { type: 'number', id: 'ab-timeout', value: '0', min: '0', style: 'width:80px' });
  const baseline = h('select', { id: 'ab-baseline' });
  for (const a of AB_ALLOCATORS) baseline.append(h('option', { value: a, text: a }));
  const form = launchForm('ab', [
    h('label', { text: 'Arms' }), armsBox,
    h('label', { for: 'ab-plan', text: 'Plan (plan arm)' }), h('div', { class: 'row' }, planSession, planSel),
    h('label', { for: 'ab-baseline', text: 'Baseline' }), h('div', {}, baseline),
    h('label', { for: 'ab-threads', text: 'Serving threads' }), h('div', {}, threads, h('span', { class: 'note', text: ' comma-separated, e.g. 1,2' })),
    h('label', { for: 'ab-runs', text: 'Runs per arm' }), h('div', {}, runs),
    h('label', { for: 'ab-warmup', text: 'Warm-up samples' }), h('div', {}, warmup, h('span', { class: 'note', text: ' dropped per serving thread' })),
    h('label', { for: 'ab-iterations', text: 'Samples kept' }), h('div', {}, iterations, h('span', { class: 'note', text: ' per serving thread after the warm-up (empty: all)' })),
    h('label', { for: 'ab-timeout', text: 'Run timeout (s)' }), h('div', {}, timeout, h('span', { class: 'note', text: ' 0: never' })),
  ]);
  let allocators: AbAllocatorInfo[] = [];
  let loaded = false;

  function fillPlanSessions(): void {
    const keep = planSession.value;
    clear(planSession);
    for (const s of state.sessions.filter((x) => x.status !== 'recording')) planSession.append(h('option', { value: String(s.id), text: `#${s.id} ${s.name}` }));
    planSession.value = keep && Array.from(planSession.options).some((o) => o.value === keep) ? keep : state.session !== null ? String(state.session) : planSession.value;
  }

  async function loadPlans(): Promise<void> {
    clear(planSel);
    const id = Number(planSession.value);
    if (!id) return;
    try {
      const list = await api('plan.list', { session: id });
      for (const p of list) planSel.append(h('option', { value: String(p.planId), text: `plan ${p.planId}: ${p.algorithm}, ${fmtBytes(p.arenaBytes)}${p.best ? ' ★' : ''}` }));
      if (!list.length) planSel.append(h('option', { value: '', text: '(no plan: make one in the Plan view)' }));
      const pick = list.find((p) => p.planId === state.plan) ?? list.find((p) => p.best) ?? list[0];
      if (pick) planSel.value = String(pick.planId);
      syncPlanArm();
    } catch (err) {
      showError(err);
    }
  }
  planSession.addEventListener('change', () => void loadPlans());

  /** The plan arm is ticked when there is a plan to run, until the user ticks or unticks it. */
  function syncPlanArm(): void {
    const box = armBoxes.get('plan');
    if (box && !box.disabled && box.dataset.touched !== '1') box.checked = planSel.value !== '';
  }

  async function loadAllocators(): Promise<void> {
    allocators = await api('ab.allocators', {});
    clear(armsBox);
    for (const a of allocators) {
      const box = h('input', { type: 'checkbox', id: `ab-arm-${a.name}`, checked: a.usable && a.name !== 'plan' && !a.name.startsWith('plan+'), disabled: !a.usable });
      box.addEventListener('change', () => (box.dataset.touched = '1'));
      armBoxes.set(a.name, box);
      armsBox.append(h('label', { class: a.usable ? '' : 'muted', title: a.reason ?? a.library ?? 'the system allocator' }, box, ` ${a.name}${a.usable ? '' : ' (not available)'}`));
    }
    syncPlanArm();
    const why = allocators.filter((a) => !a.usable).map((a) => `${a.name}: ${a.reason}`);
    if (why.length) armsBox.append(h('span', { class: 'note', text: why.join('; ') }));
  }

  function readThreads(): number[] {
    const parts = threads.value.split(',').map((s) => s.trim()).filter(Boolean);
    const out = parts.map((p) => Number(p));
    if (!out.length || out.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`serving threads must be positive integers like 1,2; got ${JSON.stringify(threads.value)}`);
    return out;
  }

  function read(): AbStartRequest {
    const w = form.read();
    const arms = AB_ALLOCATORS.filter((a) => armBoxes.get(a)?.checked);
    const intOf = (i: HTMLInputElement, name: string) => {
      const n = Number(i.value);
      if (i.value.trim() === '' || !Number.isInteger(n)) throw new Error(`${name} must be an integer`);
      return n;
    };
    return {
      ...w,
      allocators: arms,
      plan: arms.some(isPlanArmName) && planSel.value ? Number(planSel.value) : undefined,
      threads: readThreads(),
      runs: intOf(runs, 'runs'),
      warmup: intOf(warmup, 'warm-up'),
      iterations: iterations.value.trim() === '' ? undefined : intOf(iterations, 'samples kept'),
      baseline: baseline.value as AbAllocator,
      runTimeout: timeout.value.trim() === '' ? undefined : intOf(timeout, 'run timeout'),
    };
  }

  async function show(): Promise<void> {
    fillPlanSessions();
    if (!loaded) {
      await loadAllocators();
      await form.example(EXAMPLE);
      loaded = true;
    }
    await loadPlans();
  }

  return { el: form.el, read, example: () => form.example(EXAMPLE), show };
}
