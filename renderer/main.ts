/**
 * The renderer's entry: one view per step (Sessions, Attach, Record, Memory, Plan, Replay, A/B,
 * Export), switched by
 * the navigation bar; the same code runs in Electron (window.memoplan) and in a browser served
 * by `memoplan serve` (client.ts picks the transport).
 */
import { connectEvents, onEvent, transport } from './client';
import { refreshSessions, state, onSessionsChanged } from './state';
import { showError } from './ui';
import { abView } from './views/ab';
import { attachView } from './views/attach';
import { exportView } from './views/export';
import { overviewView } from './views/overview';
import { planView } from './views/plan';
import { recordView } from './views/record';
import { replayView } from './views/replay';
import { sessionsView } from './views/sessions';
import type { View } from './views/view';

const views = new Map<string, View>();
let current: View | null = null;

function go(name: string): void {
  const v = views.get(name);
  if (!v) return;
  if (current && current !== v) {
    current.el.classList.remove('active');
    current.hide?.();
  }
  current = v;
  v.el.classList.add('active');
  document.querySelectorAll<HTMLButtonElement>('#nav button').forEach((b) => b.classList.toggle('active', b.dataset.view === name));
  document.body.dataset.view = name;
  Promise.resolve(v.show()).catch(showError);
}

function start(): void {
  const root = document.getElementById('views')!;
  for (const v of [sessionsView(go), attachView(go), recordView(go), overviewView(), planView(go), replayView(), abView(), exportView()]) {
    views.set(v.name, v);
    root.append(v.el);
  }
  document.querySelectorAll<HTMLButtonElement>('#nav button').forEach((b) => b.addEventListener('click', () => go(b.dataset.view!)));
  const dbinfo = document.getElementById('dbinfo')!;
  onSessionsChanged(() => {
    dbinfo.textContent = `${state.dbFile} · ${transport === 'ipc' ? 'desktop' : 'served on 127.0.0.1'}`;
    dbinfo.title = state.dbFile;
  });
  connectEvents((up) => document.body.classList.toggle('offline', !up));
  onEvent((e) => {
    if (e.event === 'sessions.changed') void refreshSessions().catch(showError);
  });
  window.addEventListener('resize', () => current?.resize?.());
  // The Sessions view first, unless a view was chosen while the list loaded: a click made then
  // is kept (it used to be undone when the list arrived).
  refreshSessions()
    .then(() => {
      if (current === null) go('sessions');
    })
    .catch(showError);
}

start();
