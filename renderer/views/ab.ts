import { AB_ALLOCATORS, isPlanArmName, type AbAllocator, type AbAllocatorInfo, type AbArmReport, type AbRunDetail, type AbRunSummary, type AbSweep } from '../../shared/api';
import { api, onEvent } from '../client';
import { ec, type EChart } from '../globals';
import { launchForm } from '../launch-form';
import { state } from '../state';
import { clear, esc, fmtBytes, fmtInt, h, PALETTE, showError, showStatus } from '../ui';
import { sweepPanel } from './ab-sweep';
import type { View } from './view';

const num = (x: number | null, d = 2) => (x === null ? '-' : x.toFixed(d));
const ms = (x: number | null) => (x === null ? '-' : `${x.toFixed(2)} ms`);
const interval = (lo: number | null, hi: number | null, d = 3) => (lo === null || hi === null ? '' : `[${lo.toFixed(d)}, ${hi.toFixed(d)}]`);
const clock = (s: number) => `${Math.floor(s / 60)}:${String(Math.round(s) % 60).padStart(2, '0')}`;
const armLabel = (a: { allocator: string; threads: number }, multiThread: boolean) => (multiThread ? `${a.allocator} ×${a.threads}` : a.allocator);
const cellText = (cell: Record<string, string>) => Object.entries(cell).map(([k, v]) => `${k}=${v}`).join(' ');

/**
 * A/B: the same workload under several allocators (and a plan), interleaved, at one or more
 * serving thread counts (main/ab, as `memoplan ab`). The form, progress pushed per process, and
 * the results: latency distributions (box + per-run medians + samples) and CDFs per arm, the
 * ratio table with bootstrap intervals and verdicts, peak RSS and page faults. Past A/B runs of
 * the database are listed and open the same way. A run that is a cell of a sweep
 * (`memoplan ab --vary`) opens under its sweep's heatmap (ab-sweep.ts), whose cells open theirs.
 */
export function abView(): View {
  const armsBox = h('div', { class: 'row', id: 'ab-arms' });
  const armBoxes = new Map<AbAllocator, HTMLInputElement>();
  const planSession = h('select', { id: 'ab-plan-session' });
  const planSel = h('select', { id: 'ab-plan' });
  const threads = h('input', { type: 'text', id: 'ab-threads', value: '1', style: 'width:120px', placeholder: '1,2,4' });
  const runs = h('input', { type: 'number', id: 'ab-runs', value: '5', min: '1', max: '200', style: 'width:80px' });
  const warmup = h('input', { type: 'number', id: 'ab-warmup', value: '2', min: '0', style: 'width:80px' });
  const iterations = h('input', { type: 'number', id: 'ab-iterations', value: '', min: '1', placeholder: 'all', style: 'width:80px' });
  const timeout = h('input', { type: 'number', id: 'ab-timeout', value: '0', min: '0', style: 'width:80px' });
  const baseline = h('select', { id: 'ab-baseline' });
  for (const a of AB_ALLOCATORS) baseline.append(h('option', { value: a, text: a }));
  const form = launchForm('ab', [
    h('label', { text: 'Arms' }), armsBox,
    h('label', { for: 'ab-plan', text: 'Plan (plan arm)' }), h('div', { class: 'row' }, planSession, planSel),
    h('label', { for: 'ab-baseline', text: 'Baseline' }), h('div', {}, baseline),
    h('label', { for: 'ab-threads', text: 'Serving threads' }), h('div', {}, threads, h('span', { class: 'note', text: ' comma-separated, e.g. 1,2' })),
    h('label', { for: 'ab-runs', text: 'Runs per arm' }), h('div', {}, runs),
    h('label', { for: 'ab-warmup', text: 'Warm-up samples' }), h('div', {}, warmup, h('span', { class: 'note', text: ' dropped per serving thread' })),
    h('label', { for: 'ab-iterations', text: 'Samples kept' }), h('div', {}, iterations, h('span', { class: 'note', text: ' per serving thread after the warm-up (empty: all)' })),
    h('label', { for: 'ab-timeout', text: 'Run timeout (s)' }), h('div', {}, timeout, h('span', { class: 'note', text: ' 0: never' })),
  ]);
  const exampleBtn = h('button', { class: 'btn', id: 'ab-example', text: 'Example workload (resnet18)', onclick: () => void form.example(['--model', 'resnet18', '--iterations', '20', '--warmup', '3']) });
  const startBtn = h('button', { class: 'btn primary', id: 'ab-start', text: 'Start A/B' });
  const stopBtn = h('button', { class: 'btn', id: 'ab-stop', text: 'Stop after this process', disabled: true });
  const progressBar = h('progress', { id: 'ab-progressbar', max: '1', value: '0', style: 'width:320px' });
  const progressText = h('span', { id: 'ab-progress', class: 'muted' });
  const log = h('div', { id: 'ab-log' });
  const runsBody = h('tbody');
  const runsTable = h('table', { id: 'ab-runs-table' }, h('thead', {}, h('tr', {}, ...['id', 'status', 'sweep cell', 'arms', 'threads', 'runs', 'processes', 'failed', 'started', 'command', ''].map((c) => h('th', { text: c })))), runsBody);
  const detailTitle = h('h3', { id: 'ab-detail-title' });
  const detailNote = h('p', { class: 'note', id: 'ab-detail-note' });
  const headline = h('p', { id: 'ab-headline' });
  const ratioBody = h('tbody');
  const ratioTable = h(
    'table',
    { id: 'ab-ratio-table', class: 'dense' },
    h(
      'thead',
      {},
      h('tr', {}, ...['arm', 'threads', 'runs ok/failed', 'samples', 'median', '95% CI', 'p99', '95% CI', 'median ratio', '95% CI', 'verdict', 'p99 ratio', '95% CI', 'p99 verdict'].map((c, i) => h('th', { class: i >= 2 ? 'num' : '', text: c }))),
    ),
    ratioBody,
  );
  const resBody = h('tbody');
  const resTable = h(
    'table',
    { id: 'ab-resources-table' },
    h('thead', {}, h('tr', {}, ...['arm', 'threads', 'peak RSS', 'RSS ratio', '95% CI', 'memory verdict', 'minor faults', 'major faults', 'wall s', 'vol. cs', 'invol. cs', 'plan status', 'plan hit rate'].map((c, i) => h('th', { class: i >= 2 ? 'num' : '', text: c })))),
    resBody,
  );
  const failures = h('div', { id: 'ab-failures' });
  const boxBox = h('div', { class: 'chart tall', id: 'ab-box' });
  const cdfBox = h('div', { class: 'chart tall', id: 'ab-cdf' });
  const sweep = sweepPanel((id) => void openRun(id));
  const detail = h(
    'div',
    { id: 'ab-detail', style: 'display:none' },
    sweep.el,
    detailTitle,
    headline,
    detailNote,
    h('div', { class: 'grid2' }, boxBox, cdfBox),
    h('h3', { text: 'Latency against the baseline (ratio of medians and of p99s, bootstrap 95% intervals)' }),
    h('div', { class: 'scroll' }, ratioTable),
    h('h3', { text: 'Resources (medians over each arm\'s successful runs)' }),
    h('div', { class: 'scroll' }, resTable),
    failures,
  );
  const el = h(
    'section',
    { class: 'view', id: 'view-ab' },
    h('h2', { text: 'A/B: allocators and the plan on the same workload' }),
    h('p', { class: 'note', text: 'Each run is a fresh process; the arms are interleaved (run 1 of every arm, then run 2, …) so drift hits every arm alike. Latencies are the per-iteration times the agent reports.' }),
    form.el,
    h('div', { class: 'row' }, exampleBtn, startBtn, stopBtn, progressBar, progressText),
    log,
    h('h3', { text: 'A/B runs in this database' }),
    runsTable,
    h('p', { class: 'empty', id: 'ab-runs-empty', text: 'No A/B run yet.' }),
    detail,
  );

  let boxChart: EChart | null = null;
  let cdfChart: EChart | null = null;
  let job: { jobId: number; abRunId: number } | null = null;
  /** Jobs whose ab.done has arrived. */
  const ended = new Set<number>();
  let allocators: AbAllocatorInfo[] = [];
  let loaded = false;
  let shownRun: number | null = null;
  /** The sweep drawn above the run, kept while its cells are opened one after another. */
  let shownSweep: AbSweep | null = null;

  const note = (text: string, error = false) => log.append(h('p', { class: error ? 'note error' : 'note', text }));
  const setRunning = (on: boolean) => {
    startBtn.disabled = on;
    stopBtn.disabled = !on;
  };

  function fillPlanSessions(): void {
    const keep = planSession.value;
    clear(planSession);
    for (const s of state.sessions.filter((x) => x.status !== 'recording')) planSession.append(h('option', { value: String(s.id), text: `#${s.id} ${s.name}` }));
    planSession.value = keep && Array.from(planSession.options).some((o) => o.value === keep) ? keep : state.session !== null ? String(state.session) : planSession.value;
  }

  async function loadPlans(): Promise<void> {
    clear(planSel);
    const id = Number(planSession.value);
    if (!id) return;
    try {
      const list = await api('plan.list', { session: id });
      for (const p of list) planSel.append(h('option', { value: String(p.planId), text: `plan ${p.planId}: ${p.algorithm}, ${fmtBytes(p.arenaBytes)}${p.best ? ' ★' : ''}` }));
      if (!list.length) planSel.append(h('option', { value: '', text: '(no plan: make one in the Plan view)' }));
      const pick = list.find((p) => p.planId === state.plan) ?? list.find((p) => p.best) ?? list[0];
      if (pick) planSel.value = String(pick.planId);
      syncPlanArm();
    } catch (err) {
      showError(err);
    }
  }
  planSession.addEventListener('change', () => void loadPlans());

  function readThreads(): number[] {
    const parts = threads.value.split(',').map((s) => s.trim()).filter(Boolean);
    const out = parts.map((p) => Number(p));
    if (!out.length || out.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`serving threads must be positive integers like 1,2; got ${JSON.stringify(threads.value)}`);
    return out;
  }

  startBtn.addEventListener('click', async () => {
    let req;
    try {
      const w = form.read();
      const arms = AB_ALLOCATORS.filter((a) => armBoxes.get(a)?.checked);
      const intOf = (i: HTMLInputElement, name: string) => {
        const n = Number(i.value);
        if (i.value.trim() === '' || !Number.isInteger(n)) throw new Error(`${name} must be an integer`);
        return n;
      };
      req = {
        ...w,
        allocators: arms,
        plan: arms.some(isPlanArmName) && planSel.value ? Number(planSel.value) : undefined,
        threads: readThreads(),
        runs: intOf(runs, 'runs'),
        warmup: intOf(warmup, 'warm-up'),
        iterations: iterations.value.trim() === '' ? undefined : intOf(iterations, 'samples kept'),
        baseline: baseline.value as AbAllocator,
        runTimeout: timeout.value.trim() === '' ? undefined : intOf(timeout, 'run timeout'),
      };
    } catch (err) {
      showError(err);
      return;
    }
    clear(log);
    setRunning(true);
    progressBar.value = 0;
    progressText.textContent = 'checking the workload and the allocators…';
    try {
      const r = await api('ab.start', req);
      // A run that fails at once can end (ab.done) before ab.start answers.
      job = ended.has(r.jobId) ? null : { jobId: r.jobId, abRunId: r.abRunId };
      progressBar.max = r.total;
      for (const n of r.notes) note(n);
      note(`A/B ${r.abRunId}: ${r.arms.map((a) => armLabel(a, true)).join(', ')}; ${r.total} processes: ${r.command.join(' ')}`);
      void loadRuns();
    } catch (err) {
      setRunning(false);
      progressText.textContent = '';
      showError(err);
    }
  });
  stopBtn.addEventListener('click', async () => {
    if (!job) return;
    try {
      await api('ab.stop', { jobId: job.jobId });
    } catch (err) {
      showError(err);
    }
  });

  onEvent((e) => {
    if (e.event === 'ab.progress') {
      const p = e.data;
      if (!job || job.jobId !== p.jobId) job = { jobId: p.jobId, abRunId: p.abRunId };
      setRunning(true);
      progressBar.max = p.total;
      progressBar.value = p.seq - 1;
      progressText.textContent = `${p.allocator} ×${p.threads}: run ${p.run}/${p.runs} (process ${p.seq} of ${p.total}), elapsed ${clock(p.elapsedS)}${p.etaS === null ? '' : `, ETA ${clock(p.etaS)}`}`;
    } else if (e.event === 'ab.result') {
      if (job && e.data.jobId !== job.jobId) return;
      const r = e.data;
      progressBar.value = Number(progressBar.value) + 1;
      note(`${r.allocator} ×${r.threads} run ${r.run}: ${r.ok ? `${fmtInt(r.samples)} samples` : `failed: ${r.reason}`}`, !r.ok);
    } else if (e.event === 'ab.note') {
      if (!job || e.data.jobId === job.jobId) note(e.data.message);
    } else if (e.event === 'ab.done') {
      const d = e.data;
      if (job && d.jobId !== job.jobId) return;
      ended.add(d.jobId);
      job = null;
      setRunning(false);
      progressText.textContent = `A/B ${d.abRunId} ${d.status}`;
      progressBar.value = Number(progressBar.max);
      if (d.error) {
        note(`A/B ${d.abRunId} failed: ${d.error}`, true);
        showStatus(`A/B ${d.abRunId} failed: ${d.error}`, 'error');
      } else showStatus(`A/B ${d.abRunId} ${d.status}`);
      void loadRuns().then(() => openRun(d.abRunId));
    }
  });

  async function loadRuns(): Promise<void> {
    let list: AbRunSummary[];
    try {
      list = await api('ab.list', {});
    } catch (err) {
      showError(err);
      return;
    }
    clear(runsBody);
    runsTable.style.display = list.length ? '' : 'none';
    (el.querySelector('#ab-runs-empty') as HTMLElement).style.display = list.length ? 'none' : '';
    for (const r of list) {
      runsBody.append(
        h(
          'tr',
          { 'data-ab': r.id, class: r.id === shownRun ? 'selected' : '' },
          h('td', { class: 'num', text: String(r.id) }),
          h('td', { text: r.status }),
          h('td', { text: r.sweep ? cellText(r.sweep.cell) || '(no values)' : '', title: r.sweep ? `sweep ${r.sweep.id}` : '' }),
          h('td', { text: r.allocators.join(', ') }),
          h('td', { text: r.threads.join(',') }),
          h('td', { class: 'num', text: String(r.runs) }),
          h('td', { class: 'num', text: String(r.processes) }),
          h('td', { class: 'num', text: String(r.failed) }),
          h('td', { text: r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z') }),
          h('td', { class: 'cmd', title: r.command.join(' '), text: r.command.slice(1).join(' ') }),
          h('td', {}, h('button', { class: 'btn', text: 'View', onclick: () => void openRun(r.id) })),
        ),
      );
    }
  }

  async function openRun(id: number): Promise<void> {
    try {
      const d = await api('ab.get', { id });
      shownRun = id;
      runsBody.querySelectorAll('tr').forEach((tr) => tr.classList.toggle('selected', Number(tr.dataset.ab) === id));
      drawDetail(d);
      if (!d.run.sweep) shownSweep = null;
      else if (shownSweep?.id !== d.run.sweep.id || !shownSweep.runs.includes(id)) shownSweep = await api('ab.sweep', { id });
      sweep.show(shownSweep, id);
    } catch (err) {
      showError(err);
    }
  }

  /** The plan arm is ticked when there is a plan to run, until the user ticks or unticks it. */
  function syncPlanArm(): void {
    const box = armBoxes.get('plan');
    if (box && !box.disabled && box.dataset.touched !== '1') box.checked = planSel.value !== '';
  }

  function drawDetail(d: AbRunDetail): void {
    detail.style.display = '';
    // One line: each arm's median against the baseline, with its verdict.
    const judged = d.arms.filter((a) => a.status === 'ok' && a.median_ratio !== null && a.verdict !== 'baseline');
    headline.textContent = judged.length
      ? `Median latency against ${d.run.baseline}: ` +
        judged
          .map((a) => `${a.allocator}${d.run.threads.length > 1 ? ` ×${a.threads}` : ''} ${a.median_ratio!.toFixed(3)}× (${a.plan_note ? `not planned: ${a.plan_note}` : a.verdict ?? 'no verdict'}${a.rss_ratio !== null && !a.plan_note ? `; memory ${a.rss_ratio.toFixed(3)}×` : ''})`)
          .join(' · ')
      : 'No arm to compare with the baseline yet.';
    const multi = d.run.threads.length > 1;
    detailTitle.textContent = `A/B ${d.run.id} (${d.run.status}): ${d.run.command.join(' ')}`;
    detailNote.textContent =
      `${d.run.runs} run(s) per arm, ${d.warmup} warm-up sample(s) dropped per serving thread, ${d.iterations === null ? 'every later sample kept' : `${d.iterations} kept`}; ` +
      `baseline ${d.run.baseline}. Intervals: ${Math.round(d.confidence * 100)}% ${d.bootstrap} (${fmtInt(d.resamples)} resamples). ` +
      `A verdict is "faster" or "slower" only when the whole interval is on one side of 1.` +
      (d.skipped.length ? ` Skipped: ${d.skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}.` : '');
    clear(ratioBody);
    clear(resBody);
    clear(failures);
    const verdictCell = (v: string | null) => h('td', { class: `num verdict ${v === 'faster' ? 'good' : v === 'slower' ? 'bad' : ''}`, text: v ?? '-' });
    for (const a of d.arms) {
      ratioBody.append(
        h(
          'tr',
          { 'data-arm': `${a.allocator}-${a.threads}`, class: a.status === 'failed' ? 'failed' : '' },
          h('td', { text: a.allocator }),
          h('td', { class: 'num', text: String(a.threads) }),
          h('td', { class: 'num', text: `${a.runs_ok}/${a.runs_failed}` }),
          h('td', { class: 'num', text: fmtInt(a.samples) }),
          h('td', { class: 'num', text: ms(a.median_ms) }),
          h('td', { class: 'num ci', text: interval(a.median_ci_low_ms, a.median_ci_high_ms, 2) }),
          h('td', { class: 'num', text: ms(a.p99_ms) }),
          h('td', { class: 'num ci', text: interval(a.p99_ci_low_ms, a.p99_ci_high_ms, 2) }),
          h('td', { class: 'num', text: num(a.median_ratio, 3) }),
          h('td', { class: 'num ci', text: interval(a.ratio_ci_low, a.ratio_ci_high) }),
          verdictCell(a.verdict),
          h('td', { class: 'num', text: num(a.p99_ratio, 3) }),
          h('td', { class: 'num ci', text: interval(a.p99_ratio_ci_low, a.p99_ratio_ci_high) }),
          verdictCell(a.p99_verdict),
        ),
      );
      resBody.append(
        h(
          'tr',
          {},
          h('td', { text: a.allocator }),
          h('td', { class: 'num', text: String(a.threads) }),
          h('td', { class: 'num', text: fmtBytes(a.peak_rss_bytes) }),
          h('td', { class: 'num', text: num(a.rss_ratio, 3) }),
          h('td', { class: 'num ci', text: interval(a.rss_ratio_ci_low, a.rss_ratio_ci_high) }),
          h('td', { class: `num verdict ${a.rss_verdict === 'smaller' ? 'good' : a.rss_verdict === 'larger' ? 'bad' : ''}`, text: a.rss_verdict ?? '-' }),
          h('td', { class: 'num', text: a.minor_faults === null ? '-' : fmtInt(a.minor_faults) }),
          h('td', { class: 'num', text: a.major_faults === null ? '-' : fmtInt(a.major_faults) }),
          h('td', { class: 'num', text: num(a.wall_s, 2) }),
          h('td', { class: 'num', text: a.voluntary_cs === null ? '-' : fmtInt(a.voluntary_cs) }),
          h('td', { class: 'num', text: a.involuntary_cs === null ? '-' : fmtInt(a.involuntary_cs) }),
          h('td', { class: 'num', text: a.plan_status ?? '' }),
          h('td', { class: 'num', text: (a.plan_hit_rate === null ? '' : `${(a.plan_hit_rate * 100).toFixed(2)}%`) + (a.plan_note ? ` (not planned: ${a.plan_note}; no verdict)` : '') }),
        ),
      );
      if (a.status === 'failed' || a.failures.length) failures.append(failureNote(a));
    }
    drawCharts(d, multi);
  }

  function failureNote(a: AbArmReport): HTMLElement {
    const lines = a.failures.map((f) => `run ${f.run}: ${f.reason ?? 'failed'}${f.exit_code !== null ? ` (exit ${f.exit_code})` : ''}`);
    return h('p', { class: 'note error', text: `${a.allocator} ×${a.threads}: ${a.reason ?? `${a.runs_failed} run(s) failed`}${lines.length ? ' — ' + lines.join('; ') : ''}${a.plan_refusal ? ` — plan: ${a.plan_refusal}` : ''}` });
  }

  function initCharts(): void {
    if (boxChart) return;
    boxChart = ec().init(boxBox);
    cdfChart = ec().init(cdfBox);
  }

  function drawCharts(d: AbRunDetail, multi: boolean): void {
    initCharts();
    const ds = d.distributions;
    const labels = ds.map((x) => armLabel(x, multi));
    const color = (i: number) => PALETTE[i % PALETTE.length];
    // Deterministic jitter: the dots of an arm spread across its box's width.
    const jitter = (i: number) => (((i * 2654435761) % 1000) / 1000 - 0.5) * 0.5;
    boxChart!.setOption(
      {
        animation: false,
        title: { text: 'Latency per iteration, by arm', subtext: 'box: quartiles, whiskers min–max; dots: samples (thinned); diamonds: median of each run', left: 8, top: 4, textStyle: { fontSize: 13 } },
        tooltip: { trigger: 'item' },
        grid: { left: 70, right: 20, top: 64, bottom: 40 },
        xAxis: {
          type: 'value',
          min: -0.5,
          max: Math.max(0.5, ds.length - 0.5),
          axisLabel: { customValues: ds.map((_, i) => i), formatter: (v: number) => labels[Math.round(v)] ?? '' },
          axisTick: { customValues: ds.map((_, i) => i) },
          splitLine: { show: false },
        },
        yAxis: { type: 'value', name: 'ms', scale: true, axisLine: { onZero: false } },
        series: [
          {
            type: 'custom',
            name: 'box',
            renderItem: (_p: unknown, api: { value(i: number): number; coord(p: number[]): number[]; style(o?: object): object }) => {
              const x = api.value(0);
              const [lo, q1, med, q3, hi] = [1, 2, 3, 4, 5].map((i) => api.value(i));
              const w = 0.35;
              const p = (xx: number, yy: number) => api.coord([xx, yy]);
              const [xl] = p(x - w, 0);
              const [xr] = p(x + w, 0);
              const [xc] = p(x, 0);
              const y = (v: number) => p(x, v)[1];
              const c = color(x);
              return {
                type: 'group',
                children: [
                  { type: 'line', shape: { x1: xc, y1: y(lo), x2: xc, y2: y(q1) }, style: { stroke: '#555' } },
                  { type: 'line', shape: { x1: xc, y1: y(q3), x2: xc, y2: y(hi) }, style: { stroke: '#555' } },
                  { type: 'line', shape: { x1: xc - 10, y1: y(lo), x2: xc + 10, y2: y(lo) }, style: { stroke: '#555' } },
                  { type: 'line', shape: { x1: xc - 10, y1: y(hi), x2: xc + 10, y2: y(hi) }, style: { stroke: '#555' } },
                  { type: 'rect', shape: { x: xl, y: y(q3), width: xr - xl, height: Math.max(1, y(q1) - y(q3)) }, style: { fill: c, opacity: 0.25, stroke: c } },
                  { type: 'line', shape: { x1: xl, y1: y(med), x2: xr, y2: y(med) }, style: { stroke: '#222', lineWidth: 2 } },
                ],
              };
            },
            data: ds.map((x, i) => (x.box ? [i, ...x.box] : null)).filter((v): v is number[] => v !== null),
            encode: { x: 0, y: [1, 5] },
            tooltip: {
              formatter: (p: { value: number[] }) =>
                `${esc(labels[p.value[0]])}<br>min ${p.value[1].toFixed(2)} ms<br>q1 ${p.value[2].toFixed(2)}<br>median ${p.value[3].toFixed(2)}<br>q3 ${p.value[4].toFixed(2)}<br>max ${p.value[5].toFixed(2)}`,
            },
            z: 2,
          },
          {
            type: 'scatter',
            name: 'samples',
            symbolSize: 3,
            itemStyle: { color: '#666', opacity: 0.35 },
            data: ds.flatMap((x, i) => x.strip.map((v, k) => [i + jitter(k), v])),
            tooltip: { formatter: (p: { value: number[] }) => `${esc(labels[Math.round(p.value[0])])}: ${p.value[1].toFixed(2)} ms` },
            z: 3,
          },
          {
            type: 'scatter',
            name: 'run medians',
            symbol: 'diamond',
            symbolSize: 10,
            itemStyle: { color: '#e8590c', borderColor: '#fff', borderWidth: 1 },
            data: ds.flatMap((x, i) => x.runMedians.map((v) => [i, v])),
            tooltip: { formatter: (p: { value: number[] }) => `${esc(labels[Math.round(p.value[0])])}: run median ${p.value[1].toFixed(2)} ms` },
            z: 4,
          },
        ],
      },
      true,
    );
    cdfChart!.setOption(
      {
        animation: false,
        title: { text: 'CDF of iteration latency', left: 8, top: 4, textStyle: { fontSize: 13 } },
        tooltip: { trigger: 'axis', valueFormatter: (v: number) => (typeof v === 'number' ? v.toFixed(3) : String(v)) },
        legend: { top: 28, data: labels },
        grid: { left: 60, right: 24, top: 64, bottom: 40 },
        xAxis: { type: 'value', name: 'ms', scale: true },
        yAxis: { type: 'value', min: 0, max: 1, name: 'fraction ≤ x' },
        series: ds.map((x, i) => ({ type: 'line', name: labels[i], step: 'end', showSymbol: false, data: x.cdf, lineStyle: { color: color(i) }, itemStyle: { color: color(i) } })),
      },
      true,
    );
  }

  async function loadAllocators(): Promise<void> {
    allocators = await api('ab.allocators', {});
    clear(armsBox);
    for (const a of allocators) {
      const box = h('input', { type: 'checkbox', id: `ab-arm-${a.name}`, checked: a.usable && a.name !== 'plan' && !a.name.startsWith('plan+'), disabled: !a.usable });
      box.addEventListener('change', () => (box.dataset.touched = '1'));
      armBoxes.set(a.name, box);
      armsBox.append(h('label', { class: a.usable ? '' : 'muted', title: a.reason ?? a.library ?? 'the system allocator' }, box, ` ${a.name}${a.usable ? '' : ' (not available)'}`));
    }
    syncPlanArm();
    const why = allocators.filter((a) => !a.usable).map((a) => `${a.name}: ${a.reason}`);
    if (why.length) armsBox.append(h('span', { class: 'note', text: why.join('; ') }));
  }

  return {
    name: 'ab',
    el,
    async show() {
      initCharts();
      boxChart!.resize();
      cdfChart!.resize();
      fillPlanSessions();
      try {
        if (!loaded) {
          await loadAllocators();
          await form.example(['--model', 'resnet18', '--iterations', '20', '--warmup', '3']);
          loaded = true;
        }
        await loadPlans();
        await loadRuns();
        const jobs = await api('jobs.list', {});
        const j = jobs.find((x) => x.kind === 'ab');
        if (j && !job) {
          job = { jobId: j.jobId, abRunId: 0 };
          setRunning(true);
        }
      } catch (err) {
        showError(err);
      }
    },
    resize: () => {
      boxChart?.resize();
      cdfChart?.resize();
      sweep.resize();
    },
  };
}
