import type { SessionSummary } from '../shared/api';
import { api } from './client';

/** What the views share: the session list, the chosen session and plan. */
export const state = {
  sessions: [] as SessionSummary[],
  recording: [] as number[],
  dbFile: '',
  canOpenDatabase: false,
  /** Why the database cannot be used (sessions.list), or null. */
  dbError: null as string | null,
  session: null as number | null,
  plan: null as number | null,
  /** Sessions recorded by a live replay. */
  replays: [] as number[],
  /** Why state.session was chosen, when the views chose it (null once the user picked one). */
  chosenBecause: null as string | null,
};

type Listener = () => void;
const listeners = new Set<Listener>();

export function onSessionsChanged(l: Listener): void {
  listeners.add(l);
}

export async function refreshSessions(): Promise<void> {
  const r = await api('sessions.list', {});
  state.sessions = r.sessions;
  state.recording = r.recording;
  state.dbFile = r.dbFile;
  state.canOpenDatabase = r.canOpenDatabase;
  state.dbError = r.dbError;
  if (state.session !== null && !r.sessions.some((s) => s.id === state.session)) state.session = null;
  state.replays = r.replays ?? [];
  if (state.session === null) {
    // The newest recorded session (not a live replay's), else the newest with events.
    const done = r.sessions.filter((s) => s.status !== 'recording' && s.events > 0);
    const recorded = done.filter((s) => !state.replays.includes(s.id));
    const pick = recorded.length ? recorded[recorded.length - 1] : done[done.length - 1];
    state.session = pick ? pick.id : null;
    state.chosenBecause = pick
      ? recorded.length
        ? done.length > recorded.length
          ? 'the newest recorded session (newer live-replay sessions are in the list)'
          : 'the newest recorded session'
        : 'the newest session (all are live replays)'
      : null;
  }
  for (const l of listeners) l();
}

/** Which session the views show and why, e.g. "Showing #3 resnet18 (complete): the newest recorded session." */
export function shownSessionText(): string {
  const s = state.sessions.find((x) => x.id === state.session);
  if (!s) return '';
  const kind = state.replays.includes(s.id) ? ', a live replay' : '';
  return `Showing session #${s.id} ${s.name} (${s.status}${kind})${state.chosenBecause ? `: ${state.chosenBecause}` : ', as chosen'}.`;
}

/** What a view that needs a session says when there is none to show. */
export function noSessionText(): string {
  if (state.dbError) return `No session to show: the database cannot be used (${state.dbError}). See the Sessions view.`;
  if (!state.sessions.length) return 'No session to show: this database has no sessions yet. Record one in the Record view (or attach to a running process).';
  return 'No session to show: choose one in the Sessions view.';
}

/** A <select> of the sessions, kept in step with the list. */
export function sessionSelect(onChange: (id: number) => void): HTMLSelectElement {
  const sel = document.createElement('select');
  const fill = () => {
    while (sel.firstChild) sel.removeChild(sel.firstChild);
    for (const s of state.sessions) {
      const o = document.createElement('option');
      o.value = String(s.id);
      o.textContent = `#${s.id} ${s.name} (${s.status})`;
      sel.append(o);
    }
    if (state.session !== null) sel.value = String(state.session);
  };
  fill();
  onSessionsChanged(fill);
  sel.addEventListener('change', () => {
    state.session = Number(sel.value);
    state.chosenBecause = null;
    onChange(state.session);
  });
  return sel;
}
