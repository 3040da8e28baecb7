/** Event kinds of the trace format (docs/TRACE_FORMAT.md). Shared by ingest, queries and UI. */
export const Kind = {
  malloc: 1,
  calloc: 2,
  realloc: 3,
  free: 4,
  realloc_free: 5,
  posix_memalign: 6,
  aligned_alloc: 7,
  memalign: 8,
  valloc: 9,
  pvalloc: 10,
  reallocarray: 11,
  realloc_failed: 12,
  iter_begin: 32,
  iter_end: 33,
  thread_exit: 34,
  fork: 35,
} as const;

export type KindName = keyof typeof Kind;

const NAMES: Record<number, KindName> = Object.fromEntries(
  Object.entries(Kind).map(([name, code]) => [code, name as KindName]),
);

export function kindName(code: number): KindName | `unknown(${number})` {
  return NAMES[code] ?? `unknown(${code})`;
}

/** Kinds that hand a new block to the program (when the call did not fail). */
export function isAllocKind(kind: number): boolean {
  return (kind >= 1 && kind <= 3) || (kind >= 6 && kind <= 11);
}

/** Kinds that end the life of a block. */
export function isFreeKind(kind: number): boolean {
  return kind === Kind.free || kind === Kind.realloc_free;
}

export function isMarkerKind(kind: number): boolean {
  return kind >= 32;
}

/**
 * The interposer's marker at the end of a served iteration (plan mode): addr = hits, size =
 * misses, and its scope field is the index of the serving plan in the plan set, plus 1, not a
 * name id (docs/TRACE_FORMAT.md); the ingest stores no scope for it.
 */
export const KIND_PLAN_ITER = 36;

export const RECORD_FLAG_FAILED = 1;
/** Record flags bit1: made inside the agent's own code (memoplan_agent_enter/leave): the
 *  profiler's allocation, left out of iteration signatures and plans. */
export const RECORD_FLAG_AGENT = 2;
