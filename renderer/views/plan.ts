import { UI_PLANNERS, type MapReply, type PlanSetInfo, type StoredPlanInfo, type UiPlanner } from '../../shared/api';
import { api } from '../client';
import { ec, type EChart } from '../globals';
import { noSessionText, sessionSelect, shownSessionText, state } from '../state';
import { clear, esc, fmtBytes, fmtInt, h, PALETTE, showError, showStatus } from '../ui';
import { mapGroups } from '../../shared/memory-map';
import type { View } from './view';

const MAP_RECTS = 4000;

/**
 * Plan: run planners on one iteration of a session, compare each arena with the lower bound and
 * with what the system allocator used, and draw a plan's memory map (logical time × offset).
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
  const setsBox = h('div', { id: 'plan-sets' });
  const setsSection = h(
    'div',
    { id: 'plan-sets-section' },
    h('h3', { text: 'Plan sets' }),
    h('p', { class: 'note', text: 'One plan per iteration signature of the recording that repeats; replay a set with memoplan replay --plan set:ID. Click a row to draw that plan\'s memory map.' }),
    setsBox,
  );
  setsSection.style.display = 'none';
  let sets: PlanSetInfo[] = [];
  /** Sets planned in this page: the planning run's own left-out reasons (a listing derives them). */
  const planned = new Map<number, PlanSetInfo>();
  const because = h('p', { class: 'note', id: 'plan-because' });
  const shownNote = h('p', { class: 'note', id: 'plan-shown' });
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
  const mapBox = h('div', { class: 'chart tall', id: 'plan-map' });
  const compareBox = h('div', { class: 'chart', id: 'plan-compare' });
  let compare: EChart | null = null;
  const mapInfo = h('p', { class: 'note', id: 'plan-map-info' });
  let map: EChart | null = null;
  let shownSession: number | null = null;
  let plans: StoredPlanInfo[] = [];
  /** The shown session has a complete iteration to plan. */
  let plannable = false;
  const mapSection = h('div', { id: 'plan-map-section' }, h('h3', { text: 'Memory map' }), mapInfo, mapBox);
  mapSection.style.display = 'none';

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
    table,
    h('p', { class: 'note', id: 'plans-hint', text: 'Click a row to draw its memory map.' }),
    compareBox,
    noPlans,
    setsSection,
    mapSection,
  );

  /** The session's plan sets, newest first: one table each, then its left-out signatures. */
  function renderSets(): void {
    clear(setsBox);
    setsSection.style.display = sets.length ? '' : 'none';
    const shown = sets.slice(0, 10);
    for (const listed of shown) {
      const set = planned.get(listed.setId) ?? listed;
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
              void showMap(p.planId);
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
          h('td', {}, h('button', { class: 'btn', text: 'Map', onclick: () => void showMap(p.planId) })),
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
      setsBox.append(block);
    }
    if (sets.length > shown.length) setsBox.append(h('p', { class: 'note', text: `${sets.length - shown.length} older set(s) not shown.` }));
  }

  function renderTable(): void {
    renderCompare();
    renderSets();
    clear(body);
    noPlans.style.display = plans.length || !plannable ? 'none' : '';
    table.style.display = plans.length ? '' : 'none';
    for (const p of plans) {
      const sys = p.baselineSpanBytes;
      const over = p.arenaBytes - p.lowerBoundBytes;
      const tr = h(
        'tr',
        {
          'data-plan': p.planId,
          class: `${p.best ? 'best' : ''} ${p.planId === state.plan ? 'selected' : ''}`,
          style: 'cursor:pointer',
          title: 'click to draw its memory map',
          onclick: (e: Event) => {
            if ((e.target as HTMLElement).closest('button')) return; // Map / Replay do their own
            void showMap(p.planId);
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
          h('button', { class: 'btn', text: 'Map', onclick: () => void showMap(p.planId) }), ' ',
          h('button', {
            class: 'btn',
            text: 'Replay',
            onclick: () => {
              state.plan = p.planId;
              go('replay');
            },
          }),
        ),
      );
      body.append(tr);
    }
  }

  /** Each plan's arena next to the lower bound (peak live bytes) and the span the system allocator used. */
  function renderCompare(): void {
    compareBox.style.display = plans.length ? '' : 'none';
    if (!plans.length) return;
    if (!compare) compare = ec().init(compareBox);
    compare.resize();
    const shownPlans = plans.slice(0, 12);
    const sys = shownPlans.find((p) => p.baselineSpanBytes !== null)?.baselineSpanBytes ?? null;
    compare.setOption(
      {
        animation: false,
        title: { text: 'Arena of each plan, against the lower bound and the system allocator', left: 8, top: 4, textStyle: { fontSize: 13 } },
        tooltip: { trigger: 'axis', valueFormatter: (v: number) => `${fmtBytes(v)} (${fmtInt(v)} B)` },
        legend: { top: 26 },
        grid: { left: 90, right: 30, top: 60, bottom: 40 },
        xAxis: { type: 'category', data: shownPlans.map((p) => `#${p.planId} ${p.algorithm}`), axisLabel: { interval: 0, fontSize: 11 } },
        yAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
        series: [
          {
            name: 'plan arena',
            type: 'bar',
            data: shownPlans.map((p) => p.arenaBytes),
            label: { show: true, position: 'top', fontSize: 10, formatter: (q: { value: number; dataIndex: number }) => `${fmtBytes(q.value)} (+${fmtBytes(q.value - shownPlans[q.dataIndex].lowerBoundBytes)})` },
          },
          { name: 'lower bound (peak live bytes)', type: 'line', symbol: 'none', lineStyle: { type: 'dashed' }, data: shownPlans.map((p) => p.lowerBoundBytes) },
          ...(sys === null ? [] : [{ name: 'system allocator (glibc) span', type: 'line', symbol: 'none', data: shownPlans.map((p) => p.baselineSpanBytes) }]),
        ],
      },
      true,
    );
  }

  async function load(): Promise<void> {
    const id = state.session;
    shownNote.textContent = shownSessionText();
    if (id === null) {
      because.textContent = noSessionText();
      because.classList.remove('error');
      plannable = false;
      runBtn.disabled = true;
      setBtn.disabled = true;
      sets = [];
      renderSets();
      noPlans.style.display = 'none';
      table.style.display = 'none';
      mapSection.style.display = 'none';
      return;
    }
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
      renderTable();
      if (state.plan !== null) await showMap(state.plan);
      else mapSection.style.display = 'none';
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
      renderTable();
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
      renderTable();
      await showMap(set.plans[0].planId);
      setsSection.scrollIntoView({ block: 'nearest' });
    } catch (err) {
      showError(err);
    } finally {
      setBtn.disabled = runBtn.disabled = !plannable;
      setBtn.textContent = 'Plan every shape';
    }
  });

  function initMap(): EChart {
    if (!map) map = ec().init(mapBox);
    return map;
  }

  async function showMap(planId: number): Promise<void> {
    state.plan = planId;
    renderTable();
    mapSection.style.display = '';
    const chart = initMap();
    chart.resize();
    let m: MapReply;
    try {
      m = await api('plan.map', { plan: planId, maxRects: MAP_RECTS });
    } catch (err) {
      showError(err);
      return;
    }
    // Colour by module group, the biggest groups first; the rest share one colour (shared/memory-map.ts, as the report).
    const g = mapGroups(m);
    const names = g.names;
    const data: number[][][] = names.map(() => []);
    m.rects.forEach((r, i) => data[g.group[i]].push([r.start, r.end, r.offset, r.size, r.module, r.op, r.ordinal]));
    const renderItem = (params: { coordSys: { x: number; y: number; width: number; height: number } }, api2: {
      value(i: number): number;
      coord(p: number[]): number[];
      style(): object;
    }) => {
      const [x0, y0] = api2.coord([api2.value(0), api2.value(2) + api2.value(3)]);
      const [x1, y1] = api2.coord([api2.value(1), api2.value(2)]);
      const shape = ec().graphic.clipRectByRect(
        { x: x0, y: y0, width: Math.max(0.5, x1 - x0), height: Math.max(0.5, y1 - y0) },
        { x: params.coordSys.x, y: params.coordSys.y, width: params.coordSys.width, height: params.coordSys.height },
      );
      return shape && { type: 'rect', shape, style: api2.style() };
    };
    chart.setOption(
      {
        animation: false,
        title: { text: `Plan ${m.plan} (${m.algorithm}): arena ${fmtBytes(m.arenaBytes)}, lower bound ${fmtBytes(m.lowerBoundBytes)}`, left: 8, top: 4, textStyle: { fontSize: 13 } },
        legend: { top: 26, type: 'scroll' },
        tooltip: {
          trigger: 'item',
          formatter: (p: { value: number[] }) => {
            const v = p.value;
            return (
              `buffer #${v[6]}<br>module: ${esc(m.modules[v[4]] || '(none)')}<br>op: ${esc(m.ops[v[5]] || '(none)')}<br>` +
              `size: ${fmtBytes(v[3])} (${fmtInt(v[3])} B)<br>offset: ${fmtInt(v[2])}<br>lifetime: ${v[0]} → ${v[1]} (${v[1] - v[0]} events)`
            );
          },
        },
        grid: { left: 90, right: 30, top: 60, bottom: 60 },
        xAxis: { type: 'value', name: 'event (logical time)', nameLocation: 'middle', nameGap: 28, min: 0, max: m.events },
        yAxis: { type: 'value', name: 'offset', min: 0, max: m.arenaBytes, axisLabel: { formatter: (v: number) => fmtBytes(v) } },
        dataZoom: [
          { type: 'inside', xAxisIndex: 0, filterMode: 'weakFilter' },
          { type: 'inside', yAxisIndex: 0, filterMode: 'weakFilter', zoomOnMouseWheel: 'shift', moveOnMouseWheel: false },
          { type: 'slider', xAxisIndex: 0, filterMode: 'weakFilter', height: 18, bottom: 8 },
        ],
        series: names.map((name, i) => ({
          name,
          type: 'custom',
          renderItem,
          encode: { x: [0, 1], y: [2, 3] },
          itemStyle: { color: PALETTE[i % PALETTE.length], opacity: 0.85, borderColor: 'rgba(0,0,0,0.25)', borderWidth: 0.3 },
          data: data[i],
        })),
      },
      { notMerge: true },
    );
    const capped = m.shown < m.total;
    mapInfo.textContent = capped
      ? `Showing the ${fmtInt(m.shown)} largest of ${fmtInt(m.total)} buffers (${((100 * m.shownBytes) / Math.max(1, m.totalBytes)).toFixed(1)}% of their bytes); smaller ones are left out. Wheel zooms time, shift+wheel zooms offsets.`
      : `All ${fmtInt(m.total)} buffers. Wheel zooms time, shift+wheel zooms offsets.`;
  }

  return {
    name: 'plan',
    el,
    show: async () => {
      initMap().resize();
      if (shownSession !== state.session || state.session === null) await load();
      else renderTable();
    },
    resize: () => {
      map?.resize();
      compare?.resize();
    },
  };
}
