import type { AbSweep } from '../../shared/api';
import { abBoxOption, abCdfOption, abRatioOption, abRssOption, armLabel, comparedArms } from '../../shared/charts/ab';
import { icicleOption } from '../../shared/charts/icicle';
import { iterationsOption, latencyLinesOption } from '../../shared/charts/iterations';
import { memoryMapOption } from '../../shared/charts/memory-map';
import { planCompareOption } from '../../shared/charts/plan-compare';
import { iterationLabels, plotWidth, timelineData, timelineExtent, timelineMarker, timelineOption } from '../../shared/charts/timeline';
import { topBarsData, topBarsOption } from '../../shared/charts/top-bars';
import { sweepHeatmapOption } from '../../shared/sweep-heatmap';
import type { ReportData } from './data';

/**
 * The report's browser code: reads the JSON block #report-data and hands each part of it to
 * the chart builder that draws it in the app too (shared/charts/, shared/sweep-heatmap.ts).
 * main/report/render.ts joins this module and what it requires into the page's one script,
 * after ECharts. Untrusted strings (op names, module paths) reach the page only as ECharts
 * option values, which the canvas renderer draws as text, and through the builders' tooltip
 * formatters, which escape them (ECharts tooltips are HTML). Nothing is written with innerHTML.
 *
 * Hooks for tests: body[data-charts] is 'ready' once every chart is drawn ('failed' when one
 * threw, its box then saying why), body[data-chart-count] the number drawn.
 */

interface Chart {
  setOption(option: object, notMerge?: boolean): void;
  getOption(): { dataZoom?: { startValue?: number; endValue?: number }[] };
  on(event: string, handler: (params: { data?: { run?: number } }) => void): void;
  getWidth(): number;
  resize(): void;
}
declare const echarts: { init(el: HTMLElement, theme: null, opts: { renderer: 'canvas' }): Chart };

function startReport(): void {
  const dataEl = document.getElementById('report-data');
  if (!dataEl) return;
  const D = JSON.parse(dataEl.textContent || '{}') as ReportData;
  const charts: Chart[] = [];
  let failed = 0;

  /** One chart in box #id: its options in order (later ones merged into the first). */
  function draw(id: string, build: (chart: Chart) => object[]): Chart | null {
    const el = document.getElementById(id);
    if (!el) return null;
    try {
      const chart = echarts.init(el, null, { renderer: 'canvas' });
      for (const o of build(chart)) chart.setOption(o);
      charts.push(chart);
      return chart;
    } catch (err) {
      failed++;
      el.textContent = 'This chart could not be drawn: ' + String((err as Error)?.message ?? err);
      console.error('memoplan report: chart ' + id + ' failed', err);
      return null;
    }
  }

  drawMemory(D, draw);
  drawPlans(D, draw);
  drawIterations(D, draw);
  drawAb(D, draw);
  drawSweeps(D.sweeps ?? [], D.ab ? D.ab.report.ab_run_id : null, draw);

  window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
  document.body.setAttribute('data-charts', failed ? 'failed' : 'ready');
  document.body.setAttribute('data-chart-count', String(charts.length));
}

type Draw = (id: string, build: (chart: Chart) => object[]) => Chart | null;

/** Memory over time (with the peak marked), bytes allocated by op and module, what is live at the peak. */
function drawMemory(D: ReportData, draw: Draw): void {
  const tl = D.timeline;
  if (tl && tl.points.length) {
    let step = 1;
    const chart = draw('chart-timeline', (c) => {
      step = iterationLabels(tl.iterations, tl.t0, tl.t1, plotWidth(c.getWidth())).step;
      return [timelineOption({ reply: () => tl, labelStep: () => step }), timelineExtent(tl), timelineData(tl), ...(D.peak ? [timelineMarker(D.peak.t, 'peak')] : [])];
    });
    // The iteration labels follow the zoom, as in the app.
    chart?.on('datazoom', () => {
      const dz = chart.getOption().dataZoom?.[0];
      const t0 = dz?.startValue !== undefined ? dz.startValue * 1e9 : tl.t0;
      const t1 = dz?.endValue !== undefined ? dz.endValue * 1e9 : tl.t1;
      const next = iterationLabels(tl.iterations, t0, t1, plotWidth(chart.getWidth())).step;
      if (next !== step) {
        step = next;
        chart.setOption(timelineData(tl));
      }
    });
  }
  const s = D.summary;
  if (s?.topOps) draw('chart-ops', () => [topBarsOption('Bytes allocated by aten op (totals over the session, not live bytes)'), topBarsData(s.topOps)]);
  if (s?.topModules) draw('chart-modules', () => [topBarsOption('Bytes allocated by module (totals over the session, not live bytes)'), topBarsData(s.topModules)]);
  if (D.peak) draw('chart-peak', () => [icicleOption(D.peak!, true, '')]);
}

/** The plans against the lower bound and the system allocator; the memory map of the plan shown. */
function drawPlans(D: ReportData, draw: Draw): void {
  if (D.plans?.length) draw('chart-plans', () => [planCompareOption(D.plans, D.shownPlanId)]);
  if (D.memoryMap && D.memoryMap.shown) draw('chart-map', () => [memoryMapOption(D.memoryMap!)]);
}

/** Latency per iteration; beside it, that of each replay session of the session's plans. */
function drawIterations(D: ReportData, draw: Draw): void {
  const it = D.iterations;
  if (it && it.shown) draw('chart-iterations', () => [iterationsOption(it)]);
  const replays = (D.replays ?? []).filter((r) => r.latenciesNs.length);
  if (!replays.length) return;
  const own = it && it.shown ? it.latencyNs.filter((v): v is number => v !== null) : [];
  const lines = [{ name: `session ${D.target.id} (recorded)`, latenciesNs: own }].concat(
    replays.map((r) => ({ name: `replay session ${r.sessionId} (${r.setId != null ? `set ${r.setId}` : `plan ${r.planId ?? 'file'}`}, ${r.status})`, latenciesNs: r.latenciesNs })),
  );
  draw('chart-replay', () => [latencyLinesOption(lines)]);
}

/** The A/B run: latency per arm and its CDF (as the A/B view), the ratios to the baseline, peak RSS. */
function drawAb(D: ReportData, draw: Draw): void {
  const ab = D.ab;
  if (!ab || !ab.report.arms.length) return;
  const multi = new Set(ab.report.arms.map((a) => a.threads)).size > 1;
  const labels = ab.distributions.map((d) => armLabel(d, multi));
  draw('chart-ab-latency', () => [abBoxOption(ab.distributions, labels)]);
  if (comparedArms(ab.report.arms).length) draw('chart-ab-ratio', () => [abRatioOption(ab.report.arms, ab.report.baseline, multi)]);
  draw('chart-ab-dist', () => [abCdfOption(ab.distributions, labels)]);
  draw('chart-ab-rss', () => [abRssOption(ab.report.arms.filter((a) => a.samples > 0), multi)]);
}

/** Sweeps: one heatmap per panel; a click on a cell scrolls to its row of the table below. */
function drawSweeps(sweeps: AbSweep[], current: number | null, draw: Draw): void {
  sweeps.forEach((s, si) => {
    s.panels.forEach((_p, pi) => {
      const chart = draw(`chart-sweep-${si}-${pi}`, () => [sweepHeatmapOption(s, pi, current)]);
      chart?.on('click', (e) => {
        const run = e?.data?.run;
        const tr = document.querySelector(`#sweep-${si}-table tr[data-run="${Number(run)}"]`);
        if (tr) tr.scrollIntoView({ block: 'center' });
      });
    });
  });
}

startReport();
