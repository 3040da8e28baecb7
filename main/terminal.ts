/**
 * Text from users (session names, argv, paths) shown on a terminal: control characters (escape
 * sequences, newlines, carriage returns, C1 controls) and bidirectional overrides are shown as
 * visible escapes (\x1b, \n, \u202e) so a name can neither move the cursor nor rewrite the
 * screen, and very long text is cut with a count of what was left out.
 */

// C0 controls, DEL, C1 controls, line/paragraph separators, bidi embeddings/overrides/isolates, BOM.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

export function terminalSafe(text: string, max = 200): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  const shown = cut.replace(UNSAFE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return text.length > max ? `${shown}... (${(text.length - max).toLocaleString('en-US')} more characters)` : shown;
}

/** Whether a text holds anything terminalSafe would escape. */
export function hasUnsafeText(text: string): boolean {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(text);
}

/** A session name given by a user: refused when empty, too long, or holding control characters. */
export const MAX_NAME_LENGTH = 200;
export function checkSessionName(name: string): string | null {
  if (name.trim() === '') return 'the session name is empty';
  if (name.length > MAX_NAME_LENGTH) return `the session name is longer than ${MAX_NAME_LENGTH} characters (${name.length.toLocaleString('en-US')})`;
  if (hasUnsafeText(name)) return `the session name contains control characters (${terminalSafe(name, 60)})`;
  return null;
}
