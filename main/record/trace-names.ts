/**
 * The names file of a trace (docs/TRACE_FORMAT.md, "Files"): what the agent's scope and stack
 * names say. memoplan-ingest parses the same (native/ingest/session.cpp); the differential
 * test compares the rows both make.
 */

/** Names that are Python stacks rather than scopes (schema version 6). */
export const STACK_NAME_PREFIX = '@stack\t';

/**
 * "module<TAB>op[<TAB>stack]" -> [module, op, stack]: stack is the decimal name id of the
 * scope's Python stack, '' when there is none (names written before stacks, or by C callers).
 */
export function splitScope(name: string): [string, string, string] {
  const tab = name.indexOf('\t');
  if (tab < 0) return [name, '', ''];
  const tab2 = name.indexOf('\t', tab + 1);
  if (tab2 < 0) return [name.slice(0, tab), name.slice(tab + 1), ''];
  const stack = name.slice(tab2 + 1);
  return [name.slice(0, tab), name.slice(tab + 1, tab2), /^\d{1,10}$/.test(stack) ? stack : ''];
}
