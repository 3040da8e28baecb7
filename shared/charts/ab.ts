import type { AbArmReport, AbDistribution } from '../api';
import { esc, fmtBytes, fmtInt, PALETTE, type RenderApi } from './common';

/**
 * The A/B charts. Latency per arm (box, samples, run medians) and its CDF: the A/B view's and
 * the report's, from main/api/ab-queries.ts abDistribution. The ratios to the baseline with
 * their bootstrap intervals, and peak RSS with page faults: the report's (the view lists them in
 * its tables), from main/ab/analysis.ts's arm reports.
 */

const color = (i: number) => PALETTE[i % PALETTE.length];

/** An arm's name on an axis: the allocator, with its serving threads when the run has several counts. */
export const armLabel = (a: { allocator: string; threads: number }, multiThread: boolean): string => (multiThread ? `${a.allocator} ×${a.threads}` : a.allocator);

/** Box (quartiles, whiskers min–max), the samples (thinned) as dots and each run's median as a diamond, per arm. */
export function abBoxOption(ds: readonly AbDistribution[], labels: readonly string[]): Record<string, unknown> {
  // Deterministic jitter: the dots of an arm spread across its box's width.
  const jitter = (i: number) => (((i * 2654435761) % 1000) / 1000 - 0.5) * 0.5;
  const box = (_p: unknown, api: RenderApi) => {
    const x = api.value(0);
    const [lo, q1, med, q3, hi] = [1, 2, 3, 4, 5].map((i) => api.value(i));
    const w = 0.35;
    const p = (xx: number, yy: number) => api.coord([xx, yy]);
    const [xl] = p(x - w, 0);
    const [xr] = p(x + w, 0);
    const [xc] = p(x, 0);
    const y = (v: number) => p(x, v)[1];
    const c = color(x);
    return {
      type: 'group',
      children: [
        { type: 'line', shape: { x1: xc, y1: y(lo), x2: xc, y2: y(q1) }, style: { stroke: '#555' } },
        { type: 'line', shape: { x1: xc, y1: y(q3), x2: xc, y2: y(hi) }, style: { stroke: '#555' } },
        { type: 'line', shape: { x1: xc - 10, y1: y(lo), x2: xc + 10, y2: y(lo) }, style: { stroke: '#555' } },
        { type: 'line', shape: { x1: xc - 10, y1: y(hi), x2: xc + 10, y2: y(hi) }, style: { stroke: '#555' } },
        { type: 'rect', shape: { x: xl, y: y(q3), width: xr - xl, height: Math.max(1, y(q1) - y(q3)) }, style: { fill: c, opacity: 0.25, stroke: c } },
        { type: 'line', shape: { x1: xl, y1: y(med), x2: xr, y2: y(med) }, style: { stroke: '#222', lineWidth: 2 } },
      ],
    };
  };
  return {
    animation: false,
    title: { text: 'Latency per iteration, by arm', subtext: 'box: quartiles, whiskers min–max; dots: samples (thinned); diamonds: median of each run', left: 8, top: 4, textStyle: { fontSize: 13 } },
    tooltip: { trigger: 'item', confine: true },
    grid: { left: 70, right: 20, top: 64, bottom: 40 },
    xAxis: {
      type: 'value',
      min: -0.5,
      max: Math.max(0.5, ds.length - 0.5),
      axisLabel: { customValues: ds.map((_, i) => i), formatter: (v: number) => labels[Math.round(v)] ?? '' },
      axisTick: { customValues: ds.map((_, i) => i) },
      splitLine: { show: false },
    },
    yAxis: { type: 'value', name: 'ms', scale: true, axisLine: { onZero: false } },
    series: [
      {
        type: 'custom',
        name: 'box',
        renderItem: box,
        data: ds.map((x, i) => (x.box ? [i, ...x.box] : null)).filter((v): v is number[] => v !== null),
        encode: { x: 0, y: [1, 5] },
        tooltip: {
          formatter: (p: { value: number[] }) =>
            `${esc(labels[p.value[0]])}<br>min ${p.value[1].toFixed(2)} ms<br>q1 ${p.value[2].toFixed(2)}<br>median ${p.value[3].toFixed(2)}<br>q3 ${p.value[4].toFixed(2)}<br>max ${p.value[5].toFixed(2)}`,
        },
        z: 2,
      },
      {
        type: 'scatter',
        name: 'samples',
        symbolSize: 3,
        itemStyle: { color: '#666', opacity: 0.35 },
        data: ds.flatMap((x, i) => x.strip.map((v, k) => [i + jitter(k), v])),
        tooltip: { formatter: (p: { value: number[] }) => `${esc(labels[Math.round(p.value[0])])}: ${p.value[1].toFixed(2)} ms` },
        z: 3,
      },
      {
        type: 'scatter',
        name: 'run medians',
        symbol: 'diamond',
        symbolSize: 10,
        itemStyle: { color: '#e8590c', borderColor: '#fff', borderWidth: 1 },
        data: ds.flatMap((x, i) => x.runMedians.map((v) => [i, v])),
        tooltip: { formatter: (p: { value: number[] }) => `${esc(labels[Math.round(p.value[0])])}: run median ${p.value[1].toFixed(2)} ms` },
        z: 4,
      },
    ],
  };
}

/** The CDF of iteration latency, one line per arm. */
export function abCdfOption(ds: readonly AbDistribution[], labels: readonly string[]): Record<string, unknown> {
  return {
    animation: false,
    title: { text: 'CDF of iteration latency', left: 8, top: 4, textStyle: { fontSize: 13 } },
    tooltip: { trigger: 'axis', confine: true, valueFormatter: (v: number) => (typeof v === 'number' ? v.toFixed(3) : String(v)) },
    legend: { top: 28, data: labels },
    grid: { left: 60, right: 24, top: 64, bottom: 40 },
    xAxis: { type: 'value', name: 'ms', scale: true },
    yAxis: { type: 'value', min: 0, max: 1, name: 'fraction ≤ x' },
    series: ds.map((x, i) => ({ type: 'line', name: labels[i], step: 'end', showSymbol: false, data: x.cdf, lineStyle: { color: color(i) }, itemStyle: { color: color(i) } })),
  };
}

/** Vertical interval bars [value(1), value(2)] at x = value(0), as a custom series. */
function errorBars(name: string, c: string, data: (number | null)[][]): Record<string, unknown> {
  return {
    name,
    type: 'custom',
    itemStyle: { color: c },
    renderItem: (_params: unknown, api: RenderApi) => {
      const x = api.value(0);
      const lo = api.coord([x, api.value(1)]);
      const hi = api.coord([x, api.value(2)]);
      const w = 6;
      const style = { stroke: c, lineWidth: 1.5 };
      return {
        type: 'group',
        children: [
          { type: 'line', shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style },
          { type: 'line', shape: { x1: lo[0] - w, y1: lo[1], x2: lo[0] + w, y2: lo[1] }, style },
          { type: 'line', shape: { x1: hi[0] - w, y1: hi[1], x2: hi[0] + w, y2: hi[1] }, style },
        ],
      };
    },
    encode: { x: 0, y: [1, 2] },
    data,
    z: 10,
  };
}

const iv = (v: number | null, lo: number | null, hi: number | null, unit: string) =>
  v === null ? '–' : `${v.toFixed(3)}${unit} [${lo === null ? '–' : lo.toFixed(3)}, ${hi === null ? '–' : hi.toFixed(3)}]`;
const row = (k: string, v: string): string => `${esc(k)}: <b>${esc(v)}</b>`;

/** An arm's latency figures with their intervals, for a tooltip. */
function armTip(a: AbArmReport, label: string, baseline: string): string {
  const lines = [
    row('arm', label),
    row('samples', fmtInt(a.samples)),
    row('median [95% CI]', iv(a.median_ms, a.median_ci_low_ms, a.median_ci_high_ms, ' ms')),
    row('p90 [95% CI]', iv(a.p90_ms, a.p90_ci_low_ms, a.p90_ci_high_ms, ' ms')),
    row('p99 [95% CI]', iv(a.p99_ms, a.p99_ci_low_ms, a.p99_ci_high_ms, ' ms')),
  ];
  if (a.verdict && a.verdict !== 'baseline') {
    lines.push(row(`median ÷ ${baseline}`, iv(a.median_ratio, a.ratio_ci_low, a.ratio_ci_high, '') + ' ' + a.verdict));
    lines.push(row(`p99 ÷ ${baseline}`, iv(a.p99_ratio, a.p99_ratio_ci_low, a.p99_ratio_ci_high, '') + ' ' + a.p99_verdict));
  }
  return lines.join('<br>');
}

/** The arms that have a ratio to the baseline (abRatioOption draws them; empty: no chart). */
export const comparedArms = (arms: readonly AbArmReport[]): AbArmReport[] => arms.filter((a) => a.median_ratio !== null && a.verdict !== 'baseline');

/** Median and p99 latency of each compared arm over the baseline's, with their bootstrap intervals; 1 is marked. */
export function abRatioOption(arms: readonly AbArmReport[], baseline: string, multiThread: boolean): Record<string, unknown> {
  const cmp = comparedArms(arms);
  const cats = cmp.map((a) => armLabel(a, multiThread));
  return {
    animation: false,
    title: { text: `Latency over ${baseline} (95% intervals)`, left: 8, top: 4, textStyle: { fontSize: 13 } },
    legend: { top: 28 },
    grid: { left: 70, right: 20, top: 64, bottom: 60 },
    tooltip: { trigger: 'axis', confine: true, formatter: (ps: { dataIndex: number }[]) => armTip(cmp[ps[0].dataIndex], cats[ps[0].dataIndex], baseline) },
    xAxis: { type: 'category', data: cats, axisLabel: { interval: 0, rotate: cats.length > 6 ? 30 : 0 } },
    yAxis: { type: 'value', name: `ratio to ${baseline}`, scale: true },
    series: [
      {
        name: 'median ratio',
        type: 'scatter',
        symbolSize: 10,
        data: cmp.map((a) => a.median_ratio),
        itemStyle: { color: PALETTE[0] },
        markLine: { silent: true, symbol: 'none', lineStyle: { color: '#333', type: 'dashed' }, data: [{ yAxis: 1 }], label: { formatter: 'no change' } },
      },
      errorBars('median ratio 95% CI', PALETTE[0], cmp.map((a, i) => [i, a.ratio_ci_low, a.ratio_ci_high])),
      { name: 'p99 ratio', type: 'scatter', symbol: 'diamond', symbolSize: 10, data: cmp.map((a) => a.p99_ratio), itemStyle: { color: PALETTE[3] } },
      errorBars('p99 ratio 95% CI', PALETTE[3], cmp.map((a, i) => [i, a.p99_ratio_ci_low, a.p99_ratio_ci_high])),
    ],
  };
}

/** Peak RSS and minor page faults of each arm (medians over its successful runs). */
export function abRssOption(arms: readonly AbArmReport[], multiThread: boolean): Record<string, unknown> {
  const cats = arms.map((a) => armLabel(a, multiThread));
  return {
    animation: false,
    title: { text: 'Peak RSS and page faults (medians of the runs)', left: 8, top: 4, textStyle: { fontSize: 13 } },
    legend: { top: 28 },
    grid: { left: 80, right: 80, top: 64, bottom: 60 },
    tooltip: {
      trigger: 'axis',
      confine: true,
      formatter: (ps: { dataIndex: number }[]) => {
        const a = arms[ps[0].dataIndex];
        return [row('arm', cats[ps[0].dataIndex]), row('peak RSS (median of runs)', fmtBytes(a.peak_rss_bytes)), row('minor faults (median)', fmtInt(a.minor_faults)), row('major faults (median)', fmtInt(a.major_faults))].join('<br>');
      },
    },
    xAxis: { type: 'category', data: cats, axisLabel: { interval: 0, rotate: cats.length > 6 ? 30 : 0 } },
    yAxis: [
      { type: 'value', name: 'peak RSS', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
      { type: 'value', name: 'minor faults', splitLine: { show: false } },
    ],
    series: [
      { name: 'peak RSS', type: 'bar', data: arms.map((a) => a.peak_rss_bytes) },
      { name: 'minor faults', type: 'bar', yAxisIndex: 1, data: arms.map((a) => a.minor_faults) },
    ],
  };
}
