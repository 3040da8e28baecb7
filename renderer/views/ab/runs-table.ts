import type { AbRunSummary } from '../../../shared/api';
import { api } from '../../client';
import { clear, h, showError } from '../../ui';

const cellText = (cell: Record<string, string>) => Object.entries(cell).map(([k, v]) => `${k}=${v}`).join(' ');

/** The A/B runs of the database, newest first; View opens one (`open`). The open run's row is selected. */
export function runsTable(open: (id: number) => void): { els: HTMLElement[]; load(): Promise<void>; select(id: number | null): void } {
  const body = h('tbody');
  const table = h('table', { id: 'ab-runs-table' }, h('thead', {}, h('tr', {}, ...['id', 'status', 'sweep cell', 'arms', 'threads', 'runs', 'processes', 'failed', 'started', 'command', ''].map((c) => h('th', { text: c })))), body);
  const empty = h('p', { class: 'empty', id: 'ab-runs-empty', text: 'No A/B run yet.' });
  let selected: number | null = null;

  async function load(): Promise<void> {
    let list: AbRunSummary[];
    try {
      list = await api('ab.list', {});
    } catch (err) {
      showError(err);
      return;
    }
    clear(body);
    table.style.display = list.length ? '' : 'none';
    empty.style.display = list.length ? 'none' : '';
    for (const r of list) {
      body.append(
        h(
          'tr',
          { 'data-ab': r.id, class: r.id === selected ? 'selected' : '' },
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
          h('td', {}, h('button', { class: 'btn', text: 'View', onclick: () => open(r.id) })),
        ),
      );
    }
  }

  function select(id: number | null): void {
    selected = id;
    body.querySelectorAll('tr').forEach((tr) => tr.classList.toggle('selected', Number(tr.dataset.ab) === id));
  }

  return { els: [h('h3', { text: 'A/B runs in this database' }), table, empty], load, select };
}
