import type { ExportFile } from '../../shared/api';
import { api, downloadUrl, transport } from '../client';
import { noSessionText, sessionSelect, state } from '../state';
import { clear, fmtBytes, h, showError, showStatus } from '../ui';
import type { View } from './view';

/**
 * Export: the offline report (one HTML file, charts inlined) of a session, with a plan's memory
 * map and an A/B run, and/or the session as its own database. In the desktop app main asks
 * where to save each file (a save dialog); served over HTTP, main writes them into its exports/
 * folder and the page offers them as downloads. The page never names a path.
 */
export function exportView(): View {
  const planSel = h('select', { id: 'exp-plan' });
  const abSel = h('select', { id: 'exp-ab' });
  const report = h('input', { type: 'checkbox', id: 'exp-report', checked: true });
  const database = h('input', { type: 'checkbox', id: 'exp-db', checked: false });
  const runBtn = h('button', { class: 'btn primary', id: 'exp-run', text: 'Export' });
  const results = h('div', { id: 'exp-results' });
  const where = h('p', { class: 'note', id: 'exp-where' });
  const select = sessionSelect(() => void loadChoices());
  const el = h(
    'section',
    { class: 'view', id: 'view-export' },
    h('h2', { text: 'Export' }),
    h('p', { class: 'note', text: 'The report is one self-contained HTML file (charts and data inlined; it opens with no network). The database copy holds every row of the session, ids kept, and opens with memoplan like any database.' }),
    h(
      'div',
      { class: 'form' },
      h('label', { text: 'Session' }), h('div', {}, select),
      h('label', { for: 'exp-report', text: 'Offline report (HTML)' }), h('div', {}, report),
      h('label', { for: 'exp-plan', text: 'Memory map of' }), h('div', {}, planSel),
      h('label', { for: 'exp-ab', text: 'A/B run' }), h('div', {}, abSel),
      h('label', { for: 'exp-db', text: 'Session database copy' }), h('div', {}, database),
    ),
    h('div', { class: 'row' }, runBtn),
    where,
    results,
  );

  const syncReport = () => {
    planSel.disabled = !report.checked;
    abSel.disabled = !report.checked;
  };
  report.addEventListener('change', syncReport);

  async function loadChoices(): Promise<void> {
    const id = state.session;
    clear(planSel);
    clear(abSel);
    planSel.append(h('option', { value: '', text: 'the best plan (default)' }));
    abSel.append(h('option', { value: '', text: 'none' }));
    runBtn.disabled = id === null;
    if (id === null) {
      clear(results);
      results.append(h('p', { class: 'empty', id: 'exp-none', text: noSessionText() }));
      return;
    }
    results.querySelector('#exp-none')?.remove();
    select.value = String(id);
    try {
      const [plans, abs] = await Promise.all([api('plan.list', { session: id }), api('ab.list', {})]);
      for (const p of plans) planSel.append(h('option', { value: String(p.planId), text: `plan ${p.planId}: ${p.algorithm}, ${fmtBytes(p.arenaBytes)}${p.best ? ' ★' : ''}` }));
      for (const a of abs) abSel.append(h('option', { value: String(a.id), text: `A/B ${a.id} (${a.status}): ${a.allocators.join(', ')}` }));
    } catch (err) {
      showError(err);
    }
  }

  function fileRow(f: ExportFile): HTMLElement {
    const label = `${f.kind === 'report' ? 'Report' : 'Database'}: ${f.name} (${fmtBytes(f.bytes)})`;
    const url = f.download ? downloadUrl(f.download) : null;
    if (url) return h('p', { class: 'export-file', 'data-kind': f.kind }, h('a', { href: url, download: f.name, id: `exp-link-${f.kind}`, text: `Download ${label}` }));
    return h('p', { class: 'export-file', 'data-kind': f.kind, text: `${label} saved to ${f.path}` });
  }

  runBtn.addEventListener('click', async () => {
    if (state.session === null) return;
    if (!report.checked && !database.checked) {
      showError('choose the report, the database copy, or both');
      return;
    }
    runBtn.disabled = true;
    clear(results);
    results.append(h('p', { class: 'note', text: 'exporting…' }));
    try {
      const r = await api('export.run', {
        session: state.session,
        report: report.checked,
        plan: report.checked && planSel.value ? Number(planSel.value) : undefined,
        ab: report.checked && abSel.value ? Number(abSel.value) : undefined,
        database: database.checked,
      });
      clear(results);
      for (const f of r.files) results.append(fileRow(f));
      for (const c of r.cancelled) results.append(h('p', { class: 'note', text: `${c}: not saved (dialog cancelled)` }));
      if (r.exportDir) where.textContent = `Files are written by memoplan serve into ${r.exportDir} and offered here as downloads.`;
      if (r.files.length) showStatus(`exported ${r.files.map((f) => f.name).join(', ')}`);
    } catch (err) {
      clear(results);
      showError(err);
    } finally {
      runBtn.disabled = false;
    }
  });

  return {
    name: 'export',
    el,
    async show() {
      syncReport();
      where.textContent = transport === 'ipc' ? 'You choose where each file goes in a save dialog.' : 'Served over HTTP: the files are written next to the database (exports/) and offered as downloads.';
      // Plans and A/B runs may have been added in other views: always refill.
      await loadChoices();
    },
  };
}
