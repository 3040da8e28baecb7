import type { MapReply } from '../../../shared/api';
import { memoryMapNote, memoryMapOption } from '../../../shared/charts/memory-map';
import { api } from '../../client';
import { ec, type EChart } from '../../globals';
import { h, showError } from '../../ui';

const MAP_RECTS = 4000;

/** The Plan view's memory map of one plan (shared/charts/memory-map.ts, as in the report): its largest MAP_RECTS buffers. */
export interface MapPanel {
  el: HTMLElement;
  /** Creates the chart (once) and fits it to its box. */
  init(): void;
  resize(): void;
  show(planId: number): Promise<void>;
  hide(): void;
}

export function mapPanel(): MapPanel {
  const box = h('div', { class: 'chart tall', id: 'plan-map' });
  const info = h('p', { class: 'note', id: 'plan-map-info' });
  const el = h('div', { id: 'plan-map-section' }, h('h3', { text: 'Memory map' }), info, box);
  el.style.display = 'none';
  let map: EChart | null = null;

  function chart(): EChart {
    if (!map) map = ec().init(box);
    return map;
  }

  async function show(planId: number): Promise<void> {
    el.style.display = '';
    const c = chart();
    c.resize();
    let m: MapReply;
    try {
      m = await api('plan.map', { plan: planId, maxRects: MAP_RECTS });
    } catch (err) {
      showError(err);
      return;
    }
    c.setOption(memoryMapOption(m), { notMerge: true });
    info.textContent = memoryMapNote(m);
  }

  return {
    el,
    init: () => chart().resize(),
    resize: () => map?.resize(),
    show,
    hide: () => {
      el.style.display = 'none';
    },
  };
}
