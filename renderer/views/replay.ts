import type { PlanSetInfo, ReplayBuffer, ReplayState } from '../../shared/api';
import { api } from '../client';
import { ec, type EChart } from '../globals';
import { noSessionText, sessionSelect, shownSessionText, state } from '../state';
import { card, clear, esc, fmtBytes, fmtInt, h, moduleGroup, PALETTE, showError } from '../ui';
import type { View } from './view';
import { replayLivePanel } from './replay-live';

/** Gaps wider than this between live buffers' recorded addresses are drawn this wide. */
const GAP = 1 << 20;

/**
 * Replay: scrub through the iteration of a plan, event by event (slider, play/pause, step):
 * the planned arena and the addresses the system allocator gave the same buffers, at event k.
 */
export function replayView(): View {
  const planSel = h('select', { id: 'replay-plan' });
  const slider = h('input', { type: 'range', id: 'replay-slider', min: '0', max: '0', value: '0', step: '1' });
  const kLabel = h('span', { id: 'replay-k', class: 'muted' });
  const eventLine = h('p', { id: 'replay-event' });
  const shownNote = h('p', { class: 'note', id: 'replay-shown' });
  const speed = h('select', { id: 'replay-speed' });
  for (const s of [1, 10, 100, 1000]) speed.append(h('option', { value: String(s), text: `${s} events / tick` }));
  speed.value = '10';
  const cards = { live: card('live buffers', 'replay-live'), bytes: card('live bytes', 'replay-bytes'), high: card('arena high-water'), sys: card('system allocator span') };
  const arenaBox = h('div', { class: 'chart tall', id: 'replay-arena' });
  const sysBox = h('div', { class: 'chart tall', id: 'replay-system' });
  const capNote = h('p', { class: 'note', id: 'replay-cap' });
  const legend = h('div', { class: 'row', id: 'replay-legend' });
  let arena: EChart | null = null;
  let sys: EChart | null = null;
  let plan: number | null = null;
  let events = 0;
  let k = 0;
  let timer: ReturnType<typeof setInterval> | null = null;
  let inFlight = false;
  let wanted: number | null = null;
  let shownSession: number | null = null;
  let sets: PlanSetInfo[] = [];
  const setNote = h('p', { class: 'note', id: 'replay-set-note' });

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
  const live = replayLivePanel();
  const select = sessionSelect(() => void loadPlans());
  const el = h(
    'section',
    { class: 'view', id: 'view-replay' },
    h('h2', { text: 'Replay (offline step-through)' }),
    h('div', { class: 'row' }, h('label', { text: 'Session' }), select, h('label', { text: 'Plan' }), planSel),
    shownNote,
    setNote,
    h('div', { class: 'row' }, slider, kLabel),
    h('div', { class: 'row' }, stepBtn('replay-first', '« first', 'start'), stepBtn('replay-back', '◀ step', -1), playBtn, stepBtn('replay-step', 'step ▶', 1), stepBtn('replay-last', 'last »', 'end'), speed),
    eventLine,
    h('div', { class: 'cards' }, ...Object.values(cards).map((c) => c.el)),
    capNote,
    legend,
    h('div', { class: 'grid2' }, arenaBox, sysBox),
    h('hr'),
    live.el,
  );

  slider.addEventListener('input', () => {
    pause();
    go(Number(slider.value));
  });
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
        if (s.plan === plan) draw(s);
      } catch (err) {
        pause();
        showError(err);
      } finally {
        inFlight = false;
      }
    }
  }

  function initCharts(): void {
    if (arena) return;
    const base = (title: string) => ({
      animation: false,
      title: { text: title, left: 8, top: 4, textStyle: { fontSize: 13 } },
      tooltip: { trigger: 'item' },
      grid: { left: 90, right: 20, top: 40, bottom: 40 },
      xAxis: { type: 'value', name: 'event', nameLocation: 'middle', nameGap: 24 },
      // The axis ends at the arena (or span) size, rarely a round tick: no label there to collide.
      yAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v), showMaxLabel: false } },
      series: [],
    });
    arena = ec().init(arenaBox);
    arena.setOption(base('Planned arena (offset)'));
    sys = ec().init(sysBox);
    sys.setOption(base('System allocator (recorded addresses, gaps > 1 MiB collapsed)'));
  }

  const rectItem = (params: { coordSys: { x: number; y: number; width: number; height: number } }, a: { value(i: number): number; coord(p: number[]): number[]; style(): object }) => {
    const [x0, y0] = a.coord([a.value(0), a.value(2) + a.value(3)]);
    const [x1, y1] = a.coord([a.value(1), a.value(2)]);
    const shape = ec().graphic.clipRectByRect(
      { x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(0.5, y1 - y0) },
      { x: params.coordSys.x, y: params.coordSys.y, width: params.coordSys.width, height: params.coordSys.height },
    );
    return shape && { type: 'rect', shape, style: a.style() };
  };

  /** Colour of each module group, the same in both charts and the legend (largest live bytes first). */
  function groupColours(s: ReplayState): Map<string, number> {
    const bytes = new Map<string, number>();
    for (const b of s.live) bytes.set(moduleGroup(b.module), (bytes.get(moduleGroup(b.module)) ?? 0) + b.size);
    return new Map([...bytes.entries()].sort((a, b) => b[1] - a[1]).map(([g], i) => [g, i]));
  }

  function drawLegend(groups: Map<string, number>): void {
    clear(legend);
    const item = (color: string, text: string) =>
      h('span', { class: 'note', style: 'display:inline-flex;align-items:center;gap:4px' }, h('span', { style: `display:inline-block;width:12px;height:12px;border-radius:2px;background:${color}` }), text);
    legend.append(h('span', { class: 'note', text: 'Colour: the module group that allocated the buffer.' }));
    for (const [g, i] of groups) legend.append(item(PALETTE[i % PALETTE.length], g));
    legend.append(item('#e8590c', 'the buffer of event k'));
  }

  function chartOption(s: ReplayState, pos: (b: ReplayBuffer) => number, yMax: number, addrs: boolean, groups: Map<string, number>): object {
    const rows = s.live.map((b) => ({ b, g: groups.get(moduleGroup(b.module)) ?? 0 }));
    const tooltip = (b: ReplayBuffer) =>
      `buffer #${b.ordinal}<br>module: ${esc(b.module || '(none)')}<br>op: ${esc(b.op || '(none)')}<br>size: ${fmtBytes(b.size)}<br>` +
      (addrs ? `address: 0x${b.addr.toString(16)}` : `offset: ${fmtInt(b.offset)}`) + `<br>lifetime: ${b.start} → ${b.end}`;
    return {
      xAxis: { min: 0, max: s.events },
      yAxis: { min: 0, max: Math.max(1, yMax) },
      tooltip: { trigger: 'item', formatter: (p: { data: { b: ReplayBuffer } }) => (p.data && p.data.b ? tooltip(p.data.b) : '') },
      series: [
        {
          type: 'custom',
          renderItem: rectItem,
          encode: { x: [0, 1], y: [2, 3] },
          data: rows.map(({ b, g }) => ({
            value: [b.start, b.end, pos(b), b.size],
            b,
            itemStyle: { color: b.ordinal === s.event.ordinal ? '#e8590c' : PALETTE[g % PALETTE.length], opacity: 0.8 },
          })),
          markLine: { silent: true, symbol: 'none', lineStyle: { color: '#333', type: 'dashed' }, label: { formatter: `k=${s.k}` }, data: [{ xAxis: s.k }] },
        },
      ],
    };
  }

  function draw(s: ReplayState): void {
    k = s.k;
    slider.value = String(s.k);
    kLabel.textContent = `event ${fmtInt(s.k)} of ${fmtInt(s.events)}`;
    eventLine.textContent = `${s.event.kind} of buffer #${s.event.ordinal}: ${fmtBytes(s.event.size)}, ${s.event.module || '(no module)'} ${s.event.op}`;
    cards.live.set(fmtInt(s.liveCount));
    cards.bytes.set(fmtBytes(s.liveBytes));
    cards.high.set(`${fmtBytes(s.arenaHighWater)} / ${fmtBytes(s.arenaBytes)}`);
    cards.sys.set(fmtBytes(s.system.liveSpan));
    capNote.textContent = s.live.length < s.liveCount ? `Drawing the ${fmtInt(s.live.length)} largest of ${fmtInt(s.liveCount)} live buffers.` : '';
    const groups = groupColours(s);
    drawLegend(groups);
    // Recorded addresses: sorted, with wide gaps (other heap regions, mmap'd blocks) collapsed.
    const byAddr = [...s.live].sort((a, b) => a.addr - b.addr);
    const y = new Map<number, number>();
    let pos = 0;
    let prevEnd = -1;
    for (const b of byAddr) {
      if (prevEnd >= 0) pos += Math.min(Math.max(0, b.addr - prevEnd), GAP);
      if (prevEnd >= 0 && b.addr < prevEnd) pos -= prevEnd - b.addr; // overlapping records: keep relative placement
      y.set(b.ordinal, pos);
      pos += b.size;
      prevEnd = Math.max(prevEnd, b.addr + b.size);
    }
    // One y scale for both charts, so that their heights compare.
    const yMax = Math.max(s.arenaBytes, pos);
    arena!.setOption(chartOption(s, (b) => b.offset, yMax, false, groups), { replaceMerge: ['series'] });
    sys!.setOption(chartOption(s, (b) => y.get(b.ordinal) ?? 0, yMax, true, groups), { replaceMerge: ['series'] });
    arenaBox.dataset.yMax = sysBox.dataset.yMax = String(yMax);
  }

  async function loadPlans(): Promise<void> {
    pause();
    const id = state.session;
    shownNote.textContent = shownSessionText();
    if (id === null) {
      eventLine.textContent = noSessionText();
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
        live.setPlan(null);
        eventLine.textContent = 'No plan for this session yet: make one in the Plan view.';
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
    pause();
    setNote.textContent = '';
    try {
      const info = await api('replay.info', { plan: id });
      plan = id;
      state.plan = id;
      live.setPlan(id, set);
      events = info.events;
      slider.max = String(Math.max(0, events - 1));
      wanted = null;
      // Open where the most bytes are live: event 0 holds one small buffer and says little.
      go(info.peakEvent);
      capNote.dataset.opened = String(info.peakEvent);
    } catch (err) {
      showError(err);
    }
  }

  return {
    name: 'replay',
    el,
    show: async () => {
      initCharts();
      arena!.resize();
      sys!.resize();
      live.show();
      if (shownSession !== state.session || state.session === null || (state.plan !== null && state.plan !== plan)) await loadPlans();
    },
    hide: pause,
    resize: () => {
      arena?.resize();
      sys?.resize();
      live.resize();
    },
  };
}
