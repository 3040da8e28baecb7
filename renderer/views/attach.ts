import type { ProcessesReply } from '../../shared/api';
import { api, onEvent } from '../client';
import { clear, fmtBytes, h, showError } from '../ui';
import type { View } from './view';

/** Keep-alive of the scan: main scans /proc every 2 s for 30 s after each list call. */
const KEEPALIVE_MS = 10_000;

/**
 * Attach, step one: the local processes that have torch loaded (main scans /proc every 2 s
 * while this view is open and pushes changes). Attaching to one lands with the attach work;
 * until then, launch the workload under memoplan from the Record view.
 */
export function attachView(go: (view: string) => void): View {
  const body = h('tbody');
  const table = h(
    'table',
    { id: 'attach-table' },
    h('thead', {}, h('tr', {}, ...['pid', 'Python', 'RSS', 'command line', 'torch library'].map((c, i) => h('th', { class: i === 0 || i === 2 ? 'num' : '', text: c })))),
    body,
  );
  const empty = h('p', { class: 'empty', id: 'attach-empty', text: 'No process with torch loaded was found.' });
  const info = h('p', { class: 'note', id: 'attach-info' });
  const el = h(
    'section',
    { class: 'view', id: 'view-attach' },
    h('h2', { text: 'Attach: local processes with torch loaded' }),
    h('p', {
      class: 'note',
      id: 'attach-note',
      text: 'Attaching to a running process is not available yet (it lands with the attach work). To profile now, launch the workload under memoplan:',
    }),
    h('div', { class: 'row' }, h('button', { class: 'btn primary', id: 'attach-launch', text: 'Launch a workload (Record view)', onclick: () => go('record') })),
    info,
    table,
    empty,
  );
  let timer: ReturnType<typeof setInterval> | null = null;

  function render(r: ProcessesReply): void {
    clear(body);
    table.style.display = r.processes.length ? '' : 'none';
    empty.style.display = r.processes.length ? 'none' : '';
    info.textContent =
      `${r.processes.length} process(es) with torch loaded; read from /proc at ${new Date(r.scannedAt).toLocaleTimeString()}, refreshed every ${r.intervalMs / 1000} s` +
      (r.unreadable ? `; ${r.unreadable} process(es) of other users could not be read` : '');
    for (const p of r.processes) {
      body.append(
        h(
          'tr',
          { 'data-pid': p.pid },
          h('td', { class: 'num', text: String(p.pid) }),
          h('td', { text: p.pythonVersion ?? '?' }),
          h('td', { class: 'num', text: fmtBytes(p.rssBytes) }),
          h('td', { class: 'cmd', title: p.command.join(' '), text: p.command.join(' ') }),
          h('td', { class: 'cmd muted', title: p.torchLib, text: p.torchLib.split('/').slice(-3).join('/') }),
        ),
      );
    }
  }

  const refresh = async () => {
    try {
      render(await api('processes.list', {}));
    } catch (err) {
      showError(err);
    }
  };

  onEvent((e) => {
    if (e.event === 'processes.changed' && timer) render(e.data);
  });

  return {
    name: 'attach',
    el,
    async show() {
      if (!timer) timer = setInterval(() => void refresh(), KEEPALIVE_MS);
      await refresh();
    },
    hide() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
