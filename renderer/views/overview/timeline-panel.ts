import type { TimelineReply } from '../../../shared/api';
import { formatDuration, formatSeconds } from '../../../shared/format';
import { instantText, ITERATION_STRIP, iterationLabels, plotWidth, TIMELINE_GRID, timelineData, timelineExtent, timelineMarker, timelineOption } from '../../../shared/charts/timeline';
import { api } from '../../client';
import { ec, type EChart } from '../../globals';
import { state } from '../../state';
import { debounce, fmtInt, h, showError } from '../../ui';

/**
 * The Memory view's timeline: live bytes over time (shared/charts/timeline.ts), asked of main
 * again, grouped to the visible range, whenever the user zooms; the zoom buttons (steady
 * iterations, whole session); a click on an iteration band zooms to it, a click elsewhere on the
 * plot asks for what is live at that instant (`onInstant`). Each settled zoom is reported to
 * `onRange` (the bars of what was allocated over it follow).
 *
 * Hooks for tests and bench/ui.bench.ts: once ECharts has rendered a reply ('finished' event),
 * #overview-chart carries data-drawn-session (the session drawn), data-drawn-points (points
 * drawn), data-drawn-at (performance.now() of the render, ms since the page's navigation),
 * data-draws (a counter, one per rendered reply), data-range (the drawn range, "t0,t1" in ns)
 * and data-labels (the iteration labels drawn).
 */
export interface TimelinePanel {
  controls: HTMLElement;
  box: HTMLElement;
  info: HTMLElement;
  init(): void;
  /** Asks for session `id`'s whole timeline and draws it; null when a later request overtook it. */
  load(id: number): Promise<TimelineReply | null>;
  /** Zooms to the steady iterations when they are narrower than the session; false when there is nothing to zoom to. */
  zoomToSteady(): boolean;
  /** Marks instant t (ns) on the chart. */
  mark(t: number, label: string): void;
  /** An instant as text, as precise as the visible range needs, with its iteration. */
  when(t: number): string;
  resize(): void;
}

export function timelinePanel(hooks: { session(): number | null; onRange(t0: number, t1: number): void; onInstant(t: number): void }): TimelinePanel {
  const box = h('div', { class: 'chart tall', id: 'overview-chart' });
  const info = h('p', { class: 'note', id: 'overview-info' });
  let line: EChart | null = null;
  let extent: [number, number] = [0, 1];
  let iterations: TimelineReply['iterations'] = [];
  let lastTimeline: TimelineReply | null = null;
  let labelStep = 1;
  let requestSeq = 0;
  /** A reply handed to ECharts whose render has not finished yet (the data-drawn-* hook). */
  let drawing: { session: number; points: number; range: string } | null = null;
  let draws = 0;

  const btn = (id: string, text: string, onclick: () => void) => h('button', { class: 'btn', id, text, onclick });
  const controls = h(
    'div',
    { class: 'row' },
    btn('zoom-steady', 'Steady iterations', () => zoomTo(steadyRange())),
    btn('zoom-whole', 'Whole session', () => zoomTo(extent)),
    h('span', { class: 'note', text: 'Click an iteration band (the strip at the top) to zoom to it; click the chart to see what is live at that instant.' }),
  );

  const visibleSpan = () => (lastTimeline ? lastTimeline.t1 - lastTimeline.t0 : extent[1] - extent[0]);
  const points = () => Math.max(50, Math.min(2000, Math.round(box.clientWidth || 800)));

  function init(): void {
    if (line) return;
    line = ec().init(box);
    line.setOption(timelineOption({ reply: () => lastTimeline, labelStep: () => labelStep }));
    line.on('datazoom', debounce(() => void zoomed(), 150));
    line.on('click', (p: { seriesName?: string; dataIndex?: number }) => {
      if (p.seriesName !== 'iterations' || p.dataIndex === undefined) return;
      const it = iterations[p.dataIndex];
      if (it) zoomTo([it.t0, it.t1], 0.04);
    });
    line.getZr().on('click', (e) => {
      if (!line || hooks.session() === null || e.offsetY < TIMELINE_GRID.top + ITERATION_STRIP + 2) return; // the strip: its own click zooms
      if (!line.containPixel({ gridIndex: 0 }, [e.offsetX, e.offsetY])) return;
      const [x] = line.convertFromPixel({ gridIndex: 0 }, [e.offsetX, e.offsetY]);
      // Within the session: its last bucket ends just after its last event.
      hooks.onInstant(Math.min(extent[1] - 1, Math.max(extent[0], Math.round(x * 1e9))));
    });
    line.on('finished', () => {
      if (!drawing) return;
      box.dataset.drawnSession = String(drawing.session);
      box.dataset.drawnPoints = String(drawing.points);
      box.dataset.range = drawing.range;
      box.dataset.drawnAt = performance.now().toFixed(1);
      box.dataset.draws = String(++draws);
      drawing = null;
    });
  }

  function draw(t: TimelineReply): void {
    lastTimeline = t;
    drawing = { session: t.session, points: t.points.length, range: `${t.t0},${t.t1}` };
    const labels = iterationLabels(iterations, t.t0, t.t1, plotWidth(box.clientWidth));
    labelStep = labels.step;
    box.dataset.labels = labels.labelled.join(',');
    line!.setOption(timelineData(t));
    if (!t.points.length) {
      const s = state.sessions.find((x) => x.id === t.session);
      info.textContent = `Session ${t.session} has no allocation events to draw${s ? ` (${s.status}${s.exit_code ? `, exit code ${s.exit_code}` : ''})` : ''}.`;
      return;
    }
    const from = t.source === 'events' ? `${fmtInt(t.events ?? 0)} allocation and free events` : `${fmtInt(t.buckets)} timeline buckets`;
    info.textContent =
      `${fmtInt(t.points.length)} points drawn from ${from} in ${formatSeconds(t.t0, t.t1 - t.t0)} – ${formatSeconds(t.t1, t.t1 - t.t0)}` +
      ` (${formatDuration(t.t1 - t.t0)} shown; grouped in SQL to the visible range; zoom with the wheel or the slider)`;
  }

  /** The steady iterations: from a little before the first iteration (the import a fifth of the view) to a little after the last. */
  function steadyRange(): [number, number] {
    if (!iterations.length) return extent;
    const first = iterations[0].t0;
    const last = Math.max(...iterations.map((it) => it.t1));
    const span = Math.max(1, last - first);
    return [Math.max(extent[0], first - span / 4), Math.min(extent[1], last + span / 10)];
  }

  /** Zooms the chart to [t0, t1] (ns), with a margin of `pad` of the span on each side. */
  function zoomTo(r: [number, number], pad = 0): void {
    if (!line) return;
    const m = (r[1] - r[0]) * pad;
    const range = { startValue: Math.max(extent[0], r[0] - m) / 1e9, endValue: Math.min(extent[1], r[1] + m) / 1e9 };
    line.dispatchAction({ type: 'dataZoom', dataZoomIndex: 0, ...range });
    line.dispatchAction({ type: 'dataZoom', dataZoomIndex: 1, ...range });
  }

  function visibleRange(): [number, number] {
    const dz = (line!.getOption().dataZoom as { start?: number; end?: number; startValue?: number; endValue?: number }[])[0];
    const span = extent[1] - extent[0];
    const t0 = dz.startValue !== undefined ? dz.startValue * 1e9 : extent[0] + ((dz.start ?? 0) / 100) * span;
    const t1 = dz.endValue !== undefined ? dz.endValue * 1e9 : extent[0] + ((dz.end ?? 100) / 100) * span;
    return [Math.floor(t0), Math.ceil(t1)];
  }

  async function zoomed(): Promise<void> {
    const session = hooks.session();
    if (!line || session === null) return;
    const [t0, t1] = visibleRange();
    const seq = ++requestSeq;
    try {
      const t = await api('overview.timeline', { session, t0, t1, points: points() });
      if (seq === requestSeq) draw(t);
    } catch (err) {
      showError(err);
    }
    hooks.onRange(t0, t1);
  }

  async function load(id: number): Promise<TimelineReply | null> {
    const seq = ++requestSeq;
    const t = await api('overview.timeline', { session: id, points: points() });
    if (seq !== requestSeq) return null;
    extent = [t.tBegin, t.tEnd];
    iterations = t.iterations;
    line!.setOption(timelineExtent(t));
    draw(t);
    return t;
  }

  function zoomToSteady(): boolean {
    const steady = steadyRange();
    if (steady[0] <= extent[0] && steady[1] >= extent[1]) return false;
    zoomTo(steady);
    return true;
  }

  return {
    controls,
    box,
    info,
    init,
    load,
    zoomToSteady,
    mark: (t, label) => line?.setOption(timelineMarker(t, label)),
    when: (t) => instantText(iterations, t, visibleSpan()),
    resize: () => line?.resize(),
  };
}
