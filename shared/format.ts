/**
 * Text formatting shared by the renderer (served as a run-time module, main/api/assets.ts), the
 * chart builders of shared/charts/ (in the app and bundled into the report's page) and the
 * offline report's server side (main/report/escape.ts). Pure functions, no Node or DOM.
 */

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escapes text for element content, quoted attribute values and ECharts tooltips (HTML). */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => HTML_ESCAPES[c]);
}

/** Bytes in binary units (B, KiB, ...), three significant digits; `missing` for no value. */
export function formatBytes(n: number | null | undefined, missing = '–'): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return missing;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const s = u === 0 ? String(v) : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2);
  return `${n < 0 ? '-' : ''}${s} ${units[u]}`;
}

/** A duration in readable units (ns, µs, ms, s), three significant digits. */
export function formatDuration(ns: number): string {
  const a = Math.abs(ns);
  const sig = (v: number) => v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2);
  if (a < 1e3) return `${Math.round(ns)} ns`;
  if (a < 1e6) return `${sig(ns / 1e3)} µs`;
  if (a < 1e9) return `${sig(ns / 1e6)} ms`;
  return `${sig(ns / 1e9)} s`;
}

/** An instant (ns) as seconds, with enough decimals to tell apart a thousandth of `spanNs`. */
export function formatSeconds(ns: number, spanNs: number): string {
  const decimals = Math.min(9, Math.max(1, Math.ceil(-Math.log10(Math.max(spanNs, 1) / 1e12))));
  return `${(ns / 1e9).toFixed(decimals)} s`;
}
