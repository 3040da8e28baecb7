/** Small DOM and formatting helpers shared by the views. No innerHTML with data anywhere. */

import { escapeHtml, formatBytes } from '../shared/format';

type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else if (k === 'text') el.textContent = String(v);
    else if (k in el && typeof (el as unknown as Record<string, unknown>)[k] !== 'object') (el as unknown as Record<string, unknown>)[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtBytes(n: number | null | undefined): string {
  return formatBytes(n, '-');
}

/** For text that goes into ECharts tooltips (HTML strings). */
export const esc = escapeHtml;

let statusTimer: ReturnType<typeof setTimeout> | null = null;

export function showStatus(message: string, kind: 'info' | 'error' = 'info'): void {
  const box = document.getElementById('status')!;
  clear(box);
  box.append(h('div', { class: `msg ${kind}`, text: message }));
  if (statusTimer) clearTimeout(statusTimer);
  if (kind === 'info') statusTimer = setTimeout(() => clear(box), 6000);
}

export function clearStatus(): void {
  clear(document.getElementById('status')!);
}

/** An error's message for a view, without the API method prefix ("record.start: script not found: …" -> "script not found: …"). */
export function plainMessage(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/^[a-z]+(?:\.[a-z]+)+: /i, '');
}

export function showError(err: unknown): void {
  showStatus(plainMessage(err), 'error');
}

export function card(label: string, id?: string): { el: HTMLElement; set(v: string): void } {
  const v = h('div', { class: 'v', text: '-', id });
  return { el: h('div', { class: 'card' }, v, h('div', { class: 'k', text: label })), set: (x) => (v.textContent = x) };
}

/** Splits an argument line like a shell would for words and quotes (no expansions). */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | null = null;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else cur += c;
  }
  if (quote) throw new Error('unclosed quote in the arguments');
  if (has || cur) out.push(cur);
  return out;
}

export function joinArgs(args: string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The charts' colours (shared/charts/common.ts: the same in the report). */
export { PALETTE } from '../shared/charts/common';

/** The colour group of a module path (shared/memory-map.ts): the plan map's, the report's and the replay view's. */
export { moduleGroup } from '../shared/memory-map';

export function debounce<A extends unknown[]>(fn: (...a: A) => void, ms: number): (...a: A) => void {
  let t: ReturnType<typeof setTimeout> | null = null;
  return (...a: A) => {
    if (t) clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}
