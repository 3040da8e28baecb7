import fs from 'node:fs';

/**
 * The interposer's plan-mode counters for one run: at exit it writes one JSON line to
 * MEMOPLAN_PLAN_STATS. A run that died first, or an interposer without plan mode, leaves no
 * file: every field is then null.
 */

export interface PlanStats {
  status: string | null;
  hits: number | null;
  misses: number | null;
  hitBytes: number | null;
  missBytes: number | null;
  arenaBytes: number | null;
  iterationsServed: number | null;
  retirements: number | null;
  refusal: string | null;
  /** A plan set: plans that served at least one iteration (null: not reported, an older interposer). */
  signaturesServed: number | null;
  /** A plan set: iterations in which no plan was left (0 with a single plan). */
  iterationsUnplanned: number | null;
  /** One per plan of the set, in directory order; null when not reported. */
  signatures: PlanSignatureStats[] | null;
}

/** What one plan of a set served (MEMOPLAN_PLAN_STATS "signatures"). */
export interface PlanSignatureStats {
  signature: string;
  iterationsServed: number | null;
  hits: number | null;
  misses: number | null;
}

export const NO_PLAN_STATS: PlanStats = {
  status: null, hits: null, misses: null, hitBytes: null, missBytes: null, arenaBytes: null, iterationsServed: null, retirements: null, refusal: null,
  signaturesServed: null, iterationsUnplanned: null, signatures: null,
};

/** The interposer's status codes (native/interposer/plan.h). */
const STATUS_NAMES = ['no plan', 'observing', 'serving', 'refused'];

export function readPlanStats(file: string): PlanStats {
  let j: Record<string, unknown>;
  try {
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    j = JSON.parse(lines[lines.length - 1]);
  } catch {
    return NO_PLAN_STATS;
  }
  if (typeof j !== 'object' || j === null) return NO_PLAN_STATS;
  const numOf = (o: Record<string, unknown>, k: string) => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : null);
  const num = (k: string) => numOf(j, k);
  const str = (k: string) => (j[k] === undefined || j[k] === null || j[k] === '' ? null : String(j[k]));
  return {
    status: typeof j.status === 'number' ? STATUS_NAMES[j.status] ?? `status ${j.status}` : str('status'),
    hits: num('hits'),
    misses: num('misses'),
    hitBytes: num('hit_bytes'),
    missBytes: num('miss_bytes'),
    arenaBytes: num('arena_bytes'),
    iterationsServed: num('iterations_served'),
    retirements: num('retirements'),
    refusal: str('refusal'),
    signaturesServed: num('signatures_served'),
    iterationsUnplanned: num('iterations_unplanned'),
    signatures: Array.isArray(j.signatures)
      ? (j.signatures as unknown[])
          .filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null)
          .map((x) => ({ signature: String(x.signature ?? ''), iterationsServed: numOf(x, 'iterations_served'), hits: numOf(x, 'hits'), misses: numOf(x, 'misses') }))
      : null,
  };
}
