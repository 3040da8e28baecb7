/**
 * Escaping for the offline report. Everything that came from a trace (op names, module paths,
 * command lines, host strings) is untrusted: a module can be named `</script><img onerror=...>`.
 * Text goes into HTML through escapeHtml only; data goes into a <script type="application/json">
 * block through jsonForScript, which cannot close the element or start a comment.
 */

export { escapeHtml, formatBytes } from '../../shared/format';

/**
 * JSON that is safe inside <script type="application/json">: '<', '>' and '&' become \u003c,
 * \u003e, \u0026 (so neither `</script` nor `<!--` can appear), and U+2028/U+2029 are escaped
 * (valid in JSON, line terminators in older JavaScript). JSON.parse reads it back unchanged.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** A command line for display: each argument shell-quoted when it needs it. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map((a) => (a !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function formatInt(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

export function formatMs(ns: number | null | undefined, digits = 2): string {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return '–';
  return (ns / 1e6).toFixed(digits) + ' ms';
}

export function formatPct(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return (100 * x).toFixed(digits) + '%';
}
