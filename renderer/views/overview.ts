import { noSessionText, sessionSelect, shownSessionText, state } from '../state';
import { card, fmtBytes, fmtInt, h, showError } from '../ui';
import { livePanel } from './overview/live-panel';
import { timelinePanel } from './overview/timeline-panel';
import { topPanel } from './overview/top-panel';
import type { View } from './view';

/**
 * Memory: live bytes over time (overview/timeline-panel.ts: from the timeline table, grouped in
 * SQL to the visible range whenever the user zooms; zoomed in narrower than its buckets, from the
 * range's events), what is live at a chosen instant (overview/live-panel.ts; default: the
 * session's peak) as an icicle of Python stacks and tables by module and aten op, and the bytes
 * allocated over the visible range by op and module (overview/top-panel.ts). The charts are
 * drawn by the builders of shared/charts/, as in the offline report.
 *
 * It opens on the steady iterations (the import before them visible but not dominant). This
 * module lays out the view and opens a session: the session's counters, its timeline, then what
 * is live at its peak and what was allocated over the range shown.
 */
export function overviewView(): View {
  let shown: number | null = null;
  const session = () => shown;
  const timeline = timelinePanel({ session, onRange: (t0, t1) => top.loadSettled(t0, t1), onInstant: (t) => void live.show({ t }) });
  const live = livePanel({ session, when: timeline.when, mark: timeline.mark });
  const top = topPanel({ session });
  const cards = { events: card('events'), allocs: card('allocations'), peak: card('peak live bytes'), iters: card('iterations'), live: card('allocations live at exit') };
  const shownNote = h('p', { class: 'note', id: 'overview-shown' });
  const none = h('p', { class: 'empty', id: 'overview-none' });
  const select = sessionSelect(() => void load());
  const content = h(
    'div',
    { id: 'overview-content' },
    h('div', { class: 'cards' }, ...Object.values(cards).map((c) => c.el)),
    timeline.controls,
    timeline.box,
    timeline.info,
    live.el,
    ...top.els,
  );
  const el = h('section', { class: 'view', id: 'view-overview' }, h('h2', { text: 'Memory over time' }), h('div', { class: 'row' }, h('label', { text: 'Session ' }), select), shownNote, none, content);

  const init = () => {
    timeline.init();
    top.init();
    live.init();
  };
  const resize = () => {
    timeline.resize();
    top.resize();
    live.resize();
  };

  /** Shows the charts, or in their place why there is nothing to show. */
  const empty = (why: string | null) => {
    none.textContent = why ?? '';
    none.style.display = why ? '' : 'none';
    const hidden = content.style.display === 'none';
    content.style.display = why ? 'none' : '';
    if (hidden && !why) resize();
  };

  async function load(): Promise<void> {
    init();
    const id = state.session;
    shownNote.textContent = shownSessionText();
    if (id === null) {
      empty(noSessionText());
      return;
    }
    empty(null);
    select.value = String(id);
    const s = state.sessions.find((x) => x.id === id);
    if (s) {
      cards.events.set(fmtInt(s.events));
      cards.allocs.set(fmtInt(s.allocations));
      cards.peak.set(fmtBytes(s.peak_live_bytes));
      cards.iters.set(fmtInt(s.iterations));
      cards.live.set(fmtInt(s.live_at_exit));
    }
    try {
      if (!(await timeline.load(id))) return;
      shown = id;
      live.reset();
      void live.show({});
      if (!timeline.zoomToSteady()) void top.load();
    } catch (err) {
      showError(err);
    }
  }

  return {
    name: 'overview',
    el,
    show: async () => {
      init();
      resize();
      if (shown !== state.session || state.session === null) await load();
    },
    resize,
  };
}
