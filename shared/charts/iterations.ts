import { esc, fmtBytes, fmtInt, PALETTE } from './common';

/**
 * The report's iteration charts: each iteration's latency coloured by its signature, with its
 * allocations; and the per-iteration latency of a session beside its replay sessions'.
 */

/** The iterations in order (columns; main/report/data.ts IterationsData). */
export interface IterationColumns {
  number: number[];
  thread: number[];
  latencyNs: (number | null)[];
  allocs: number[];
  bytes: number[];
  /** Index into the signatures, most frequent first (0: the steady one); -1 for an iteration that did not end. */
  sig: number[];
  threads: number;
}

const ms = (ns: number | null | undefined): number | null => (ns === null || ns === undefined ? null : ns / 1e6);
const fmtMs = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3) + ' ms');
const row = (k: string, v: string): string => `${esc(k)}: <b>${esc(v)}</b>`;
const zoom = [
  { type: 'inside', xAxisIndex: [0], filterMode: 'none' },
  { type: 'slider', xAxisIndex: [0], filterMode: 'none', height: 18, bottom: 4 },
];

export function iterationsOption(it: IterationColumns): Record<string, unknown> {
  const labels = it.number.map((n, i) => (it.threads > 1 ? `#${n} t${it.thread[i]}` : `#${n}`));
  const colorOf = (s: number) => (s < 0 ? '#bbbbbb' : s === 0 ? PALETTE[1] : PALETTE[2 + ((s - 1) % 9)]);
  return {
    animation: false,
    legend: { top: 0, data: ['latency', 'allocations'] },
    grid: { left: 70, right: 70, top: 30, bottom: 60 },
    tooltip: {
      confine: true,
      trigger: 'axis',
      formatter: (ps: { dataIndex: number }[]) => {
        const i = ps[0].dataIndex;
        const s = it.sig[i];
        return [
          row('iteration', labels[i]),
          row('latency', fmtMs(ms(it.latencyNs[i]))),
          row('allocations', fmtInt(it.allocs[i])),
          row('bytes allocated', fmtBytes(it.bytes[i])),
          row('signature', s < 0 ? 'incomplete' : s === 0 ? 'steady (most frequent)' : `variant ${s}`),
        ].join('<br>');
      },
    },
    xAxis: { type: 'category', data: labels },
    yAxis: [
      { type: 'value', name: 'latency (ms)' },
      { type: 'value', name: 'allocations', splitLine: { show: false } },
    ],
    dataZoom: zoom,
    series: [
      { name: 'latency', type: 'bar', data: it.latencyNs.map((v, i) => ({ value: ms(v), itemStyle: { color: colorOf(it.sig[i]) } })) },
      { name: 'allocations', type: 'line', yAxisIndex: 1, symbolSize: 4, data: it.allocs, itemStyle: { color: PALETTE[0] } },
    ],
  };
}

/** Per-iteration latency (ns, in order) of several sessions as lines, iteration k of each at x = k. */
export function latencyLinesOption(lines: readonly { name: string; latenciesNs: readonly number[] }[]): Record<string, unknown> {
  return {
    animation: false,
    legend: { top: 0, type: 'scroll' },
    grid: { left: 70, right: 20, top: 40, bottom: 40 },
    tooltip: {
      confine: true,
      trigger: 'axis',
      formatter: (ps: { value: number[]; seriesName: string }[]) =>
        [row('iteration (in order)', String(ps[0].value[0]))].concat(ps.map((p) => row(p.seriesName, fmtMs(p.value[1])))).join('<br>'),
    },
    xAxis: { type: 'value', name: 'iteration', minInterval: 1 },
    yAxis: { type: 'value', name: 'latency (ms)', scale: true },
    series: lines.map((l, i) => ({
      name: l.name,
      type: 'line',
      symbolSize: 5,
      itemStyle: { color: PALETTE[i % PALETTE.length] },
      data: l.latenciesNs.map((v, k) => [k, v / 1e6]),
    })),
  };
}
