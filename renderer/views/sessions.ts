import { api } from '../client';
import { refreshSessions, state, onSessionsChanged } from '../state';
import { clear, fmtBytes, fmtInt, h, showError, showStatus } from '../ui';
import type { View } from './view';

/** Sessions: the list with counts, rename, delete; the database it comes from. */
export function sessionsView(go: (view: string) => void): View {
  const body = h('tbody');
  const dbLine = h('p', { class: 'note', id: 'db-path' });
  const openBtn = h('button', {
    class: 'btn',
    id: 'open-db',
    text: 'Open database…',
    onclick: async () => {
      try {
        const r = await api('db.open', {});
        if (r.dbFile) {
          state.session = null;
          await refreshSessions();
          showStatus(`opened ${r.dbFile}`);
        }
      } catch (err) {
        showError(err);
      }
    },
  });
  const table = h(
    'table',
    { id: 'sessions-table' },
    h('thead', {}, h('tr', {}, ...['id', 'name', 'status', 'events', 'allocations', 'iterations', 'ops', 'peak live', 'started', ''].map((c, i) => h('th', { class: i >= 3 && i <= 7 ? 'num' : '', text: c })))),
    body,
  );
  const empty = h('p', { class: 'empty', id: 'sessions-empty', text: 'No sessions yet: record one in the Record view, or attach to a running torch process in the Attach view.' });
  const dbError = h('div', { class: 'msg error', id: 'db-error', role: 'alert' });
  const el = h('section', { class: 'view', id: 'view-sessions' }, h('h2', { text: 'Sessions' }), h('div', { class: 'row' }, dbLine, openBtn), dbError, table, empty);

  function render(): void {
    dbLine.textContent = `Database: ${state.dbFile}`;
    openBtn.style.display = state.canOpenDatabase ? '' : 'none';
    clear(body);
    clear(dbError);
    dbError.style.display = state.dbError ? '' : 'none';
    if (state.dbError) {
      dbError.append(
        h('strong', { text: 'This database cannot be used. ' }),
        state.dbError,
        h('br'),
        state.canOpenDatabase
          ? 'Open a memoplan database (one made by this app or memoplan record) with "Open database…".'
          : 'Restart memoplan serve with --db FILE naming a memoplan database, or a new file name to start an empty one.',
      );
    }
    empty.style.display = state.sessions.length || state.dbError ? 'none' : '';
    table.style.display = state.sessions.length ? '' : 'none';
    for (const s of state.sessions) {
      const recording = state.recording.includes(s.id);
      const nameCell = h('td', { class: 'name', text: s.name });
      const actions = h('td');
      const tr = h(
        'tr',
        { 'data-session': s.id, class: s.id === state.session ? 'selected' : '' },
        h('td', { class: 'num', text: String(s.id) }),
        nameCell,
        h('td', { text: recording ? 'recording…' : s.status + (s.exit_code !== null && s.exit_code !== 0 ? ` (exit ${s.exit_code})` : '') }),
        h('td', { class: 'num', text: fmtInt(s.events) }),
        h('td', { class: 'num', text: fmtInt(s.allocations) }),
        h('td', { class: 'num', text: fmtInt(s.iterations) }),
        h('td', { class: 'num', text: fmtInt(s.ops) }),
        h('td', { class: 'num', text: fmtBytes(s.peak_live_bytes) }),
        h('td', { text: s.started_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z') }),
        actions,
      );
      const pick = (view: string) => () => {
        state.session = s.id;
        state.chosenBecause = null;
        go(view);
      };
      const rename = () => {
        const input = h('input', { type: 'text', value: s.name, class: 'rename-input', maxLength: 200 });
        const save = async () => {
          try {
            await api('sessions.rename', { id: s.id, name: input.value });
            await refreshSessions();
          } catch (err) {
            showError(err);
          }
        };
        input.addEventListener('keydown', (e) => {
          if (e.key === 'Enter') void save();
          if (e.key === 'Escape') render();
        });
        clear(nameCell);
        nameCell.append(input, ' ', h('button', { class: 'btn', text: 'Save', onclick: save }), ' ', h('button', { class: 'btn', text: 'Cancel', onclick: render }));
        input.focus();
      };
      const del = h('button', { class: 'btn danger', text: 'Delete', disabled: recording });
      let armed: ReturnType<typeof setTimeout> | null = null;
      del.addEventListener('click', async () => {
        if (!armed) {
          del.textContent = 'Really delete?';
          armed = setTimeout(() => {
            armed = null;
            del.textContent = 'Delete';
          }, 4000);
          return;
        }
        clearTimeout(armed);
        try {
          await api('sessions.delete', { id: s.id });
          showStatus(`session ${s.id} deleted`);
          await refreshSessions();
        } catch (err) {
          showError(err);
        }
      });
      const ready = !recording && s.events > 0;
      actions.append(
        h('button', { class: 'btn', text: 'Memory', disabled: !ready, onclick: pick('overview') }), ' ',
        h('button', { class: 'btn', text: 'Plan', disabled: !ready, onclick: pick('plan') }), ' ',
        h('button', { class: 'btn', text: 'Rename', onclick: rename }), ' ',
        del,
      );
      tr.addEventListener('click', (e) => {
        if ((e.target as HTMLElement).closest('button,input')) return;
        state.session = s.id;
        state.chosenBecause = null;
        render();
      });
      body.append(tr);
    }
  }
  onSessionsChanged(render);
  return {
    name: 'sessions',
    el,
    show: async () => {
      try {
        await refreshSessions();
      } catch (err) {
        showError(err);
      }
    },
  };
}
