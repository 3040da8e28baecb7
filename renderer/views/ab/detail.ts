import type { AbArmReport, AbRunDetail, AbSweep } from '../../../shared/api';
import { abBoxOption, abCdfOption, armLabel } from '../../../shared/charts/ab';
import { api } from '../../client';
import { ec, type EChart } from '../../globals';
import { clear, fmtBytes, fmtInt, h, showError } from '../../ui';
import { sweepPanel } from '../ab-sweep';

const num = (x: number | null, d = 2) => (x === null ? '-' : x.toFixed(d));
const ms = (x: number | null) => (x === null ? '-' : `${x.toFixed(2)} ms`);
const interval = (lo: number | null, hi: number | null, d = 3) => (lo === null || hi === null ? '' : `[${lo.toFixed(d)}, ${hi.toFixed(d)}]`);

/**
 * One A/B run in full: under its sweep's heatmap when it is a sweep's cell (../ab-sweep.ts,
 * whose cells open theirs), a headline, the latency distributions per arm (box + per-run medians
 * + samples, and CDFs: shared/charts/ab.ts, as in the report), the ratio table with bootstrap
 * intervals and verdicts, peak RSS and page faults, and the failures.
 */
export interface AbDetail {
  el: HTMLElement;
  init(): void;
  /** Asks for run `id` and shows it; false when that failed (the error shown). */
  open(id: number): Promise<boolean>;
  resize(): void;
}

/** `onOpened`: a run was fetched and is about to be drawn. */
export function abDetail(onOpened: (id: number) => void): AbDetail {
  const title = h('h3', { id: 'ab-detail-title' });
  const note = h('p', { class: 'note', id: 'ab-detail-note' });
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
  const sweep = sweepPanel((id) => void open(id));
  const el = h(
    'div',
    { id: 'ab-detail', style: 'display:none' },
    sweep.el,
    title,
    headline,
    note,
    h('div', { class: 'grid2' }, boxBox, cdfBox),
    h('h3', { text: 'Latency against the baseline (ratio of medians and of p99s, bootstrap 95% intervals)' }),
    h('div', { class: 'scroll' }, ratioTable),
    h('h3', { text: 'Resources (medians over each arm\'s successful runs)' }),
    h('div', { class: 'scroll' }, resTable),
    failures,
  );
  let boxChart: EChart | null = null;
  let cdfChart: EChart | null = null;
  /** The sweep drawn above the run, kept while its cells are opened one after another. */
  let shownSweep: AbSweep | null = null;

  function init(): void {
    if (boxChart) return;
    boxChart = ec().init(boxBox);
    cdfChart = ec().init(cdfBox);
  }

  async function open(id: number): Promise<boolean> {
    try {
      const d = await api('ab.get', { id });
      onOpened(id);
      draw(d);
      if (!d.run.sweep) shownSweep = null;
      else if (shownSweep?.id !== d.run.sweep.id || !shownSweep.runs.includes(id)) shownSweep = await api('ab.sweep', { id });
      sweep.show(shownSweep, id);
      return true;
    } catch (err) {
      showError(err);
      return false;
    }
  }

  function draw(d: AbRunDetail): void {
    el.style.display = '';
    // One line: each arm's median against the baseline, with its verdict.
    const judged = d.arms.filter((a) => a.status === 'ok' && a.median_ratio !== null && a.verdict !== 'baseline');
    headline.textContent = judged.length
      ? `Median latency against ${d.run.baseline}: ` +
        judged
          .map((a) => `${a.allocator}${d.run.threads.length > 1 ? ` ×${a.threads}` : ''} ${a.median_ratio!.toFixed(3)}× (${a.plan_note ? `not planned: ${a.plan_note}` : a.verdict ?? 'no verdict'}${a.rss_ratio !== null && !a.plan_note ? `; memory ${a.rss_ratio.toFixed(3)}×` : ''})`)
          .join(' · ')
      : 'No arm to compare with the baseline yet.';
    title.textContent = `A/B ${d.run.id} (${d.run.status}): ${d.run.command.join(' ')}`;
    note.textContent =
      `${d.run.runs} run(s) per arm, ${d.warmup} warm-up sample(s) dropped per serving thread, ${d.iterations === null ? 'every later sample kept' : `${d.iterations} kept`}; ` +
      `baseline ${d.run.baseline}. Intervals: ${Math.round(d.confidence * 100)}% ${d.bootstrap} (${fmtInt(d.resamples)} resamples). ` +
      `A verdict is "faster" or "slower" only when the whole interval is on one side of 1.` +
      (d.skipped.length ? ` Skipped: ${d.skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}.` : '');
    clear(ratioBody);
    clear(resBody);
    clear(failures);
    for (const a of d.arms) {
      ratioBody.append(ratioRow(a));
      resBody.append(resourceRow(a));
      if (a.status === 'failed' || a.failures.length) failures.append(failureNote(a));
    }
    init();
    const labels = d.distributions.map((x) => armLabel(x, d.run.threads.length > 1));
    boxChart!.setOption(abBoxOption(d.distributions, labels), true);
    cdfChart!.setOption(abCdfOption(d.distributions, labels), true);
  }

  return {
    el,
    init,
    open,
    resize: () => {
      boxChart?.resize();
      cdfChart?.resize();
      sweep.resize();
    },
  };
}

const verdictCell = (v: string | null) => h('td', { class: `num verdict ${v === 'faster' ? 'good' : v === 'slower' ? 'bad' : ''}`, text: v ?? '-' });

function ratioRow(a: AbArmReport): HTMLElement {
  return h(
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
  );
}

function resourceRow(a: AbArmReport): HTMLElement {
  return h(
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
  );
}

function failureNote(a: AbArmReport): HTMLElement {
  const lines = a.failures.map((f) => `run ${f.run}: ${f.reason ?? 'failed'}${f.exit_code !== null ? ` (exit ${f.exit_code})` : ''}`);
  return h('p', { class: 'note error', text: `${a.allocator} ×${a.threads}: ${a.reason ?? `${a.runs_failed} run(s) failed`}${lines.length ? ' — ' + lines.join('; ') : ''}${a.plan_refusal ? ` — plan: ${a.plan_refusal}` : ''}` });
}
