import type { AbSweep } from './api';

/**
 * The ECharts option of one heatmap of a sweep (one panel of AbSweep), for the A/B view and the
 * offline report alike: the UI loads it as a shared module (main/api/assets.ts SHARED_RUNTIME),
 * the report bundles it into its page script with the builders of shared/charts/
 * (main/report/render.ts, main/report/page.ts).
 *
 * Cell colour: the plan's median latency over the best general-purpose allocator's, on a
 * diverging scale centred at 1 (green below: the plan is faster; red above), in log2 so that
 * 0.5 and 2 are as far from 1. Label: that ratio and the peak-RSS ratio. A cell without a ratio
 * (no plan arm served its plan, or no arm to compare) is grey and says why in its tooltip.
 * Each data item carries `run`, the cell's A/B run id (the view opens it on click); the cells of
 * A/B run `current` get a dark border.
 */
export function sweepHeatmapOption(sweep: AbSweep, panelIndex: number, current: number | null = null): Record<string, unknown> {
  const esc = (v: unknown): string =>
    String(v ?? '').replace(/[&<>"'`]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' })[c] as string);
  const fix = (v: number | null, d: number): string => (v === null || !Number.isFinite(v) ? '–' : v.toFixed(d));
  const mib = (b: number | null): string => (b === null ? '–' : `${(b / 1048576).toFixed(1)} MiB`);
  const panel = sweep.panels[panelIndex];
  const xDim = sweep.dims.find((d) => d.key === sweep.x)!;
  const yDim = sweep.y === null ? null : sweep.dims.find((d) => d.key === sweep.y) ?? null;
  const yValues = yDim ? yDim.values : [''];
  const points = panel.points.map((i) => sweep.points[i]);
  const log2 = (r: number) => Math.log(r) / Math.LN2;
  const judged = points.filter((p) => p.latencyRatio !== null && p.latencyRatio > 0);
  // Symmetric around 0 (a ratio of 1), at least ±log2(1.2) so that a few percent stay pale.
  const span = Math.max(Math.log(1.2) / Math.LN2, ...judged.map((p) => Math.abs(log2(p.latencyRatio!))));
  const item = (p: (typeof points)[number], value: number) => ({
    value: [xDim.values.indexOf(p.coords[xDim.key]), yDim ? yDim.values.indexOf(p.coords[yDim.key]) : 0, value],
    run: p.abRunId,
    k: points.indexOf(p),
    ...(p.abRunId === current ? { itemStyle: { borderColor: '#1d2330', borderWidth: 3 } } : {}),
  });
  const ok = judged.map((p) => item(p, log2(p.latencyRatio!)));
  const grey = points.filter((p) => !judged.includes(p)).map((p) => item(p, 0));
  const at = (d: { k?: number } | undefined) => (d && typeof d.k === 'number' ? points[d.k] ?? null : null);
  const label = (params: { data: { k?: number } }): string => {
    const p = at(params.data);
    if (!p) return '';
    if (p.latencyRatio === null) return 'no verdict';
    return `${p.latencyRatio.toFixed(3)}×\nRSS ${fix(p.rssRatio, 3)}×`;
  };
  const tooltip = (params: { data: { k?: number } }): string => {
    const p = at(params.data);
    if (!p) return '';
    const where = sweep.dims.map((d) => `${esc(d.label)}=${esc(p.coords[d.key])}`).join(' ');
    const lines = [
      `<b>${where}</b> (A/B run ${esc(p.abRunId)}, ${esc(p.status)})`,
      p.latencyRatio === null
        ? `no verdict: ${esc(p.note ?? 'no comparison')}`
        : `median latency ${esc(p.bestPlan)} / ${esc(p.bestAllocator)}: <b>${fix(p.latencyRatio, 3)}×</b> (${fix(p.planMedianMs, 2)} / ${fix(p.allocatorMedianMs, 2)} ms)`,
      ...(p.latencyRatio === null ? [] : [`p99 ratio ${fix(p.p99Ratio, 3)}×`, `peak RSS ratio ${fix(p.rssRatio, 3)}× (${mib(p.planRssBytes)} / ${mib(p.allocatorRssBytes)})`]),
      ...(p.latencyRatio !== null && p.unplanned.length ? [`not planned: ${esc(p.unplanned.join('; '))}`] : []),
    ];
    return lines.join('<br>');
  };
  const cellLabel = { show: true, formatter: label, fontSize: 12, color: '#1d2330', lineHeight: 15 };
  return {
    animation: false,
    title: panel.label ? { text: panel.label, left: 8, top: 2, textStyle: { fontSize: 13 } } : undefined,
    tooltip: { trigger: 'item', confine: true, formatter: tooltip },
    grid: { left: yDim ? 110 : 40, right: 24, top: panel.label ? 30 : 14, bottom: 86, containLabel: false },
    xAxis: { type: 'category', name: xDim.label, nameLocation: 'middle', nameGap: 26, data: xDim.values, splitArea: { show: true } },
    yAxis: { type: 'category', name: yDim?.label ?? '', nameLocation: 'middle', nameGap: 70, data: yValues, splitArea: { show: true }, axisLabel: { show: yDim !== null } },
    visualMap: [
      {
        type: 'continuous',
        seriesIndex: 0,
        dimension: 2,
        min: -span,
        max: span,
        calculable: false,
        orient: 'horizontal',
        left: 'center',
        bottom: 4,
        itemHeight: 160,
        text: ['plan slower', 'plan faster'],
        inRange: { color: ['#1a9850', '#a6d96a', '#f7f7f7', '#fdae61', '#d73027'] },
        formatter: (v: number) => `${Math.pow(2, v).toFixed(2)}×`,
      },
      { type: 'continuous', show: false, seriesIndex: 1, dimension: 2, min: -1, max: 1, inRange: { color: ['#c8c8c8', '#c8c8c8'] } },
    ],
    series: [
      { type: 'heatmap', name: 'plan / best allocator', data: ok, label: cellLabel, itemStyle: { borderColor: '#fff', borderWidth: 2 }, emphasis: { itemStyle: { borderColor: '#333', borderWidth: 2 } } },
      { type: 'heatmap', name: 'no verdict', data: grey, label: { ...cellLabel, color: '#444' }, itemStyle: { borderColor: '#fff', borderWidth: 2 }, emphasis: { itemStyle: { borderColor: '#333', borderWidth: 2 } } },
    ],
  };
}
