import type { ApiEvents, ReplayLiveSummary } from '../../shared/api';
import { api, onEvent } from '../client';
import { ec, type EChart } from '../globals';
import { launchForm } from '../launch-form';
import { refreshSessions } from '../state';
import { card, clear, fmtBytes, fmtInt, h, showError, showStatus } from '../ui';

const pct = (x: number | null, digits = 2) => (x === null ? '-' : `${(100 * x).toFixed(digits)}%`);

/**
 * Replay live: the plan's workload run again with the interposer in plan mode
 * (main/replay/live.ts), recorded like any session; then what the plan served. The form is
 * prefilled from the command the plan's session was recorded with.
 */
export function replayLivePanel(): { el: HTMLElement; setPlan(plan: number | null, set?: number | null): void; resize(): void; show(): void } {
  const threads = h('input', { type: 'number', id: 'live-threads', min: '1', max: '256', value: '1', style: 'width:80px' });
  const form = launchForm('live', [h('label', { for: 'live-threads', text: 'Serving threads' }), h('div', {}, threads)]);
  const runBtn = h('button', { class: 'btn primary', id: 'live-run', text: 'Replay live' });
  const stopBtn = h('button', { class: 'btn', id: 'live-stop', text: 'Stop (SIGINT)', disabled: true });
  const resetBtn = h('button', { class: 'btn', id: 'live-reset', text: 'Refill from the session' });
  const planLine = h('p', { class: 'note', id: 'live-plan' });
  const progress = { secs: card('seconds'), events: card('events', 'live-events'), iters: card('iterations', 'live-iterations'), live: card('live bytes') };
  const result = {
    status: card('plan status', 'live-status'),
    hits: card('hits', 'live-hits'),
    misses: card('misses', 'live-misses'),
    // A plan set (set:ID): its plans that served an iteration, and iterations no plan of it served.
    sigServed: card('signatures served', 'live-signatures-served'),
    unplannedIters: card('iterations unplanned', 'live-iterations-unplanned'),
    rate: card('hit rate', 'live-hit-rate'),
    byteRate: card('byte hit rate', 'live-byte-hit-rate'),
    fallback: card('fallback bytes (misses)', 'live-fallback'),
    served: card('iterations served', 'live-served'),
    median: card('median iteration', 'live-median'),
  };
  const banner = h('div', { id: 'live-banner' });
  const log = h('div', { id: 'live-log' });
  const chartBox = h('div', { class: 'chart', id: 'live-latency' });
  const resultBox = h('div', { id: 'live-result', style: 'display:none' }, h('div', { class: 'cards' }, ...Object.values(result).map((c) => c.el)), chartBox);
  let chart: EChart | null = null;
  let plan: number | null = null;
  /** A plan set to serve instead (plan is then one of its plans: the form is filled from its session). */
  let planSet: number | null = null;
  let filledFor: number | null = null;
  let job: { jobId: number; sessionId: number } | null = null;
  /** Jobs whose replay.done has arrived. */
  const ended = new Set<number>();

  const el = h(
    'div',
    { id: 'replay-live-panel' },
    h('h2', { text: 'Replay live (plan mode)' }),
    h('p', {
      class: 'note',
      text: 'Runs the workload again with the interposer serving the chosen plan (recorded as a new session). The interposer refuses a plan made for another workload or a corrupt one; the target then runs unplanned, and this panel says so.',
    }),
    planLine,
    form.el,
    h('div', { class: 'row' }, resetBtn, runBtn, stopBtn),
    h('div', { class: 'cards' }, ...Object.values(progress).map((c) => c.el)),
    banner,
    resultBox,
    log,
  );

  const note = (text: string, error = false) => log.append(h('p', { class: error ? 'note error' : 'note', text }));
  const setRunning = (on: boolean) => {
    runBtn.disabled = on || plan === null;
    stopBtn.disabled = !on;
  };

  async function fill(force: boolean): Promise<void> {
    if (plan === null || (!force && filledFor === plan)) return;
    try {
      const d = await api('replay.live.defaults', { plan });
      form.fill(d);
      filledFor = plan;
      planLine.textContent = `${planSet === null ? `Plan ${d.plan}` : `Plan set ${planSet}`} of session ${d.session}; recorded as: ${d.command.join(' ')}`;
    } catch (err) {
      showError(err);
    }
  }
  resetBtn.addEventListener('click', () => void fill(true));

  runBtn.addEventListener('click', async () => {
    if (plan === null) return;
    let w;
    try {
      w = form.read();
    } catch (err) {
      showError(err);
      return;
    }
    const n = Number(threads.value);
    clear(log);
    clear(banner);
    resultBox.style.display = 'none';
    for (const c of Object.values(progress)) c.set('-');
    setRunning(true);
    note('starting the workload in plan mode…');
    try {
      const r = await api('replay.live.start', { ...w, ...(planSet === null ? { plan } : { set: planSet }), threads: Number.isInteger(n) && n > 0 ? n : 1 });
      // A target that exits at once can end (replay.done) before replay.live.start answers.
      job = ended.has(r.jobId) ? null : { jobId: r.jobId, sessionId: r.sessionId };
      for (const m of r.notes) note(m);
      note(`replaying ${planSet === null ? `plan ${plan}` : `plan set ${planSet}`} as session ${r.sessionId} (pid ${r.pid ?? '?'}): ${r.command.join(' ')}`);
    } catch (err) {
      setRunning(false);
      clear(log);
      showError(err);
    }
  });
  stopBtn.addEventListener('click', async () => {
    if (!job) return;
    try {
      await api('replay.live.stop', { jobId: job.jobId, signal: 'SIGINT' });
      note('SIGINT sent to the target');
    } catch (err) {
      showError(err);
    }
  });

  function drawResult(s: ReplayLiveSummary): void {
    resultBox.style.display = '';
    result.status.set(s.status);
    result.hits.set(fmtInt(s.hits));
    result.misses.set(fmtInt(s.misses));
    const isSet = s.set_id !== null;
    result.sigServed.el.style.display = result.unplannedIters.el.style.display = isSet ? '' : 'none';
    result.sigServed.set(isSet ? `${fmtInt(s.signatures_served)} of ${s.plans === null ? '?' : fmtInt(s.plans)}` : '-');
    result.unplannedIters.set(isSet ? fmtInt(s.iterations_unplanned) : '-');
    result.rate.set(pct(s.hit_rate, 3));
    result.byteRate.set(pct(s.byte_hit_rate, 3));
    result.fallback.set(fmtBytes(s.fallback_bytes));
    result.served.set(fmtInt(s.iterations_served));
    result.median.set(s.median_latency_ms === null ? '-' : `${s.median_latency_ms.toFixed(2)} ms`);
    clear(banner);
    if (s.unplanned) {
      const why = s.status === 'refused' ? 'the interposer refused the plan' : s.status.startsWith('observing') ? 'no iteration matched the plan\'s signature' : 'no plan was loaded';
      banner.append(
        h(
          'div',
          { class: 'msg error', id: 'live-unplanned' },
          h('strong', { text: `The plan was not served (${s.status}): ${why}. The target ran unplanned, on the system allocator.` }),
          ...s.interposer.map((l) => h('div', { class: 'mono', text: l })),
        ),
      );
    } else {
      banner.append(h('div', { class: 'msg', id: 'live-served-msg', text: `${s.set_id !== null ? `Plan set ${s.set_id}` : `Plan ${s.plan_id ?? ''}`} served ${fmtInt(s.iterations_served)} iteration(s); ${pct(s.hit_rate, 3)} of allocations (${pct(s.byte_hit_rate, 3)} of bytes) came from the arena.` }));
    }
    initChart();
    chart!.resize();
    chart!.setOption({
      xAxis: { data: s.latencies_ms.map((_, i) => String(i + 1)) },
      series: [
        {
          data: s.latencies_ms,
          markLine: s.median_latency_ms === null ? undefined : { silent: true, symbol: 'none', data: [{ yAxis: s.median_latency_ms, name: 'median' }], label: { formatter: 'median {c} ms', position: 'end' } },
        },
      ],
    });
  }

  function initChart(): void {
    if (chart) return;
    chart = ec().init(chartBox);
    chart.setOption({
      animation: false,
      title: { text: 'Per-iteration latency (plan mode)', left: 8, top: 4, textStyle: { fontSize: 13 } },
      tooltip: { trigger: 'axis', valueFormatter: (v: number) => `${v.toFixed(3)} ms` },
      grid: { left: 70, right: 110, top: 40, bottom: 40 }, // right: room for the median's label
      xAxis: { type: 'category', name: 'iteration', nameLocation: 'middle', nameGap: 26, data: [] },
      yAxis: { type: 'value', name: 'ms', min: 0 },
      series: [{ type: 'bar', name: 'latency', data: [], itemStyle: { color: '#5470c6' } }],
    });
  }

  onEvent((e) => {
    if (e.event === 'replay.progress') {
      const p = e.data;
      if (!job || job.jobId !== p.jobId) job = { jobId: p.jobId, sessionId: p.sessionId };
      setRunning(true);
      progress.secs.set(p.seconds.toFixed(0));
      progress.events.set(fmtInt(p.events));
      progress.iters.set(fmtInt(p.iterations));
      progress.live.set(fmtBytes(p.liveBytes));
    } else if (e.event === 'replay.note') {
      if (job && e.data.jobId === job.jobId) note(e.data.message);
    } else if (e.event === 'replay.done') {
      done(e.data);
    }
  });

  function done(d: ApiEvents['replay.done']): void {
    if (job && d.jobId !== job.jobId) return;
    ended.add(d.jobId);
    job = null;
    setRunning(false);
    if (!d.summary) {
      note(`the replay could not be stored: ${d.error}`, true);
      showStatus(`live replay failed: ${d.error}`, 'error');
      return;
    }
    drawResult(d.summary);
    const how = d.signal ? `killed by ${d.signal}` : `exit code ${d.summary.exit_code}`;
    note(`session ${d.sessionId} stored (${how})`, d.summary.exit_code !== 0);
    if (d.stderrTail) log.append(h('pre', { class: 'note', text: d.stderrTail }));
    showStatus(`live replay of ${d.summary.set_id !== null ? `plan set ${d.summary.set_id}` : `plan ${d.summary.plan_id ?? ''}`}: ${d.summary.status}`, d.summary.unplanned || d.summary.exit_code !== 0 ? 'error' : 'info');
    void refreshSessions();
  }

  return {
    el,
    setPlan(p, set = null) {
      const changed = set !== planSet;
      plan = p;
      planSet = p === null ? null : set;
      setRunning(job !== null);
      if (p === null) planLine.textContent = 'No plan chosen: make one in the Plan view.';
      else void fill(changed);
    },
    resize: () => chart?.resize(),
    show() {
      initChart();
      chart!.resize();
      void api('jobs.list', {})
        .then((jobs) => {
          const j = jobs.find((x) => x.kind === 'replay');
          if (j && !job) {
            job = { jobId: j.jobId, sessionId: 0 };
            setRunning(true);
          }
        })
        .catch(() => undefined);
    },
  };
}
