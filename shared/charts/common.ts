import { escapeHtml, formatBytes } from '../format';

/**
 * What the chart builders of shared/charts/ share: the palette, the text helpers of their
 * tooltips and a pure rectangle clip for custom series. The builders are pure ECharts option
 * builders (no DOM, no ECharts instance, no Node): the renderer's views load them at run time
 * (main/api/assets.ts SHARED_RUNTIME) and the offline report bundles them into its one page
 * script (main/report/render.ts), so a chart looks and reads the same in both.
 */

export const PALETTE = ['#5470c6', '#91cc75', '#fac858', '#ee6666', '#73c0de', '#3ba272', '#fc8452', '#9a60b4', '#ea7ccc', '#2f4554', '#61a0a8', '#d48265'];

/** Text for ECharts tooltips (HTML). */
export const esc = escapeHtml;

export const fmtBytes = (n: number | null | undefined): string => formatBytes(n, '-');

export const fmtInt = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US'));

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** `r` clipped to `clip` (echarts.graphic.clipRectByRect without ECharts); undefined when nothing is left. */
export function clipRect(r: Rect, clip: Rect): Rect | undefined {
  const x0 = Math.max(r.x, clip.x);
  const y0 = Math.max(r.y, clip.y);
  const x1 = Math.min(r.x + r.width, clip.x + clip.width);
  const y1 = Math.min(r.y + r.height, clip.y + clip.height);
  if (x1 < x0 || y1 < y0) return undefined;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The `api` argument of a custom series' renderItem, as far as the builders use it. */
export interface RenderApi {
  value(i: number): number;
  coord(p: number[]): number[];
  style(o?: object): object;
}

export interface RenderParams {
  dataIndex: number;
  coordSys: Rect;
}

/** A custom series' renderItem drawing [value(0), value(1)] × [value(2), value(2) + value(3)] as a rectangle clipped to the grid. */
export function spanRect(minWidth: number) {
  return (params: RenderParams, a: RenderApi) => {
    const [x0, y0] = a.coord([a.value(0), a.value(2) + a.value(3)]);
    const [x1, y1] = a.coord([a.value(1), a.value(2)]);
    const shape = clipRect({ x: x0, y: y0, width: Math.max(minWidth, x1 - x0), height: Math.max(0.5, y1 - y0) }, params.coordSys);
    return shape && { type: 'rect', shape, style: a.style() };
  };
}
