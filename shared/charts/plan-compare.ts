import type { StoredPlanInfo } from '../api';
import { fmtBytes, fmtInt } from './common';

/**
 * Each plan's arena beside the lower bound (peak live bytes of the iteration) and the span the
 * system allocator used for the same buffers: the Plan view's chart and the report's. The bar of
 * plan `selected` (the one whose memory map is drawn) has a dark border.
 */
export function planCompareOption(plans: readonly StoredPlanInfo[], selected: number | null = null): Record<string, unknown> {
  const sys = plans.find((p) => p.baselineSpanBytes !== null)?.baselineSpanBytes ?? null;
  return {
    animation: false,
    title: { text: 'Arena of each plan, against the lower bound and the system allocator', left: 8, top: 4, textStyle: { fontSize: 13 } },
    tooltip: { trigger: 'axis', confine: true, valueFormatter: (v: number) => `${fmtBytes(v)} (${fmtInt(v)} B)` },
    legend: { top: 26 },
    grid: { left: 90, right: 30, top: 60, bottom: 40 },
    xAxis: { type: 'category', data: plans.map((p) => `#${p.planId} ${p.algorithm}`), axisLabel: { interval: 0, fontSize: 11, rotate: plans.length > 8 ? 30 : 0 } },
    yAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
    series: [
      {
        name: 'plan arena',
        type: 'bar',
        data: plans.map((p) => (p.planId === selected ? { value: p.arenaBytes, itemStyle: { borderColor: '#1d2330', borderWidth: 2 } } : p.arenaBytes)),
        label: { show: true, position: 'top', fontSize: 10, formatter: (q: { value: number; dataIndex: number }) => `${fmtBytes(q.value)} (+${fmtBytes(q.value - plans[q.dataIndex].lowerBoundBytes)})` },
      },
      { name: 'lower bound (peak live bytes)', type: 'line', symbol: 'none', lineStyle: { type: 'dashed' }, data: plans.map((p) => p.lowerBoundBytes) },
      ...(sys === null ? [] : [{ name: 'system allocator (glibc) span', type: 'line', symbol: 'none', data: plans.map((p) => p.baselineSpanBytes) }]),
    ],
  };
}
