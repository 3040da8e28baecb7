import type { TimelineReply, TopReply } from '../../shared/api';
import { api } from '../client';
import { ec, type EChart } from '../globals';
import { noSessionText, sessionSelect, state } from '../state';
import { card, debounce, esc, fmtBytes, fmtInt, h, showError } from '../ui';
import type { View } from './view';

/**
 * Memory: live bytes over time (from the timeline table, grouped in SQL to the visible range
 * whenever the user zooms; zoomed in narrower than its buckets, from the range's events) and the
 * ops and modules that allocated the most bytes.
 *
 * Hook for tests and bench/ui.bench.ts: once ECharts has rendered a reply of overview.timeline
 * ('finished' event), #overview-chart carries data-drawn-session (the session drawn),
 * data-drawn-points (points drawn), data-drawn-at (performance.now() of the render, ms since
 * the page's navigation) and data-draws (a counter, one per rendered reply).
 */
export function overviewView(): View {
  const lineBox = h('div', { class: 'chart tall', id: 'overview-chart' });
  const opsBox = h('div', { class: 'chart', id: 'top-ops' });
  const modBox = h('div', { class: 'chart', id: 'top-modules' });
  const info = h('p', { class: 'note', id: 'overview-info' });
  const cards = { events: card('events'), allocs: card('allocations'), peak: card('peak live bytes'), iters: card('iterations'), live: card('allocations live at exit') };
  const none = h('p', { class: 'empty', id: 'overview-none' });
  let line: EChart | null = null;
  let opsChart: EChart | null = null;
  let modChart: EChart | null = null;
  let shown: number | null = null;
  let extent: [number, number] = [0, 1];
  let requestSeq = 0;
  /** A reply handed to ECharts whose render has not finished yet (the data-drawn-* hook). */
  let drawing: { session: number; points: number } | null = null;
  let draws = 0;

  const select = sessionSelect(() => void load());
  const el = h(
    'section',
    { class: 'view', id: 'view-overview' },
    h('h2', { text: 'Memory over time' }),
    h('div', { class: 'row' }, h('label', { text: 'Session ' }), select),
    none,
    h(
      'div',
      { id: 'overview-content' },
      h('div', { class: 'cards' }, ...Object.values(cards).map((c) => c.el)),
      lineBox,
      info,
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
    if (hidden && !why) for (const c of [line, opsChart, modChart]) c?.resize();
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
          const pts = ps.filter((p) => Array.isArray(p.value)); // markArea entries carry no value
          return pts.length ? `${pts[0].value![0].toFixed(6)} s<br>` + pts.map((p) => `${esc(p.seriesName)}: ${fmtBytes(p.value![1])}`).join('<br>') : '';
        },
      },
      legend: { top: 4 },
      grid: { left: 80, right: 30, top: 40, bottom: 70 },
      // No label formatter: ECharts picks the precision of the tick interval (1.0125 when zoomed to ms).
      // The extent's own ends (min/max: the session's first and last event) are not round: no label there.
      xAxis: { type: 'value', name: 's', nameLocation: 'end', axisLabel: { showMinLabel: false, showMaxLabel: false } },
      yAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
      dataZoom: [
        { type: 'inside', xAxisIndex: 0, filterMode: 'none' },
        { type: 'slider', xAxisIndex: 0, filterMode: 'none', height: 22, bottom: 12 },
      ],
      series: [
        { name: 'max live in interval', type: 'line', step: 'end', showSymbol: false, areaStyle: { opacity: 0.12 }, data: [] },
        { name: 'live at interval end', type: 'line', step: 'end', showSymbol: false, lineStyle: { width: 1 }, data: [] },
      ],
    });
    line.on('datazoom', debounce(() => void zoomed(), 150));
    line.on('finished', () => {
      if (!drawing) return;
      lineBox.dataset.drawnSession = String(drawing.session);
      lineBox.dataset.drawnPoints = String(drawing.points);
      lineBox.dataset.drawnAt = performance.now().toFixed(1);
      lineBox.dataset.draws = String(++draws);
      drawing = null;
    });
    const bar = (box: HTMLElement, title: string) => {
      const c = ec().init(box);
      c.setOption({
        animation: false,
        title: { text: title, left: 8, top: 4, textStyle: { fontSize: 13 } },
        tooltip: {
          trigger: 'item',
          formatter: (p: { name: string; value: number; data: { allocs: number } }) => `${esc(p.name)}<br>${fmtBytes(p.value)} in ${fmtInt(p.data.allocs)} allocations`,
        },
        grid: { left: 220, right: 40, top: 36, bottom: 24 },
        xAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
        yAxis: { type: 'category', inverse: true, axisLabel: { width: 200, overflow: 'truncate' }, data: [] },
        series: [{ type: 'bar', data: [] }],
      });
      return c;
    };
    opsChart = bar(opsBox, 'Bytes allocated by aten op');
    modChart = bar(modBox, 'Bytes allocated by module');
  }

  function drawLine(t: TimelineReply): void {
    const toS = (ns: number) => ns / 1e9;
    drawing = { session: t.session, points: t.points.length };
    line!.setOption({
      series: [
        {
          data: t.points.map((p) => [toS(p.t), p.max, p.allocs]),
          markArea: {
            silent: true,
            itemStyle: { color: 'rgba(120,140,200,0.08)' },
            data: t.iterations.slice(0, 200).map((it) => [{ xAxis: toS(it.t0), name: `iter ${it.number}` }, { xAxis: toS(it.t1) }]),
            label: { show: t.iterations.length <= 30, position: 'insideTop', fontSize: 10, color: '#889' },
          },
        },
        { data: t.points.map((p) => [toS(p.t), p.live]) },
      ],
    });
    if (!t.points.length) {
      const s = state.sessions.find((x) => x.id === t.session);
      info.textContent = `Session ${t.session} has no allocation events to draw${s ? ` (${s.status}${s.exit_code ? `, exit code ${s.exit_code}` : ''})` : ''}.`;
      return;
    }
    const from = t.source === 'events' ? `${fmtInt(t.events ?? 0)} allocation and free events` : `${fmtInt(t.buckets)} timeline buckets`;
    info.textContent =
      `${fmtInt(t.points.length)} points drawn from ${from} in ${seconds(t.t0, t.t1 - t.t0)}–${seconds(t.t1, t.t1 - t.t0)} s` +
      ` (grouped in SQL to the visible range; zoom with the wheel or the slider)`;
  }

  function drawTop(c: EChart, t: TopReply): void {
    // Every allocation in the one "(no aten op)" / "(outside any module)" row: say why.
    const unattributed = t.rows.length === 1 && t.rows[0].name.startsWith('(');
    const why =
      t.by === 'op'
        ? 'no aten-op attribution in this session (recorded with --no-ops, or no torch op ran)'
        : 'no nn.Module ran under the agent in this session';
    c.setOption({
      yAxis: { data: t.rows.map((r) => r.name) },
      series: [{ data: t.rows.map((r) => ({ name: r.name, value: r.bytes, allocs: r.allocs })) }],
      title: { subtext: unattributed ? why : t.omitted ? `top ${t.rows.length}; ${t.omitted} more not shown` : '' },
    });
  }

  /** ns as seconds, with enough decimals to tell apart a tenth of `spanNs`. */
  const seconds = (ns: number, spanNs: number) => (ns / 1e9).toFixed(Math.min(9, Math.max(3, Math.ceil(-Math.log10(Math.max(spanNs, 1) / 1e10)))));

  const points = () => Math.max(50, Math.min(2000, Math.round(lineBox.clientWidth || 800)));

  async function zoomed(): Promise<void> {
    if (!line || shown === null) return;
    const dz = (line.getOption().dataZoom as { start?: number; end?: number; startValue?: number; endValue?: number }[])[0];
    const span = extent[1] - extent[0];
    const t0 = dz.startValue !== undefined ? dz.startValue * 1e9 : extent[0] + ((dz.start ?? 0) / 100) * span;
    const t1 = dz.endValue !== undefined ? dz.endValue * 1e9 : extent[0] + ((dz.end ?? 100) / 100) * span;
    const seq = ++requestSeq;
    try {
      const t = await api('overview.timeline', { session: shown, t0: Math.floor(t0), t1: Math.ceil(t1), points: points() });
      if (seq === requestSeq) drawLine(t);
    } catch (err) {
      showError(err);
    }
  }

  async function load(): Promise<void> {
    init();
    const id = state.session;
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
      const [t, ops, mods] = await Promise.all([
        api('overview.timeline', { session: id, points: points() }),
        api('overview.top', { session: id, by: 'op', limit: 15 }),
        api('overview.top', { session: id, by: 'module', limit: 15 }),
      ]);
      if (seq !== requestSeq) return;
      shown = id;
      extent = [t.tBegin, t.tEnd];
      line!.setOption({
        xAxis: { min: t.tBegin / 1e9, max: t.tEnd / 1e9 },
        dataZoom: [{ start: 0, end: 100 }, { start: 0, end: 100 }],
      });
      drawLine(t);
      drawTop(opsChart!, ops);
      drawTop(modChart!, mods);
    } catch (err) {
      showError(err);
    }
  }

  return {
    name: 'overview',
    el,
    show: async () => {
      init();
      line!.resize();
      opsChart!.resize();
      modChart!.resize();
      if (shown !== state.session || state.session === null) await load();
    },
    resize: () => {
      line?.resize();
      opsChart?.resize();
      modChart?.resize();
    },
  };
}
