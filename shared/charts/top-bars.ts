import type { TopReply } from '../api';
import { esc, fmtBytes, fmtInt } from './common';

/**
 * Bytes allocated by aten op or by module (totals, not live bytes) as horizontal bars, largest on
 * top: the Memory view's two charts under the timeline (over the visible range) and the report's
 * (over the session). The "(outside any …)" row goes in the subtitle: it would set the axis for
 * everything else.
 */

export function topBarsOption(title: string): Record<string, unknown> {
  return {
    animation: false,
    title: { text: title, left: 8, top: 4, textStyle: { fontSize: 13 }, subtextStyle: { fontSize: 11 } },
    tooltip: {
      trigger: 'item',
      confine: true,
      formatter: (p: { name: string; value: number; data: { allocs: number } }) =>
        `${esc(p.name)}<br>${fmtBytes(p.value)} allocated in ${fmtInt(p.data.allocs)} allocations${title.includes('range') ? ' over the range' : ''} (a total, not live bytes)`,
    },
    grid: { left: 220, right: 70, top: 48, bottom: 24 },
    xAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
    yAxis: { type: 'category', inverse: true, axisLabel: { width: 200, overflow: 'truncate' }, data: [] },
    series: [{ type: 'bar', data: [], label: { show: true, position: 'right', fontSize: 10, formatter: (p: { value: number }) => fmtBytes(p.value) } }],
  };
}

/** The rows of one reply, merged into topBarsOption. */
export function topBarsData(t: Pick<TopReply, 'by' | 'rows' | 'omitted'>): Record<string, unknown> {
  const outside = t.rows.find((r) => r.name.startsWith('('));
  const rows = t.rows.filter((r) => r !== outside);
  const what = t.by === 'op' ? 'op' : 'module';
  const sub =
    (!rows.length
      ? t.by === 'op'
        ? 'no aten-op attribution here (recorded with --no-ops, or no torch op ran in this range)'
        : 'no nn.Module ran under the agent in this range'
      : `top ${rows.length}${t.omitted ? `; ${t.omitted} more not shown` : ''}`) +
    (outside ? ` · ${fmtBytes(outside.bytes)} in ${fmtInt(outside.allocs)} allocations outside any ${what} (not drawn)` : '');
  return {
    yAxis: { data: rows.map((r) => r.name) },
    series: [{ data: rows.map((r) => ({ name: r.name, value: r.bytes, allocs: r.allocs })) }],
    title: { subtext: sub },
  };
}
