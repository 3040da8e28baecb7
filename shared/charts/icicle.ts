import type { LiveReply } from '../api';
import { esc, fmtBytes, fmtInt, PALETTE, type RenderApi } from './common';

/**
 * What is live at an instant by Python stack, as an icicle: one bar per frame (file:line
 * function), outermost at the top, as wide as the bytes live under it. The Memory view's live
 * panel and the report's peak section. Each data item carries `full`, the frame's whole text
 * (the view shows it on click).
 */

interface Node {
  name: string;
  full: string;
  bytes: number;
  count: number;
  children: Map<string, Node>;
}

const NO_STACK = '(no Python stack';

/** Whether any allocation live there was made under a Python stack. */
export const anyStack = (r: Pick<LiveReply, 'byStack'>): boolean => r.byStack.some((g) => !g.key.startsWith(NO_STACK));

/**
 * The icicle of `r`: only the allocations made under a Python stack when `onlyStacks` (and the
 * reply has any), else every live allocation (those without a stack under one bar). `toggle`
 * ends the subtitle that says what was left out (how to draw it too).
 */
export function icicleOption(r: Pick<LiveReply, 'byStack' | 'liveBytes' | 'omitted'>, onlyStacks: boolean, toggle = ': untick the box to draw them too'): Record<string, unknown> {
  const short = (f: string) => f.replace(/^.*\/(?=[^/]*:\d+ )/, '');
  // A session without any stack (recorded before memoplan kept them): draw everything, and say so.
  const some = anyStack(r);
  const only = onlyStacks && some;
  const rootName = only ? 'live under a Python stack' : 'all live allocations';
  const root: Node = { name: rootName, full: rootName, bytes: 0, count: 0, children: new Map() };
  for (const g of only ? r.byStack.filter((x) => !x.key.startsWith(NO_STACK)) : r.byStack) {
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
  const walk = (n: Node, x0: number, depth: number) => {
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
  const bar = (params: { dataIndex: number }, a: RenderApi) => {
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
  };
  return {
    animation: false,
    title: {
      text: 'Live bytes by Python stack (icicle: outermost frame at the top)',
      subtext: !some
        ? 'No allocation live here was made under a Python stack (the agent records stacks in forward passes; sessions recorded before memoplan kept stacks have none)'
        : only
          ? `${fmtBytes(root.bytes)} of the ${fmtBytes(r.liveBytes)} live were allocated under a Python stack (in a forward pass); ` +
            `the other ${fmtBytes(r.liveBytes - root.bytes)} (import, weights, the interpreter) have none${toggle}`
          : '',
      left: 8,
      top: 4,
      textStyle: { fontSize: 13 },
      subtextStyle: { fontSize: 11 },
    },
    tooltip: {
      trigger: 'item',
      confine: true,
      formatter: (p: { data: { full: string; bytes: number; count: number } }) =>
        `${esc(p.data.full)}<br>${fmtBytes(p.data.bytes)} live (${((100 * p.data.bytes) / Math.max(1, r.liveBytes)).toFixed(1)}% of all)` +
        (p.data.count ? ` in ${fmtInt(p.data.count)} allocations` : ''),
    },
    grid: { left: 8, right: 8, top: only || !some ? 44 : 30, bottom: 6 },
    xAxis: { type: 'value', min: 0, max: total, show: false },
    yAxis: { type: 'value', min: 0, max: Math.max(depthMax + 1, 12), inverse: true, show: false },
    series: [{ type: 'custom', encode: { x: [0, 1], y: [2, 3] }, renderItem: bar, data: nodes }],
  };
}
