import type { AbStartRequest } from '../../../shared/api';
import { armLabel } from '../../../shared/charts/ab';
import { api, onEvent } from '../../client';
import { clear, fmtInt, h, showError, showStatus } from '../../ui';

const clock = (s: number) => `${Math.floor(s / 60)}:${String(Math.round(s) % 60).padStart(2, '0')}`;

/**
 * The running A/B: Start (what the form says), Stop after the current process, the progress
 * pushed per process (ab.progress, ab.result, ab.note) and its end (ab.done). `started` is told
 * when main accepted a run, `done` when one ended (its A/B run id).
 */
export interface AbJob {
  els: HTMLElement[];
  /** Picks up an A/B that main is running (the page was reloaded meanwhile). */
  resume(): Promise<void>;
}

export function abJob(form: { read(): AbStartRequest; example(): Promise<void> }, hooks: { started(): void; done(abRunId: number): void }): AbJob {
  const exampleBtn = h('button', { class: 'btn', id: 'ab-example', text: 'Example workload (resnet18)', onclick: () => void form.example() });
  const startBtn = h('button', { class: 'btn primary', id: 'ab-start', text: 'Start A/B' });
  const stopBtn = h('button', { class: 'btn', id: 'ab-stop', text: 'Stop after this process', disabled: true });
  const progressBar = h('progress', { id: 'ab-progressbar', max: '1', value: '0', style: 'width:320px' });
  const progressText = h('span', { id: 'ab-progress', class: 'muted' });
  const log = h('div', { id: 'ab-log' });
  let job: { jobId: number; abRunId: number } | null = null;
  /** Jobs whose ab.done has arrived. */
  const ended = new Set<number>();

  const note = (text: string, error = false) => log.append(h('p', { class: error ? 'note error' : 'note', text }));
  const setRunning = (on: boolean) => {
    startBtn.disabled = on;
    stopBtn.disabled = !on;
  };

  startBtn.addEventListener('click', async () => {
    let req: AbStartRequest;
    try {
      req = form.read();
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
      hooks.started();
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
      hooks.done(d.abRunId);
    }
  });

  async function resume(): Promise<void> {
    const jobs = await api('jobs.list', {});
    const j = jobs.find((x) => x.kind === 'ab');
    if (j && !job) {
      job = { jobId: j.jobId, abRunId: 0 };
      setRunning(true);
    }
  }

  return { els: [h('div', { class: 'row' }, exampleBtn, startBtn, stopBtn, progressBar, progressText), log], resume };
}
