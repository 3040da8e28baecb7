import { h, showError } from '../ui';
import { abDetail } from './ab/detail';
import { abForm } from './ab/form';
import { abJob } from './ab/job';
import { runsTable } from './ab/runs-table';
import type { View } from './view';

/**
 * A/B: the same workload under several allocators (and a plan), interleaved, at one or more
 * serving thread counts (main/ab, as `memoplan ab`). The form (ab/form.ts), the run with its
 * progress pushed per process (ab/job.ts), the A/B runs of the database (ab/runs-table.ts) and
 * one run in full (ab/detail.ts): latency distributions and CDFs per arm, the ratio table with
 * bootstrap intervals and verdicts, peak RSS and page faults, under its sweep's heatmap when it
 * is a cell of a sweep (`memoplan ab --vary`).
 */
export function abView(): View {
  const form = abForm();
  const detail = abDetail((id) => runs.select(id));
  const runs = runsTable((id) => void detail.open(id));
  const job = abJob(form, {
    started: () => void runs.load(),
    done: (id) => void runs.load().then(() => detail.open(id)),
  });
  const el = h(
    'section',
    { class: 'view', id: 'view-ab' },
    h('h2', { text: 'A/B: allocators and the plan on the same workload' }),
    h('p', { class: 'note', text: 'Each run is a fresh process; the arms are interleaved (run 1 of every arm, then run 2, …) so drift hits every arm alike. Latencies are the per-iteration times the agent reports.' }),
    form.el,
    ...job.els,
    ...runs.els,
    detail.el,
  );

  return {
    name: 'ab',
    el,
    async show() {
      detail.init();
      detail.resize();
      try {
        await form.show();
        await runs.load();
        await job.resume();
      } catch (err) {
        showError(err);
      }
    },
    resize: detail.resize,
  };
}
