import type { MapReply } from '../api';
import { mapGroups } from '../memory-map';
import { esc, fmtBytes, fmtInt, PALETTE, spanRect } from './common';

/**
 * A plan's memory map: each buffer a rectangle, its lifetime (logical time) by its arena offset,
 * coloured by module group (shared/memory-map.ts mapGroups: one series per group, the largest
 * first). The Plan view's map and the report's. The wheel zooms time, shift+wheel the offsets.
 */
export function memoryMapOption(m: MapReply): Record<string, unknown> {
  const g = mapGroups(m);
  const data: number[][][] = g.names.map(() => []);
  m.rects.forEach((r, i) => data[g.group[i]].push([r.start, r.end, r.offset, r.size, r.module, r.op, r.ordinal]));
  const renderItem = spanRect(0.5);
  return {
    animation: false,
    title: { text: `Plan ${m.plan} (${m.algorithm}): arena ${fmtBytes(m.arenaBytes)}, lower bound ${fmtBytes(m.lowerBoundBytes)}`, left: 8, top: 4, textStyle: { fontSize: 13 } },
    legend: { top: 26, type: 'scroll' },
    tooltip: {
      trigger: 'item',
      confine: true,
      formatter: (p: { value: number[] }) => {
        const v = p.value;
        return (
          `buffer: #${v[6]}<br>module: ${esc(m.modules[v[4]] || '(none)')}<br>op: ${esc(m.ops[v[5]] || '(none)')}<br>` +
          `size: ${fmtBytes(v[3])} (${fmtInt(v[3])} B)<br>offset: ${fmtInt(v[2])}<br>lifetime: ${v[0]} → ${v[1]} (${v[1] - v[0]} events)`
        );
      },
    },
    grid: { left: 90, right: 30, top: 60, bottom: 60 },
    xAxis: { type: 'value', name: 'event (logical time)', nameLocation: 'middle', nameGap: 28, min: 0, max: m.events },
    // The offset axis's name at its middle, clear of the legend above the plot.
    yAxis: { type: 'value', name: 'offset', nameLocation: 'middle', nameGap: 70, min: 0, max: m.arenaBytes, axisLabel: { formatter: (v: number) => fmtBytes(v) } },
    dataZoom: [
      { type: 'inside', xAxisIndex: 0, filterMode: 'weakFilter' },
      { type: 'inside', yAxisIndex: 0, filterMode: 'weakFilter', zoomOnMouseWheel: 'shift', moveOnMouseWheel: false },
      { type: 'slider', xAxisIndex: 0, filterMode: 'weakFilter', height: 18, bottom: 8 },
    ],
    series: g.names.map((name, i) => ({
      name,
      type: 'custom',
      renderItem,
      encode: { x: [0, 1], y: [2, 3] },
      itemStyle: { color: PALETTE[i % PALETTE.length], opacity: 0.85, borderColor: 'rgba(0,0,0,0.25)', borderWidth: 0.3 },
      data: data[i],
    })),
  };
}

/** What the map draws, in words: all buffers, or the largest and how many were left out. */
export function memoryMapNote(m: Pick<MapReply, 'shown' | 'total' | 'shownBytes' | 'totalBytes'>): string {
  return m.shown < m.total
    ? `Showing the ${fmtInt(m.shown)} largest of ${fmtInt(m.total)} buffers (${((100 * m.shownBytes) / Math.max(1, m.totalBytes)).toFixed(1)}% of their bytes); ${fmtInt(m.total - m.shown)} smaller ones are left out. Wheel zooms time, shift+wheel zooms offsets.`
    : `All ${fmtInt(m.total)} buffers. Wheel zooms time, shift+wheel zooms offsets.`;
}
