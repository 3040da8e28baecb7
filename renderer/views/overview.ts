import type { LiveGroupRow, LiveReply, TimelineReply, TopReply } from '../../shared/api';
import { formatDuration, formatSeconds } from '../../shared/format';
import { api } from '../client';
import { ec, type EChart } from '../globals';
import { noSessionText, sessionSelect, shownSessionText, state } from '../state';
import { card, clear, debounce, esc, fmtBytes, fmtInt, h, PALETTE, showError } from '../ui';
import type { View } from './view';

/**
 * Memory: live bytes over time (from the timeline table, grouped in SQL to the visible range
 * whenever the user zooms; zoomed in narrower than its buckets, from the range's events), what
 * is live at a chosen instant (default: the session's peak) as an icicle of Python stacks and
 * tables by module and aten op, and the bytes allocated over the visible range by op and module.
 *
 * It opens on the steady iterations (the import before them visible but not dominant). The strip
 * at the top of the chart holds one band per iteration, labelled as far as the labels fit; a
 * click on a band zooms to that iteration, a click elsewhere on the chart shows what is live at
 * that instant.
 *
 * Hooks for tests and bench/ui.bench.ts: once ECharts has rendered a reply of overview.timeline
 * ('finished' event), #overview-chart carries data-drawn-session (the session drawn),
 * data-drawn-points (points drawn), data-drawn-at (performance.now() of the render, ms since
 * the page's navigation), data-draws (a counter, one per rendered reply) and data-range (the
 * drawn range, "t0,t1" in ns). #live-panel carries data-t, data-at and data-live-bytes of the
 * instant shown; #overview-chart data-labels the iteration labels drawn.
 */

/** The plot area of the timeline chart (bench/ui.bench.ts relies on it). */
const GRID = { left: 80, right: 30, top: 40, bottom: 70 };
const STRIP = 16;
const TABLE_ROWS = 15;

interface FlameNode {
  name: string;
  full: string;
  bytes: number;
  count: number;
  children: Map<string, FlameNode>;
}

export function overviewView(): View {
  const lineBox = h('div', { class: 'chart tall', id: 'overview-chart' });
  const opsBox = h('div', { class: 'chart', id: 'top-ops' });
  const modBox = h('div', { class: 'chart', id: 'top-modules' });
  const flameBox = h('div', { class: 'chart flame', id: 'live-flame' });
  const info = h('p', { class: 'note', id: 'overview-info' });
  const shownNote = h('p', { class: 'note', id: 'overview-shown' });
  const cards = { events: card('events'), allocs: card('allocations'), peak: card('peak live bytes'), iters: card('iterations'), live: card('allocations live at exit') };
  const none = h('p', { class: 'empty', id: 'overview-none' });
  const liveTitle = h('h3', { id: 'live-title', text: 'Live at the peak' });
  const liveNote = h('p', { class: 'note', id: 'live-note' });
  const modTable = h('table', { class: 'live dense', id: 'live-modules' });
  const opTable = h('table', { class: 'live dense', id: 'live-ops' });
  const onlyStacks = h('input', { type: 'checkbox', id: 'live-only-stacks', checked: true });
  const rangeNote = h('p', { class: 'note', id: 'top-range' });
  let line: EChart | null = null;
  let opsChart: EChart | null = null;
  let modChart: EChart | null = null;
  let flame: EChart | null = null;
  let shown: number | null = null;
  let extent: [number, number] = [0, 1];
  let iterations: TimelineReply['iterations'] = [];
  let lastTimeline: TimelineReply | null = null;
  let live: LiveReply | null = null;
  let labelStep = 1;
  let requestSeq = 0;
  let liveSeq = 0;
  let topSeq = 0;
  /** A reply handed to ECharts whose render has not finished yet (the data-drawn-* hook). */
  let drawing: { session: number; points: number; range: string } | null = null;
  let draws = 0;

  const btn = (id: string, text: string, onclick: () => void) => h('button', { class: 'btn', id, text, onclick });
  const steadyBtn = btn('zoom-steady', 'Steady iterations', () => zoomTo(steadyRange()));
  const wholeBtn = btn('zoom-whole', 'Whole session', () => zoomTo(extent));
  const peakBtn = btn('live-peak', 'Session peak', () => void showLive({}));
  const iterPeakBtn = btn('live-iter-peak', "This iteration's peak", () => {
    if (live?.iteration !== null && live?.iteration !== undefined) void showLive({ iteration: live.iteration });
  });
  onlyStacks.addEventListener('change', () => drawFlame());

  const select = sessionSelect(() => void load());
  const livePanel = h(
    'div',
    { id: 'live-panel' },
    h('div', { class: 'live-head' }, liveTitle, peakBtn, iterPeakBtn, h('label', {}, onlyStacks, ' only allocations made under a Python stack')),
    liveNote,
    flameBox,
    h(
      'div',
      { class: 'grid2' },
      h('div', {}, h('h3', { text: 'Live by module' }), h('div', { class: 'scroll' }, modTable)),
      h('div', {}, h('h3', { text: 'Live by aten op' }), h('div', { class: 'scroll' }, opTable)),
    ),
  );
  const el = h(
    'section',
    { class: 'view', id: 'view-overview' },
    h('h2', { text: 'Memory over time' }),
    h('div', { class: 'row' }, h('label', { text: 'Session ' }), select),
    shownNote,
    none,
    h(
      'div',
      { id: 'overview-content' },
      h('div', { class: 'cards' }, ...Object.values(cards).map((c) => c.el)),
      h('div', { class: 'row' }, steadyBtn, wholeBtn, h('span', { class: 'note', text: 'Click an iteration band (the strip at the top) to zoom to it; click the chart to see what is live at that instant.' })),
      lineBox,
      info,
      livePanel,
      h('h3', { text: 'Allocated over the visible range' }),
      rangeNote,
      h('div', { class: 'grid2' }, opsBox, modBox),
    ),
  );
  const content = el.querySelector<HTMLElement>('#overview-content')!;
  /** Shows the charts, or in their place why there is nothing to show. */
  const empty = (why: string | null) => {
    none.textContent = why ?? '';
    none.style.display = why ? '' : 'none';
    const hidden = content.style.display === 'none';
    content.style.display = why ? 'none' : '';
    if (hidden && !why) for (const c of [line, opsChart, modChart, flame]) c?.resize();
  };

  const iterationAt = (t: number) => iterations.find((it) => it.t0 <= t && t <= it.t1) ?? null;
  const visibleSpan = () => (lastTimeline ? lastTimeline.t1 - lastTimeline.t0 : extent[1] - extent[0]);
  /** "3.3107 s · iteration 3, +12.4 ms" */
  const when = (t: number) => {
    const it = iterationAt(t);
    return `${formatSeconds(t, visibleSpan())}${it ? ` · iteration ${it.number}, +${formatDuration(t - it.t0)}` : ''}`;
  };

  function init(): void {
    if (line) return;
    line = ec().init(lineBox);
    line.setOption({
      animation: false,
      title: { text: 'Live bytes', left: 8, top: 4, textStyle: { fontSize: 13 } },
      tooltip: {
        trigger: 'axis',
        formatter: (ps: { value?: number[]; seriesName: string }[]) => {
          const pts = ps.filter((p) => Array.isArray(p.value) && p.seriesName !== 'iterations');
          if (!pts.length) return '';
          const t = Math.round(pts[0].value![0] * 1e9);
          const rows = pts.map((p) => `${esc(p.seriesName)}: ${fmtBytes(p.value![1])}`);
          const idx = pts[0].value![3];
          const point = lastTimeline && idx !== undefined ? lastTimeline.points[idx] : undefined;
          if (point && typeof point.scope === 'number') {
            const sc = lastTimeline!.scopes?.[point.scope];
            if (sc) rows.push(`largest allocation here: module ${esc(sc.module || '(outside any module)')}, op ${esc(sc.op || '(outside any op)')}`);
          } else if (lastTimeline?.source === 'timeline') rows.push('<span style="color:#889">zoom in for the module and op</span>');
          if (point) rows.push(`${fmtInt(point.allocs)} allocations, ${fmtInt(point.frees)} frees`);
          return `<b>${esc(when(t))}</b><br>` + rows.join('<br>');
        },
      },
      legend: { top: 4, data: ['max live in interval', 'live at interval end'] },
      grid: GRID,
      // No label formatter: ECharts picks the precision of the tick interval (1.0125 when zoomed to ms).
      // The extent's own ends (min/max: the session's first and last event) are not round: no label there.
      xAxis: { type: 'value', name: 's', nameLocation: 'end', axisLabel: { showMinLabel: false, showMaxLabel: false } },
      yAxis: [
        { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
        { type: 'value', show: false, min: 0, max: 1 },
      ],
      dataZoom: [
        { type: 'inside', xAxisIndex: 0, filterMode: 'none' },
        { type: 'slider', xAxisIndex: 0, filterMode: 'none', height: 22, bottom: 12 },
      ],
      series: [
        { name: 'max live in interval', type: 'line', step: 'end', showSymbol: false, areaStyle: { opacity: 0.12 }, data: [] },
        { name: 'live at interval end', type: 'line', step: 'end', showSymbol: false, lineStyle: { width: 1 }, data: [] },
        {
          name: 'iterations',
          type: 'custom',
          yAxisIndex: 1,
          encode: { x: [0, 1], y: 3 },
          tooltip: { show: false },
          z: 5,
          renderItem: renderIteration,
          data: [],
        },
      ],
    });
    line.on('datazoom', debounce(() => void zoomed(), 150));
    line.on('click', (p: { seriesName?: string; dataIndex?: number }) => {
      if (p.seriesName !== 'iterations' || p.dataIndex === undefined) return;
      const it = iterations[p.dataIndex];
      if (it) zoomTo([it.t0, it.t1], 0.04);
    });
    line.getZr().on('click', (e) => {
      if (!line || shown === null || e.offsetY < GRID.top + STRIP + 2) return; // the strip: its own click zooms
      if (!line.containPixel({ gridIndex: 0 }, [e.offsetX, e.offsetY])) return;
      const [x] = line.convertFromPixel({ gridIndex: 0 }, [e.offsetX, e.offsetY]);
      // Within the session: its last bucket ends just after its last event.
      void showLive({ t: Math.min(extent[1] - 1, Math.max(extent[0], Math.round(x * 1e9))) });
    });
    line.on('finished', () => {
      if (!drawing) return;
      lineBox.dataset.drawnSession = String(drawing.session);
      lineBox.dataset.drawnPoints = String(drawing.points);
      lineBox.dataset.range = drawing.range;
      lineBox.dataset.drawnAt = performance.now().toFixed(1);
      lineBox.dataset.draws = String(++draws);
      drawing = null;
    });
    const bar = (box: HTMLElement, title: string) => {
      const c = ec().init(box);
      c.setOption({
        animation: false,
        title: { text: title, left: 8, top: 4, textStyle: { fontSize: 13 }, subtextStyle: { fontSize: 11 } },
        tooltip: {
          trigger: 'item',
          formatter: (p: { name: string; value: number; data: { allocs: number } }) =>
            `${esc(p.name)}<br>${fmtBytes(p.value)} allocated in ${fmtInt(p.data.allocs)} allocations over the range (a total, not live bytes)`,
        },
        grid: { left: 220, right: 70, top: 48, bottom: 24 },
        xAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
        yAxis: { type: 'category', inverse: true, axisLabel: { width: 200, overflow: 'truncate' }, data: [] },
        series: [{ type: 'bar', data: [], label: { show: true, position: 'right', fontSize: 10, formatter: (p: { value: number }) => fmtBytes(p.value) } }],
      });
      return c;
    };
    opsChart = bar(opsBox, 'Bytes allocated by aten op (totals over the range, not live bytes)');
    modChart = bar(modBox, 'Bytes allocated by module (totals over the range, not live bytes)');
    flame = ec().init(flameBox);
    flame.on('click', (p: { data?: { full?: string } }) => {
      if (p.data?.full) liveNote.textContent = p.data.full;
    });
  }

  /** One iteration's band in the strip at the top of the plot, labelled when its label fits (else every labelStep-th). */
  function renderIteration(params: { coordSys: { x: number; y: number; width: number }; dataIndex: number }, a: { value(i: number): number; coord(v: number[]): number[] }) {
    const cs = params.coordSys;
    const x0 = Math.max(a.coord([a.value(0), 0])[0], cs.x);
    const x1 = Math.min(a.coord([a.value(1), 0])[0], cs.x + cs.width);
    if (x1 <= x0) return null;
    const w = x1 - x0;
    const n = a.value(2);
    const full = `iter ${n}`;
    const text = w >= full.length * 6 + 6 ? full : n % labelStep === 0 ? String(n) : '';
    const children: object[] = [
      { type: 'rect', z2: 0, shape: { x: x0, y: cs.y, width: Math.max(1, w - 1), height: STRIP }, style: { fill: params.dataIndex % 2 ? '#c3d1f0' : '#dce4f6' } },
    ];
    // z2 above every band: a label may run over the next (narrower) bands.
    if (text) children.push({ type: 'text', silent: true, z2: 10, style: { text, x: x0 + 2, y: cs.y + 3, fill: '#2d3550', font: '10px sans-serif' } });
    return { type: 'group', children };
  }

  /** Labels every k-th iteration so that labels of the visible iterations do not overlap. */
  function updateLabelStep(t0: number, t1: number): void {
    const vis = iterations.filter((it) => it.t1 >= t0 && it.t0 <= t1);
    const px = Math.max(1, (lineBox.clientWidth || 800) - GRID.left - GRID.right);
    const widths = vis.map((it) => ((Math.min(it.t1, t1) - Math.max(it.t0, t0)) / Math.max(1, t1 - t0)) * px).sort((x, y) => x - y);
    const typical = widths.length ? widths[widths.length >> 1] : px;
    const need = String(iterations.length ? iterations[iterations.length - 1].number : 0).length * 6 + 8;
    labelStep = typical >= need ? 1 : Math.ceil(need / Math.max(0.5, typical));
    const labelled = vis.filter((it) => {
      const w = ((Math.min(it.t1, t1) - Math.max(it.t0, t0)) / Math.max(1, t1 - t0)) * px;
      return w >= `iter ${it.number}`.length * 6 + 6 || it.number % labelStep === 0;
    });
    lineBox.dataset.labels = labelled.map((it) => it.number).join(',');
  }

  function drawLine(t: TimelineReply): void {
    const toS = (ns: number) => ns / 1e9;
    lastTimeline = t;
    drawing = { session: t.session, points: t.points.length, range: `${t.t0},${t.t1}` };
    updateLabelStep(t.t0, t.t1);
    line!.setOption({
      series: [
        {
          data: t.points.map((p, i) => [toS(p.t), p.max, p.allocs, i]),
          markArea: {
            silent: true,
            itemStyle: { color: 'rgba(120,140,200,0.07)' },
            data: t.iterations.slice(0, 500).map((it) => [{ xAxis: toS(it.t0) }, { xAxis: toS(it.t1) }]),
          },
        },
        { data: t.points.map((p, i) => [toS(p.t), p.live, p.allocs, i]) },
        { data: t.iterations.map((it) => [toS(it.t0), toS(it.t1), it.number, 0]) },
      ],
    });
    if (!t.points.length) {
      const s = state.sessions.find((x) => x.id === t.session);
      info.textContent = `Session ${t.session} has no allocation events to draw${s ? ` (${s.status}${s.exit_code ? `, exit code ${s.exit_code}` : ''})` : ''}.`;
      return;
    }
    const from = t.source === 'events' ? `${fmtInt(t.events ?? 0)} allocation and free events` : `${fmtInt(t.buckets)} timeline buckets`;
    info.textContent =
      `${fmtInt(t.points.length)} points drawn from ${from} in ${formatSeconds(t.t0, t.t1 - t.t0)} – ${formatSeconds(t.t1, t.t1 - t.t0)}` +
      ` (${formatDuration(t.t1 - t.t0)} shown; grouped in SQL to the visible range; zoom with the wheel or the slider)`;
  }

  function drawTop(c: EChart, t: TopReply): void {
    // The "(outside any …)" row goes in the subtitle: it would set the axis for everything else.
    const outside = t.rows.find((r) => r.name.startsWith('('));
    const rows = t.rows.filter((r) => r !== outside);
    const what = t.by === 'op' ? 'aten-op attribution' : 'nn.Module';
    const sub =
      (!rows.length
        ? t.by === 'op'
          ? 'no aten-op attribution here (recorded with --no-ops, or no torch op ran in this range)'
          : 'no nn.Module ran under the agent in this range'
        : `top ${rows.length}${t.omitted ? `; ${t.omitted} more not shown` : ''}`) +
      (outside ? ` · ${fmtBytes(outside.bytes)} in ${fmtInt(outside.allocs)} allocations outside any ${what === 'nn.Module' ? 'module' : 'op'} (not drawn)` : '');
    c.setOption({
      yAxis: { data: rows.map((r) => r.name) },
      series: [{ data: rows.map((r) => ({ name: r.name, value: r.bytes, allocs: r.allocs })) }],
      title: { subtext: sub },
    });
  }

  /** The live panel: title, icicle of stacks, tables by module and op. */
  function drawLive(): void {
    const r = live;
    if (!r) return;
    const what = r.at === 'peak' ? "the session's peak" : r.at.startsWith('iteration:') ? `iteration ${r.at.slice(10)}'s peak` : 'the instant clicked';
    liveTitle.textContent = `Live at ${when(r.t)} (${what}): ${fmtBytes(r.liveBytes)} in ${fmtInt(r.liveCount)} allocations`;
    livePanel.dataset.t = String(r.t);
    livePanel.dataset.at = r.at;
    livePanel.dataset.liveBytes = String(r.liveBytes);
    iterPeakBtn.disabled = r.iteration === null;
    liveNote.textContent =
      'Each bar is a Python frame (file:line function), outermost at the top, as wide as the bytes live under it; ' +
      'allocations made outside a forward pass (import, weights, the interpreter) have no Python stack. Click a bar for its full path.';
    fillTable(modTable, 'module', r.byModule, r.omitted.module, r.liveBytes);
    fillTable(opTable, 'aten op', r.byOp, r.omitted.op, r.liveBytes);
    drawFlame();
    line?.setOption({
      series: [
        {
          markLine: {
            silent: true,
            symbol: 'none',
            animation: false,
            lineStyle: { color: '#d9534f', type: 'dashed' },
            label: { formatter: r.at === 'peak' ? 'peak' : r.at.startsWith('iteration:') ? 'iteration peak' : 'selected', color: '#d9534f' },
            data: [{ xAxis: r.t / 1e9 }],
          },
        },
      ],
    });
  }

  function fillTable(t: HTMLTableElement, what: string, rows: LiveGroupRow[], omitted: [number, number], total: number): void {
    clear(t);
    t.append(
      h('tr', {}, h('th', { text: what }), h('th', { class: 'num', text: 'live bytes' }), h('th', { class: 'num', text: '% of live' }), h('th', { class: 'num', text: 'allocations' }), h('th', { text: '' })),
    );
    const max = rows.length ? rows[0].bytes : 1;
    const shownRows = rows.slice(0, TABLE_ROWS);
    for (const g of shownRows) {
      const tr = h(
        'tr',
        {},
        h('td', { class: 'key', text: g.key, title: g.key }),
        h('td', { class: 'num', text: fmtBytes(g.bytes), title: `${fmtInt(g.bytes)} B` }),
        h('td', { class: 'num', text: total ? `${((100 * g.bytes) / total).toFixed(1)}%` : '-' }),
        h('td', { class: 'num', text: fmtInt(g.count) }),
        h('td', { class: 'bar' }, h('span', { style: `width:${Math.max(1, Math.round((100 * g.bytes) / Math.max(1, max)))}%` })),
      );
      t.append(tr);
    }
    const restN = rows.length - shownRows.length + omitted[0];
    const restB = rows.slice(TABLE_ROWS).reduce((n, g) => n + g.bytes, 0) + omitted[1];
    if (restN > 0) {
      t.append(h('tr', {}, h('td', { class: 'muted', text: `${fmtInt(restN)} more` }), h('td', { class: 'num muted', text: fmtBytes(restB) }), h('td', {}), h('td', {}), h('td', {})));
    }
  }

  /** The icicle: a node per frame, as wide as the bytes live under it; root at the top. */
  function drawFlame(): void {
    const r = live;
    if (!r || !flame) return;
    const short = (f: string) => f.replace(/^.*\/(?=[^/]*:\d+ )/, '');
    // A session without any stack (recorded before memoplan kept them): draw everything, and say so.
    const anyStack = r.byStack.some((g) => !g.key.startsWith('(no Python stack'));
    const only = onlyStacks.checked && anyStack;
    const rootName = only ? 'live under a Python stack' : 'all live allocations';
    const root: FlameNode = { name: rootName, full: rootName, bytes: 0, count: 0, children: new Map() };
    const groups = only ? r.byStack.filter((g) => !g.key.startsWith('(no Python stack')) : r.byStack;
    for (const g of groups) {
      root.bytes += g.bytes;
      root.count += g.count;
      let n = root;
      for (const f of g.frames) {
        let c = n.children.get(f);
        if (!c) n.children.set(f, (c = { name: short(f), full: f, bytes: 0, count: 0, children: new Map() }));
        c.bytes += g.bytes;
        c.count += g.count;
        n = c;
      }
    }
    if (!only && r.omitted.stack[0] > 0) {
      root.bytes += r.omitted.stack[1];
      root.children.set('(other stacks)', { name: `(${r.omitted.stack[0]} smaller stacks)`, full: 'stacks left out of the reply', bytes: r.omitted.stack[1], count: 0, children: new Map() });
    }
    const nodes: { value: number[]; name: string; full: string; bytes: number; count: number; color: string }[] = [];
    let depthMax = 0;
    const colorOf = (f: string) => {
      if (f.startsWith('(')) return '#c8ccd4';
      const file = f.replace(/:\d+ .*$/, '');
      let hsh = 0;
      for (let i = 0; i < file.length; i++) hsh = (hsh * 31 + file.charCodeAt(i)) >>> 0;
      return PALETTE[hsh % PALETTE.length];
    };
    const walk = (n: FlameNode, x0: number, depth: number) => {
      depthMax = Math.max(depthMax, depth);
      nodes.push({ value: [x0, x0 + n.bytes, depth, depth + 1], name: n.name, full: n.full, bytes: n.bytes, count: n.count, color: depth === 0 ? '#8a93a6' : colorOf(n.full) });
      let x = x0;
      for (const c of [...n.children.values()].sort((a, b) => b.bytes - a.bytes)) {
        walk(c, x, depth + 1);
        x += c.bytes;
      }
    };
    walk(root, 0, 0);
    const total = Math.max(1, root.bytes);
    flame.setOption(
      {
        animation: false,
        title: {
          text: 'Live bytes by Python stack (icicle: outermost frame at the top)',
          subtext: !anyStack
            ? 'No allocation live here was made under a Python stack (the agent records stacks in forward passes; sessions recorded before memoplan kept stacks have none)'
            : only
              ? `${fmtBytes(root.bytes)} of the ${fmtBytes(r.liveBytes)} live were allocated under a Python stack (in a forward pass); ` +
                `the other ${fmtBytes(r.liveBytes - root.bytes)} (import, weights, the interpreter) have none: untick the box to draw them too`
              : '',
          left: 8,
          top: 4,
          textStyle: { fontSize: 13 },
          subtextStyle: { fontSize: 11 },
        },
        tooltip: {
          trigger: 'item',
          formatter: (p: { data: { full: string; bytes: number; count: number } }) =>
            `${esc(p.data.full)}<br>${fmtBytes(p.data.bytes)} live (${((100 * p.data.bytes) / Math.max(1, r.liveBytes)).toFixed(1)}% of all)` +
            (p.data.count ? ` in ${fmtInt(p.data.count)} allocations` : ''),
        },
        grid: { left: 8, right: 8, top: only || !anyStack ? 44 : 30, bottom: 6 },
        xAxis: { type: 'value', min: 0, max: total, show: false },
        yAxis: { type: 'value', min: 0, max: Math.max(depthMax + 1, 12), inverse: true, show: false },
        series: [
          {
            type: 'custom',
            encode: { x: [0, 1], y: [2, 3] },
            renderItem: (params: { dataIndex: number }, a: { value(i: number): number; coord(v: number[]): number[] }) => {
              const n = nodes[params.dataIndex];
              const p0 = a.coord([a.value(0), a.value(2)]);
              const p1 = a.coord([a.value(1), a.value(3)]);
              const w = p1[0] - p0[0];
              const hgt = p1[1] - p0[1];
              if (w < 0.5) return null;
              const children: object[] = [{ type: 'rect', shape: { x: p0[0], y: p0[1], width: Math.max(0.5, w - 1), height: hgt - 1 }, style: { fill: n.color } }];
              if (w > 30) {
                children.push({
                  type: 'text',
                  silent: true,
                  style: { text: `${n.name} · ${fmtBytes(n.bytes)}`, x: p0[0] + 3, y: p0[1] + hgt / 2, verticalAlign: 'middle', width: w - 6, overflow: 'truncate', fill: '#fff', font: '11px sans-serif' },
                });
              }
              return { type: 'group', children };
            },
            data: nodes,
          },
        ],
      },
      true,
    );
  }

  const points = () => Math.max(50, Math.min(2000, Math.round(lineBox.clientWidth || 800)));

  /** The steady iterations: from a little before the first iteration (the import a fifth of the view) to a little after the last. */
  function steadyRange(): [number, number] {
    if (!iterations.length) return extent;
    const first = iterations[0].t0;
    const last = Math.max(...iterations.map((it) => it.t1));
    const span = Math.max(1, last - first);
    return [Math.max(extent[0], first - span / 4), Math.min(extent[1], last + span / 10)];
  }

  /** Zooms the chart to [t0, t1] (ns), with a margin of `pad` of the span on each side. */
  function zoomTo(r: [number, number], pad = 0): void {
    if (!line) return;
    const m = (r[1] - r[0]) * pad;
    line.dispatchAction({ type: 'dataZoom', dataZoomIndex: 0, startValue: Math.max(extent[0], r[0] - m) / 1e9, endValue: Math.min(extent[1], r[1] + m) / 1e9 });
    line.dispatchAction({ type: 'dataZoom', dataZoomIndex: 1, startValue: Math.max(extent[0], r[0] - m) / 1e9, endValue: Math.min(extent[1], r[1] + m) / 1e9 });
  }

  function visibleRange(): [number, number] {
    const dz = (line!.getOption().dataZoom as { start?: number; end?: number; startValue?: number; endValue?: number }[])[0];
    const span = extent[1] - extent[0];
    const t0 = dz.startValue !== undefined ? dz.startValue * 1e9 : extent[0] + ((dz.start ?? 0) / 100) * span;
    const t1 = dz.endValue !== undefined ? dz.endValue * 1e9 : extent[0] + ((dz.end ?? 100) / 100) * span;
    return [Math.floor(t0), Math.ceil(t1)];
  }

  async function zoomed(): Promise<void> {
    if (!line || shown === null) return;
    const [t0, t1] = visibleRange();
    const seq = ++requestSeq;
    try {
      const t = await api('overview.timeline', { session: shown, t0, t1, points: points() });
      if (seq === requestSeq) drawLine(t);
    } catch (err) {
      showError(err);
    }
    loadTopSettled(t0, t1);
  }

  /** The bars sum every allocation of the range (a second on millions of events): asked for once the zoom has settled. */
  const loadTopSettled = debounce((t0: number, t1: number) => void loadTop(t0, t1), 600);

  /** The range the bars should show next, while a request is out (only the latest is asked for). */
  let topWanted: { t0?: number; t1?: number } | null = null;
  let topBusy = false;

  async function loadTop(t0?: number, t1?: number): Promise<void> {
    topWanted = { t0, t1 };
    if (topBusy) return;
    topBusy = true;
    try {
      while (topWanted) {
        const w = topWanted;
        topWanted = null;
        await loadTopNow(w.t0, w.t1);
      }
    } finally {
      topBusy = false;
    }
  }

  async function loadTopNow(t0?: number, t1?: number): Promise<void> {
    if (shown === null) return;
    const seq = ++topSeq;
    const session = shown;
    try {
      const range = t0 !== undefined && t1 !== undefined ? { t0, t1 } : {};
      const [ops, mods] = await Promise.all([
        api('overview.top', { session, by: 'op', limit: 15, ...range }),
        api('overview.top', { session, by: 'module', limit: 15, ...range }),
      ]);
      if (seq !== topSeq) return;
      drawTop(opsChart!, ops);
      drawTop(modChart!, mods);
      const r = ops.range;
      rangeNote.textContent = r
        ? `Bytes allocated between ${formatSeconds(r.t0, r.t1 - r.t0)} and ${formatSeconds(r.t1, r.t1 - r.t0)} (${formatDuration(r.t1 - r.t0)}, the visible range), summed over every allocation made in it: totals, not live bytes.`
        : 'Bytes allocated over the whole session, summed over every allocation: totals, not live bytes (zoom to sum a range).';
      rangeNote.dataset.range = r ? `${r.t0},${r.t1}` : 'session';
    } catch (err) {
      showError(err);
    }
  }

  async function showLive(req: { t?: number; iteration?: number }): Promise<void> {
    if (shown === null) return;
    const seq = ++liveSeq;
    const session = shown;
    try {
      const r = await api('overview.live', { session, limit: 300, ...req });
      if (seq !== liveSeq || shown !== session) return;
      live = r;
      drawLive();
    } catch (err) {
      showError(err);
    }
  }

  async function load(): Promise<void> {
    init();
    const id = state.session;
    shownNote.textContent = shownSessionText();
    if (id === null) {
      empty(noSessionText());
      return;
    }
    empty(null);
    select.value = String(id);
    const s = state.sessions.find((x) => x.id === id);
    if (s) {
      cards.events.set(fmtInt(s.events));
      cards.allocs.set(fmtInt(s.allocations));
      cards.peak.set(fmtBytes(s.peak_live_bytes));
      cards.iters.set(fmtInt(s.iterations));
      cards.live.set(fmtInt(s.live_at_exit));
    }
    const seq = ++requestSeq;
    try {
      const t = await api('overview.timeline', { session: id, points: points() });
      if (seq !== requestSeq) return;
      shown = id;
      live = null;
      extent = [t.tBegin, t.tEnd];
      iterations = t.iterations;
      line!.setOption({
        xAxis: { min: t.tBegin / 1e9, max: t.tEnd / 1e9 },
        dataZoom: [{ start: 0, end: 100 }, { start: 0, end: 100 }],
      });
      drawLine(t);
      void showLive({});
      const steady = steadyRange();
      if (steady[0] > extent[0] || steady[1] < extent[1]) zoomTo(steady);
      else void loadTop();
    } catch (err) {
      showError(err);
    }
  }

  return {
    name: 'overview',
    el,
    show: async () => {
      init();
      for (const c of [line, opsChart, modChart, flame]) c!.resize();
      if (shown !== state.session || state.session === null) await load();
    },
    resize: () => {
      for (const c of [line, opsChart, modChart, flame]) c?.resize();
    },
  };
}
