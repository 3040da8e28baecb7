import type { TimelineReply } from '../api';
import { formatDuration, formatSeconds } from '../format';
import { esc, fmtBytes, fmtInt, type RenderApi, type RenderParams } from './common';

/**
 * Live bytes over time (the Memory view's chart and the report's "Memory over time"): the
 * highest live bytes of each point's interval and the live bytes at its end, over a strip with
 * one band per iteration at the top of the plot, labelled as far as the labels fit.
 *
 * The builder holds no state: what the tooltip and the strip need at draw time (the reply drawn,
 * the label step) comes from `ctx`, which the caller keeps current (the view asks main for a new
 * reply at each zoom; the report has one reply for the whole session).
 */

/** The plot area (bench/ui.bench.ts and the view's clicks rely on it). */
export const TIMELINE_GRID = { left: 80, right: 30, top: 40, bottom: 70 };
/** Height of the iteration strip, px. */
export const ITERATION_STRIP = 16;

type Iteration = TimelineReply['iterations'][number];

export interface TimelineContext {
  /** The reply drawn (its points and scopes). */
  reply(): TimelineReply | null;
  /** Every labelStep-th iteration is labelled where a band is too narrow for "iter N". */
  labelStep(): number;
}

export function iterationAt(iterations: readonly Iteration[], t: number): Iteration | null {
  return iterations.find((it) => it.t0 <= t && t <= it.t1) ?? null;
}

/** "3.3107 s · iteration 3, +12.4 ms": an instant, as precise as a thousandth of `span`. */
export function instantText(iterations: readonly Iteration[], t: number, span: number): string {
  const it = iterationAt(iterations, t);
  return `${formatSeconds(t, span)}${it ? ` · iteration ${it.number}, +${formatDuration(t - it.t0)}` : ''}`;
}

/**
 * Which iterations of [t0, t1] get a label on a plot `px` wide: every one whose band fits
 * "iter N", and every step-th where the typical band is too narrow for its number.
 */
export function iterationLabels(iterations: readonly Iteration[], t0: number, t1: number, px: number): { step: number; labelled: number[] } {
  const vis = iterations.filter((it) => it.t1 >= t0 && it.t0 <= t1);
  const width = (it: Iteration) => ((Math.min(it.t1, t1) - Math.max(it.t0, t0)) / Math.max(1, t1 - t0)) * px;
  const widths = vis.map(width).sort((x, y) => x - y);
  const typical = widths.length ? widths[widths.length >> 1] : px;
  const need = String(iterations.length ? iterations[iterations.length - 1].number : 0).length * 6 + 8;
  const step = typical >= need ? 1 : Math.ceil(need / Math.max(0.5, typical));
  const labelled = vis.filter((it) => width(it) >= `iter ${it.number}`.length * 6 + 6 || it.number % step === 0).map((it) => it.number);
  return { step, labelled };
}

/** The plot's width in px for a chart `chartWidth` wide. */
export const plotWidth = (chartWidth: number): number => Math.max(1, (chartWidth || 800) - TIMELINE_GRID.left - TIMELINE_GRID.right);

/** The chart without data: axes, tooltip, zoom, the two lines and the iteration strip. */
export function timelineOption(ctx: TimelineContext): Record<string, unknown> {
  const tooltip = (ps: { value?: number[]; seriesName: string }[]) => {
    const pts = ps.filter((p) => Array.isArray(p.value) && p.seriesName !== 'iterations');
    const r = ctx.reply();
    if (!pts.length || !r) return '';
    const t = Math.round(pts[0].value![0] * 1e9);
    const rows = pts.map((p) => `${esc(p.seriesName)}: ${fmtBytes(p.value![1])}`);
    const idx = pts[0].value![3];
    const point = idx !== undefined ? r.points[idx] : undefined;
    if (point && typeof point.scope === 'number') {
      const sc = r.scopes?.[point.scope];
      if (sc) rows.push(`largest allocation here: module ${esc(sc.module || '(outside any module)')}, op ${esc(sc.op || '(outside any op)')}`);
    } else if (r.source === 'timeline') rows.push('<span style="color:#889">zoom in for the module and op</span>');
    if (point) rows.push(`${fmtInt(point.allocs)} allocations, ${fmtInt(point.frees)} frees`);
    return `<b>${esc(instantText(r.iterations, t, r.t1 - r.t0))}</b><br>` + rows.join('<br>');
  };
  /** One iteration's band in the strip, labelled when its label fits (else every labelStep-th). */
  const band = (params: RenderParams, a: RenderApi) => {
    const cs = params.coordSys;
    const x0 = Math.max(a.coord([a.value(0), 0])[0], cs.x);
    const x1 = Math.min(a.coord([a.value(1), 0])[0], cs.x + cs.width);
    if (x1 <= x0) return null;
    const w = x1 - x0;
    const n = a.value(2);
    const full = `iter ${n}`;
    const text = w >= full.length * 6 + 6 ? full : n % ctx.labelStep() === 0 ? String(n) : '';
    const children: object[] = [
      { type: 'rect', z2: 0, shape: { x: x0, y: cs.y, width: Math.max(1, w - 1), height: ITERATION_STRIP }, style: { fill: params.dataIndex % 2 ? '#c3d1f0' : '#dce4f6' } },
    ];
    // z2 above every band: a label may run over the next (narrower) bands.
    if (text) children.push({ type: 'text', silent: true, z2: 10, style: { text, x: x0 + 2, y: cs.y + 3, fill: '#2d3550', font: '10px sans-serif' } });
    return { type: 'group', children };
  };
  return {
    animation: false,
    title: { text: 'Live bytes', left: 8, top: 4, textStyle: { fontSize: 13 } },
    tooltip: { trigger: 'axis', confine: true, formatter: tooltip },
    legend: { top: 4, data: ['max live in interval', 'live at interval end'] },
    grid: TIMELINE_GRID,
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
      { name: 'iterations', type: 'custom', yAxisIndex: 1, encode: { x: [0, 1], y: 3 }, tooltip: { show: false }, z: 5, renderItem: band, data: [] },
    ],
  };
}

/** The session's extent on the x axis (seconds), zoomed out. */
export function timelineExtent(t: Pick<TimelineReply, 'tBegin' | 'tEnd'>): Record<string, unknown> {
  return { xAxis: { min: t.tBegin / 1e9, max: t.tEnd / 1e9 }, dataZoom: [{ start: 0, end: 100 }, { start: 0, end: 100 }] };
}

/** A reply's points and iterations, merged into timelineOption's series. */
export function timelineData(t: TimelineReply): Record<string, unknown> {
  const toS = (ns: number) => ns / 1e9;
  return {
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
  };
}

/** A dashed marker at instant t (ns): the peak, an iteration's peak, or the instant clicked. */
export function timelineMarker(t: number, label: string): Record<string, unknown> {
  return {
    series: [
      {
        markLine: {
          silent: true,
          symbol: 'none',
          animation: false,
          lineStyle: { color: '#d9534f', type: 'dashed' },
          label: { formatter: label, color: '#d9534f' },
          data: [{ xAxis: t / 1e9 }],
        },
      },
    ],
  };
}
