import type { AbSweep } from '../../shared/api';
import { sweepHeatmapOption } from '../../shared/sweep-heatmap';
import { ec, type EChart } from '../globals';
import { clear, h } from '../ui';

/**
 * The A/B view's sweep panel: when the open A/B run is a cell of a `memoplan ab --vary` sweep,
 * its grid as heatmaps (shared/sweep-heatmap.ts; one per facet when more than two settings
 * vary). Clicking a cell opens that cell's A/B run.
 */
export function sweepPanel(onOpen: (abRunId: number) => void): { el: HTMLElement; show(sweep: AbSweep | null, current: number): void; resize(): void } {
  const title = h('h3', { id: 'ab-sweep-title' });
  const note = h('p', { class: 'note', id: 'ab-sweep-note' });
  const charts = h('div', { id: 'ab-sweep-charts' });
  const el = h('div', { id: 'ab-sweep', style: 'display:none' }, title, note, charts);
  let instances: EChart[] = [];

  function show(sweep: AbSweep | null, current: number): void {
    for (const c of instances) c.dispose();
    instances = [];
    clear(charts);
    if (!sweep) {
      el.style.display = 'none';
      return;
    }
    el.style.display = '';
    el.dataset.sweep = sweep.id;
    const dims = sweep.dims.map((d) => `${d.label} (${d.values.join(', ')})`).join(' × ');
    title.textContent = `Sweep of ${sweep.runs.length} A/B run(s): ${dims}`;
    const me = sweep.points.filter((p) => p.abRunId === current);
    note.textContent =
      'Each cell: the fastest plan arm that served its plan against the fastest general-purpose allocator — median latency ratio (green below 1: the plan is faster) and peak RSS ratio. ' +
      'Grey: no verdict (no plan arm served its plan in every run with 99% of allocations, or nothing to compare). Click a cell to open its A/B run' +
      (me.length ? `; this run is ${Object.entries(me[0].cell).map(([k, v]) => `${k}=${v}`).join(' ')}.` : '.') +
      (sweep.note ? ` ${sweep.note}` : '');
    const yDim = sweep.y === null ? null : sweep.dims.find((d) => d.key === sweep.y);
    const rows = yDim ? yDim.values.length : 1;
    sweep.panels.forEach((panel, i) => {
      const box = h('div', {
        class: 'chart',
        id: `ab-sweep-chart-${i}`,
        'data-panel': panel.label,
        'data-cells': String(panel.points.length),
        style: `height:${(panel.label ? 30 : 14) + 86 + Math.max(1, rows) * 56}px; margin-bottom:8px`,
      });
      charts.append(box);
      const chart = ec().init(box);
      chart.setOption(sweepHeatmapOption(sweep, i, current), true);
      chart.on('click', (p: { data?: { run?: number } }) => {
        if (typeof p.data?.run === 'number') onOpen(p.data.run);
      });
      instances.push(chart);
    });
  }

  return { el, show, resize: () => instances.forEach((c) => c.resize()) };
}
