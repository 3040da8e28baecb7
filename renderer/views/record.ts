import type { ApiEvents } from '../../shared/api';
import { api, onEvent } from '../client';
import { ec, type EChart } from '../globals';
import { refreshSessions, state } from '../state';
import { card, clear, fmtBytes, fmtInt, h, joinArgs, plainMessage, showError, showStatus, splitArgs } from '../ui';
import type { View } from './view';

/** Record: the launch form, the example workload one click away, live progress, stop. */
export function recordView(go: (view: string) => void): View {
  const field = (id: string, placeholder = '') => h('input', { type: 'text', id, placeholder, spellcheck: false, autocomplete: 'off' });
  const interpreter = field('rec-interpreter', 'auto: a python3 that imports torch');
  const script = field('rec-script', 'path/to/script.py');
  const args = field('rec-args', '--flag value …');
  const cwd = field('rec-cwd');
  const name = field('rec-name', 'default: the script name');
  const ops = h('input', { type: 'checkbox', id: 'rec-ops', checked: true });
  let example = { script: '', args: [] as string[] };

  const startBtn = h('button', { class: 'btn primary', id: 'rec-start', text: 'Start recording' });
  const stopBtn = h('button', { class: 'btn', id: 'rec-stop', text: 'Stop (SIGINT)', disabled: true });
  const killBtn = h('button', { class: 'btn danger', id: 'rec-kill', text: 'Terminate (SIGTERM)', disabled: true });
  const exampleBtn = h('button', {
    class: 'btn',
    id: 'rec-example',
    text: 'Example workload (resnet18)',
    onclick: () => {
      script.value = example.script;
      args.value = joinArgs(example.args);
      name.value = '';
    },
  });
  const cards = {
    secs: card('seconds'),
    events: card('events', 'rec-events'),
    rate: card('events/s in the last second', 'rec-rate'),
    live: card('live bytes now', 'rec-live'),
    peak: card('peak live bytes', 'rec-peak'),
    iters: card('iterations', 'rec-iterations'),
  };
  const log = h('div', { id: 'rec-log' });
  const chartBox = h('div', { class: 'chart', id: 'rec-chart', style: 'display: none' });
  let chart: EChart | null = null;
  let run: { runId: number; sessionId: number } | null = null;
  /** performance.now() when this page's recording started (to tell "exited at once"). */
  let startedAt = 0;
  /** Runs whose record.done has arrived: a target that exits at once can end before record.start answers. */
  const ended = new Set<number>();
  let series: { t: number; rate: number; live: number }[] = [];
  /** Once stored: the session's own timeline (seconds since its first event, max live bytes), which has the true peak. */
  let stored: [number, number][] | null = null;
  let storedPeak: number | null = null;

  const el = h(
    'section',
    { class: 'view', id: 'view-record' },
    h('h2', { text: 'Record' }),
    h('p', { class: 'note', text: 'Launches a Python script under the interposer and the agent; every allocation goes to the database. The interpreter must import torch.' }),
    h(
      'div',
      { class: 'form' },
      h('label', { for: 'rec-interpreter', text: 'Interpreter' }), interpreter,
      h('label', { for: 'rec-script', text: 'Script' }), script,
      h('label', { for: 'rec-args', text: 'Arguments' }), args,
      h('label', { for: 'rec-cwd', text: 'Working directory' }), cwd,
      h('label', { for: 'rec-name', text: 'Session name' }), name,
      h('label', { for: 'rec-ops', text: 'Attribute aten ops' }), h('div', {}, ops),
    ),
    h('div', { class: 'row' }, exampleBtn, startBtn, stopBtn, killBtn),
    h('div', { class: 'cards' }, ...Object.values(cards).map((c) => c.el)),
    chartBox,
    log,
  );

  const note = (text: string, error = false) => log.append(h('p', { class: error ? 'note error' : 'note', text }));
  /** A boxed outcome at the top of the log: a refusal or a target that failed. */
  const outcome = (headline: string, detail: string, error = true) =>
    log.prepend(h('div', { class: error ? 'msg error' : 'msg', id: 'rec-outcome', role: error ? 'alert' : 'status' }, h('strong', { text: headline }), detail ? h('br') : null, detail));
  const setRunning = (on: boolean) => {
    startBtn.disabled = on;
    stopBtn.disabled = !on;
    killBtn.disabled = !on;
  };

  function draw(): void {
    // The chart shows once there is something to draw (a run that ends at once has nothing).
    const shown = chartBox.style.display !== 'none';
    chartBox.style.display = series.length ? '' : 'none';
    if (!chart) return;
    if (!shown && series.length) chart.resize();
    chart.setOption({
      series: [
        { name: 'events/s', data: series.map((p) => [p.t, p.rate]) },
        { name: 'live bytes', data: stored ?? series.map((p) => [p.t, p.live]) },
      ],
      title: {
        subtext: stored
          ? `live bytes: the stored session (every allocation), peak ${fmtBytes(storedPeak)}; events/s: sampled once a second while recording`
          : 'sampled once a second while recording; the stored session replaces the live bytes when it is done',
      },
    });
    chartBox.dataset.liveSource = stored ? 'stored' : 'sampled';
  }

  /** After the run: the live-bytes curve from the stored timeline, so that the peak is the session's own. */
  async function showStored(sessionId: number): Promise<void> {
    try {
      const t = await api('overview.timeline', { session: sessionId, points: 400 });
      if (!t.points.length) return;
      stored = [[0, 0], ...t.points.map((p) => [(p.t - t.tBegin) / 1e9, p.max] as [number, number])];
      storedPeak = t.peakLiveBytes;
      cards.peak.set(fmtBytes(storedPeak));
      draw();
    } catch (err) {
      showError(err);
    }
  }

  startBtn.addEventListener('click', async () => {
    let argv: string[];
    try {
      argv = splitArgs(args.value);
    } catch (err) {
      showError(err);
      return;
    }
    clear(log);
    series = [{ t: 0, rate: 0, live: 0 }]; // the run starts at 0 s with nothing live
    stored = null;
    storedPeak = null;
    cards.peak.set('-');
    draw();
    setRunning(true);
    startedAt = performance.now();
    note('starting (checking the interpreter imports torch)…');
    try {
      const r = await api('record.start', { interpreter: interpreter.value, script: script.value, args: argv, cwd: cwd.value, name: name.value || undefined, ops: ops.checked });
      run = ended.has(r.runId) ? null : { runId: r.runId, sessionId: r.sessionId };
      for (const n of r.notes) note(n);
      note(`recording session ${r.sessionId} (pid ${r.pid ?? '?'}): ${joinArgs(r.command)}`);
      await refreshSessions();
    } catch (err) {
      setRunning(false);
      clear(log);
      outcome('Not started: nothing was recorded.', plainMessage(err));
      showError(err);
    }
  });
  const stop = (signal: 'SIGINT' | 'SIGTERM') => async () => {
    if (!run) return;
    try {
      await api('record.stop', { runId: run.runId, signal });
      note(`${signal} sent to the target`);
    } catch (err) {
      showError(err);
    }
  };
  stopBtn.addEventListener('click', stop('SIGINT'));
  killBtn.addEventListener('click', stop('SIGTERM'));

  onEvent((e) => {
    if (e.event === 'record.progress') {
      const p = e.data;
      if (!run || p.runId !== run.runId) run = { runId: p.runId, sessionId: p.sessionId };
      setRunning(true);
      cards.secs.set(p.seconds.toFixed(0));
      cards.events.set(fmtInt(p.events));
      cards.rate.set(fmtInt(p.eventsPerSecond));
      cards.live.set(fmtBytes(p.liveBytes));
      cards.iters.set(fmtInt(p.iterations));
      series.push({ t: p.seconds, rate: p.eventsPerSecond, live: p.liveBytes });
      cards.peak.set(fmtBytes(Math.max(...series.map((x) => x.live))) + ' so far');
      if (series.length > 3600) series = series.filter((_, i) => i % 2 === 0); // bounded: one point per 2 s after an hour
      draw();
    } else if (e.event === 'record.note') {
      if (run && e.data.runId === run.runId) note(e.data.message);
    } else if (e.event === 'record.done') {
      done(e.data);
    }
  });

  function done(d: ApiEvents['record.done']): void {
    if (run && d.runId !== run.runId) return;
    ended.add(d.runId);
    run = null;
    setRunning(false);
    if (d.error) {
      note(`storing the trace failed: ${d.error}`, true);
      showStatus(`recording of session ${d.sessionId} failed: ${d.error}`, 'error');
      return;
    }
    cards.events.set(fmtInt(d.events));
    cards.iters.set(fmtInt(d.iterations));
    const how = d.signal ? `killed by ${d.signal}` : `exit code ${d.exitCode}`;
    note(`session ${d.sessionId} stored: ${fmtInt(d.events)} events, ${fmtInt(d.iterations)} iterations (${how})`, d.exitCode !== 0);
    const seconds = startedAt ? (performance.now() - startedAt) / 1000 : null;
    startedAt = 0;
    const quick = seconds !== null && seconds < 5 ? ' right after it started' : '';
    if (d.exitCode !== 0 && !d.signal) {
      outcome(
        `The target exited with code ${d.exitCode}${quick}.`,
        `Session ${d.sessionId} keeps what it allocated until then. ${d.stderrTail ? 'The end of its error output is below.' : 'It wrote nothing to stderr.'} Check the script, its arguments and the working directory.`,
      );
    } else if (d.iterations === 0 && d.exitCode === 0) {
      outcome(
        `The target finished${quick} without marking an iteration.`,
        `Session ${d.sessionId} has its allocations (Memory view), but planning needs iterations: a torch model run under the agent (nn.Module forward calls), or memoplan_agent.iteration() in the script.`,
        false,
      );
    }
    if (d.stderrTail) log.append(h('pre', { class: 'note stderr', id: 'rec-stderr', text: d.stderrTail }));
    const open = h('button', {
      class: 'btn',
      id: 'rec-open',
      text: `Open session ${d.sessionId}`,
      onclick: () => {
        state.session = d.sessionId;
        state.chosenBecause = 'the session just recorded';
        go('overview');
      },
    });
    log.append(open);
    void showStored(d.sessionId);
    showStatus(`session ${d.sessionId} recorded (${how})`, d.exitCode === 0 ? 'info' : 'error');
    void refreshSessions();
  }

  let loaded = false;
  return {
    name: 'record',
    el,
    async show() {
      if (!chart) {
        chart = ec().init(chartBox);
        chart.setOption({
          animation: false,
          title: { text: 'While recording', left: 8, top: 4, textStyle: { fontSize: 13 }, subtextStyle: { fontSize: 11 } },
          tooltip: { trigger: 'axis' },
          legend: { top: 4, right: 10 },
          grid: { left: 70, right: 80, top: 70, bottom: 56 }, // top: the axis names sit below the title
          // The axis name under the axis, centred: at its end it ran into the right axis's "0 B".
          xAxis: { type: 'value', name: 'seconds since the start', nameLocation: 'middle', nameGap: 28, min: 0 },
          yAxis: [
            { type: 'value', name: 'events/s' },
            { type: 'value', name: 'live', axisLabel: { formatter: (v: number) => fmtBytes(v) }, splitLine: { show: false } },
          ],
          series: [
            { name: 'events/s', type: 'line', showSymbol: false, data: [] },
            { name: 'live bytes', type: 'line', yAxisIndex: 1, showSymbol: false, areaStyle: { opacity: 0.15 }, data: [] },
          ],
        });
      }
      chart.resize();
      if (loaded) return;
      try {
        const d = await api('record.defaults', {});
        example = { script: d.exampleScript, args: d.exampleArgs };
        cwd.value = d.cwd;
        interpreter.value = d.interpreter;
        if (!script.value) {
          script.value = d.exampleScript;
          args.value = joinArgs(d.exampleArgs);
        }
        loaded = true;
      } catch (err) {
        showError(err);
      }
    },
    resize: () => chart?.resize(),
  };
}
