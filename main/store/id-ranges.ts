/**
 * Sets of row ids as sorted, disjoint, non-adjacent inclusive ranges [first, last]: how a
 * timeline bucket says where its rows lie (schema version 5, timeline.event_ranges), stored as
 * JSON text "[[first,last],...]". native/ingest/lifetimes.cpp writes the same text.
 */

export type IdRange = [number, number];

/** Sorts and merges ranges (overlapping or adjacent ones become one). */
export function mergeRanges(ranges: readonly IdRange[]): IdRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: IdRange[] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The stored text of merged ranges; null for none. */
export function formatRanges(ranges: readonly IdRange[]): string | null {
  return ranges.length ? JSON.stringify(mergeRanges(ranges)) : null;
}

/** Parses the stored text; null when it is not a list of [first, last] pairs of ids. */
export function parseRanges(text: string): IdRange[] | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(v)) return null;
  const out: IdRange[] = [];
  for (const r of v) {
    if (!Array.isArray(r) || r.length !== 2 || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1]) || r[0] < 1 || r[1] < r[0]) return null;
    out.push([r[0], r[1]]);
  }
  return out;
}

/** Rows the ranges cover. */
export function rangesWidth(ranges: readonly IdRange[]): number {
  return ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
}
