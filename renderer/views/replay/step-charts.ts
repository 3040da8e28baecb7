import type { ReplayBuffer, ReplayState } from '../../../shared/api';
import { spanRect } from '../../../shared/charts/common';
import { ec, type EChart } from '../../globals';
import { card, clear, esc, fmtBytes, fmtInt, h, moduleGroup, PALETTE } from '../../ui';

/** Gaps wider than this between live buffers' recorded addresses are drawn this wide. */
const GAP = 1 << 20;

/**
 * The Replay view's picture of event k: counters, the planned arena and the addresses the
 * system allocator gave the same buffers (on one y scale, so that their heights compare), each
 * buffer coloured by its module group, the buffer of event k highlighted. #replay-arena and
 * #replay-system carry data-y-max, the scale drawn.
 */
export interface StepCharts {
  els: HTMLElement[];
  init(): void;
  draw(s: ReplayState): void;
  /** Says (#replay-cap data-opened) at which event a plan was opened. */
  opened(k: number): void;
  resize(): void;
}

export function stepCharts(): StepCharts {
  const cards = { live: card('live buffers', 'replay-live'), bytes: card('live bytes', 'replay-bytes'), high: card('arena high-water'), sys: card('system allocator span') };
  const arenaBox = h('div', { class: 'chart tall', id: 'replay-arena' });
  const sysBox = h('div', { class: 'chart tall', id: 'replay-system' });
  const capNote = h('p', { class: 'note', id: 'replay-cap' });
  const legend = h('div', { class: 'row', id: 'replay-legend' });
  let arena: EChart | null = null;
  let sys: EChart | null = null;

  function init(): void {
    if (arena) return;
    const base = (title: string) => ({
      animation: false,
      title: { text: title, left: 8, top: 4, textStyle: { fontSize: 13 } },
      tooltip: { trigger: 'item' },
      grid: { left: 90, right: 20, top: 40, bottom: 40 },
      xAxis: { type: 'value', name: 'event', nameLocation: 'middle', nameGap: 24 },
      // The axis ends at the arena (or span) size, rarely a round tick: no label there to collide.
      yAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v), showMaxLabel: false } },
      series: [],
    });
    arena = ec().init(arenaBox);
    arena.setOption(base('Planned arena (offset)'));
    sys = ec().init(sysBox);
    sys.setOption(base('System allocator (recorded addresses, gaps > 1 MiB collapsed)'));
  }

  function drawLegend(groups: Map<string, number>): void {
    clear(legend);
    const item = (color: string, text: string) =>
      h('span', { class: 'note', style: 'display:inline-flex;align-items:center;gap:4px' }, h('span', { style: `display:inline-block;width:12px;height:12px;border-radius:2px;background:${color}` }), text);
    legend.append(h('span', { class: 'note', text: 'Colour: the module group that allocated the buffer.' }));
    for (const [g, i] of groups) legend.append(item(PALETTE[i % PALETTE.length], g));
    legend.append(item('#e8590c', 'the buffer of event k'));
  }

  function draw(s: ReplayState): void {
    cards.live.set(fmtInt(s.liveCount));
    cards.bytes.set(fmtBytes(s.liveBytes));
    cards.high.set(`${fmtBytes(s.arenaHighWater)} / ${fmtBytes(s.arenaBytes)}`);
    cards.sys.set(fmtBytes(s.system.liveSpan));
    capNote.textContent = s.live.length < s.liveCount ? `Drawing the ${fmtInt(s.live.length)} largest of ${fmtInt(s.liveCount)} live buffers.` : '';
    const groups = groupColours(s);
    drawLegend(groups);
    const { y, span } = addressLayout(s.live);
    const yMax = Math.max(s.arenaBytes, span);
    arena!.setOption(chartOption(s, (b) => b.offset, yMax, false, groups), { replaceMerge: ['series'] });
    sys!.setOption(chartOption(s, (b) => y.get(b.ordinal) ?? 0, yMax, true, groups), { replaceMerge: ['series'] });
    arenaBox.dataset.yMax = sysBox.dataset.yMax = String(yMax);
  }

  return {
    els: [h('div', { class: 'cards' }, ...Object.values(cards).map((c) => c.el)), capNote, legend, h('div', { class: 'grid2' }, arenaBox, sysBox)],
    init,
    draw,
    opened: (k) => {
      capNote.dataset.opened = String(k);
    },
    resize: () => {
      arena?.resize();
      sys?.resize();
    },
  };
}

/** Colour of each module group, the same in both charts and the legend (largest live bytes first). */
function groupColours(s: ReplayState): Map<string, number> {
  const bytes = new Map<string, number>();
  for (const b of s.live) bytes.set(moduleGroup(b.module), (bytes.get(moduleGroup(b.module)) ?? 0) + b.size);
  return new Map([...bytes.entries()].sort((a, b) => b[1] - a[1]).map(([g], i) => [g, i]));
}

/** Recorded addresses as heights: sorted, with wide gaps (other heap regions, mmap'd blocks) collapsed to GAP. */
function addressLayout(live: ReplayBuffer[]): { y: Map<number, number>; span: number } {
  const byAddr = [...live].sort((a, b) => a.addr - b.addr);
  const y = new Map<number, number>();
  let pos = 0;
  let prevEnd = -1;
  for (const b of byAddr) {
    if (prevEnd >= 0) pos += Math.min(Math.max(0, b.addr - prevEnd), GAP);
    if (prevEnd >= 0 && b.addr < prevEnd) pos -= prevEnd - b.addr; // overlapping records: keep relative placement
    y.set(b.ordinal, pos);
    pos += b.size;
    prevEnd = Math.max(prevEnd, b.addr + b.size);
  }
  return { y, span: pos };
}

const rectItem = spanRect(1);

function chartOption(s: ReplayState, pos: (b: ReplayBuffer) => number, yMax: number, addrs: boolean, groups: Map<string, number>): object {
  const rows = s.live.map((b) => ({ b, g: groups.get(moduleGroup(b.module)) ?? 0 }));
  const tooltip = (b: ReplayBuffer) =>
    `buffer #${b.ordinal}<br>module: ${esc(b.module || '(none)')}<br>op: ${esc(b.op || '(none)')}<br>size: ${fmtBytes(b.size)}<br>` +
    (addrs ? `address: 0x${b.addr.toString(16)}` : `offset: ${fmtInt(b.offset)}`) + `<br>lifetime: ${b.start} → ${b.end}`;
  return {
    xAxis: { min: 0, max: s.events },
    yAxis: { min: 0, max: Math.max(1, yMax) },
    tooltip: { trigger: 'item', formatter: (p: { data: { b: ReplayBuffer } }) => (p.data && p.data.b ? tooltip(p.data.b) : '') },
    series: [
      {
        type: 'custom',
        renderItem: rectItem,
        encode: { x: [0, 1], y: [2, 3] },
        data: rows.map(({ b, g }) => ({
          value: [b.start, b.end, pos(b), b.size],
          b,
          itemStyle: { color: b.ordinal === s.event.ordinal ? '#e8590c' : PALETTE[g % PALETTE.length], opacity: 0.8 },
        })),
        markLine: { silent: true, symbol: 'none', lineStyle: { color: '#333', type: 'dashed' }, label: { formatter: `k=${s.k}` }, data: [{ xAxis: s.k }] },
      },
    ],
  };
}
