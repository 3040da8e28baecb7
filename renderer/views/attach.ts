import type { ApiEvents, ProcessesReply } from '../../shared/api';
import { api, onEvent } from '../client';
import { refreshSessions, state } from '../state';
import { card, clear, fmtBytes, fmtInt, h, showError, showStatus } from '../ui';
import type { View } from './view';

/** Keep-alive of the scan: main scans /proc every 2 s for 30 s after each list call. */
const KEEPALIVE_MS = 10_000;

/**
 * Attach: the local processes that have torch loaded (main scans /proc every 2 s while this
 * view is open and pushes changes), an Attach button on each, and while attached a live panel
 * (events, live bytes, iterations) with a Detach button. The target keeps running after the
 * detach; the session appears in the Sessions list.
 */
export function attachView(go: (view: string) => void): View {
  const body = h('tbody');
  const table = h(
    'table',
    { id: 'attach-table' },
    h('thead', {}, h('tr', {}, ...['pid', 'Python', 'RSS', 'command line', 'torch library', ''].map((c, i) => h('th', { class: i === 0 || i === 2 ? 'num' : '', text: c })))),
    body,
  );
  const empty = h('p', { class: 'empty', id: 'attach-empty', text: 'No process with torch loaded was found.' });
  const info = h('p', { class: 'note', id: 'attach-info' });
  const duration = h('input', { type: 'number', id: 'attach-duration', min: '0.5', max: '3600', step: '0.5', placeholder: 'until Detach', style: 'width: 9em' });
  const detachBtn = h('button', { class: 'btn primary', id: 'attach-detach', text: 'Detach', disabled: true });
  const cards = { secs: card('seconds'), events: card('events', 'attach-events'), rate: card('events/s'), live: card('live bytes', 'attach-live'), iters: card('iterations', 'attach-iterations') };
  const log = h('div', { id: 'attach-log' });
  const panel = h(
    'div',
    { id: 'attach-panel' },
    h('h3', { id: 'attach-title', text: 'Attached' }),
    h('div', { class: 'row' }, detachBtn),
    h('div', { class: 'cards' }, ...Object.values(cards).map((c) => c.el)),
    log,
  );
  panel.style.display = 'none';
  const el = h(
    'section',
    { class: 'view', id: 'view-attach' },
    h('h2', { text: 'Attach: local processes with torch loaded' }),
    h('p', {
      class: 'note',
      id: 'attach-note',
      text: 'Attach injects the recorder into a running process with gdb and records every allocation until you detach (or for a set duration); the process keeps running. Or launch the workload under memoplan:',
    }),
    h(
      'div',
      { class: 'row' },
      h('label', { for: 'attach-duration', text: 'Duration (s, optional) ' }),
      duration,
      h('button', { class: 'btn', id: 'attach-launch', text: 'Launch a workload (Record view)', onclick: () => go('record') }),
    ),
    panel,
    info,
    table,
    empty,
  );
  let timer: ReturnType<typeof setInterval> | null = null;
  /** The attach this page started or follows (from its events). */
  let run: { runId: number; sessionId: number; pid: number } | null = null;
  let starting = false;
  let last: ProcessesReply | null = null;

  const note = (text: string, error = false) => log.append(h('p', { class: error ? 'note error' : 'note', text }));
  const busy = () => starting || run !== null;

  function render(r: ProcessesReply): void {
    last = r;
    clear(body);
    table.style.display = r.processes.length ? '' : 'none';
    empty.style.display = r.processes.length ? 'none' : '';
    info.textContent =
      `${r.processes.length} process(es) with torch loaded; read from /proc at ${new Date(r.scannedAt).toLocaleTimeString()}, refreshed every ${r.intervalMs / 1000} s` +
      (r.unreadable ? `; ${r.unreadable} process(es) of other users could not be read` : '');
    for (const p of r.processes) {
      const attached = run?.pid === p.pid;
      body.append(
        h(
          'tr',
          { 'data-pid': p.pid },
          h('td', { class: 'num', text: String(p.pid) }),
          h('td', { text: p.pythonVersion ?? '?' }),
          h('td', { class: 'num', text: fmtBytes(p.rssBytes) }),
          h('td', { class: 'cmd', title: p.command.join(' '), text: p.command.join(' ') }),
          h('td', { class: 'cmd muted', title: p.torchLib, text: p.torchLib.split('/').slice(-3).join('/') }),
          h(
            'td',
            {},
            h('button', { class: 'btn attach-btn', 'data-pid': p.pid, text: attached ? 'attached' : 'Attach', disabled: busy(), onclick: () => void start(p.pid) }),
          ),
        ),
      );
    }
  }
  const rerender = () => last && render(last);

  async function start(pid: number): Promise<void> {
    if (busy()) return;
    let secs: number | undefined;
    if (duration.value.trim() !== '') {
      secs = Number(duration.value);
      if (!Number.isFinite(secs) || secs < 0.5 || secs > 3600) {
        showStatus('duration must be between 0.5 and 3600 seconds (or empty: until Detach)', 'error');
        return;
      }
    }
    starting = true;
    rerender();
    clear(log);
    for (const c of Object.values(cards)) c.set('-');
    panel.style.display = '';
    (panel.firstChild as HTMLElement).textContent = `Attaching to process ${pid}…`;
    note(`attaching to process ${pid} (gdb waits for a safe point)…`);
    try {
      const r = await api('attach.start', { pid, duration: secs });
      run = { runId: r.runId, sessionId: r.sessionId, pid: r.pid };
      (panel.firstChild as HTMLElement).textContent = `Attached to process ${r.pid}: session ${r.sessionId}`;
      for (const n of r.notes) note(n);
      note(`recording session ${r.sessionId}${secs !== undefined ? ` for ${secs} s` : ' until Detach'}`);
      detachBtn.disabled = false;
      await refreshSessions();
    } catch (err) {
      panel.style.display = 'none';
      showError(err);
    } finally {
      starting = false;
      rerender();
    }
  }

  detachBtn.addEventListener('click', async () => {
    if (!run) return;
    detachBtn.disabled = true;
    try {
      await api('attach.stop', { runId: run.runId });
      note('detaching (the process keeps running); storing the trace…');
    } catch (err) {
      detachBtn.disabled = false;
      showError(err);
    }
  });

  function done(d: ApiEvents['attach.done']): void {
    if (run && d.runId !== run.runId) return;
    run = null;
    detachBtn.disabled = true;
    rerender();
    (panel.firstChild as HTMLElement).textContent = `Session ${d.sessionId} (process ${d.pid})`;
    if (d.error) {
      note(`the attach to process ${d.pid} failed: ${d.error}`, true);
      showStatus(`attach to process ${d.pid} failed: ${d.error}`, 'error');
      void refreshSessions();
      return;
    }
    cards.events.set(fmtInt(d.events));
    cards.iters.set(fmtInt(d.iterations));
    const how = d.targetExited ? 'the process exited while attached' : d.detachedElsewhere ? 'detached by memoplan detach' : 'detached; the process keeps running';
    note(`session ${d.sessionId} stored: ${fmtInt(d.events)} events, ${fmtInt(d.iterations)} iterations (${how})`);
    log.append(
      h('button', {
        class: 'btn',
        id: 'attach-open',
        text: `Open session ${d.sessionId}`,
        onclick: () => {
          state.session = d.sessionId;
          state.chosenBecause = 'the session just recorded';
          go('overview');
        },
      }),
    );
    showStatus(`session ${d.sessionId} recorded from process ${d.pid} (${how})`);
    void refreshSessions();
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
    else if (e.event === 'attach.progress') {
      const p = e.data;
      if (!run || run.runId !== p.runId) {
        if (starting) return; // our own attach.start has not answered yet: its reply sets run
        run = { runId: p.runId, sessionId: p.sessionId, pid: p.pid }; // one started by another page
        panel.style.display = '';
        (panel.firstChild as HTMLElement).textContent = `Attached to process ${p.pid}: session ${p.sessionId}`;
        rerender();
      }
      detachBtn.disabled = false;
      cards.secs.set(p.seconds.toFixed(0));
      cards.events.set(fmtInt(p.events));
      cards.rate.set(fmtInt(p.eventsPerSecond));
      cards.live.set(fmtBytes(p.liveBytes));
      cards.iters.set(fmtInt(p.iterations));
    } else if (e.event === 'attach.note') {
      if (run && e.data.runId === run.runId) note(e.data.message);
    } else if (e.event === 'attach.done') {
      done(e.data);
    }
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
