import type { DB } from '../store/db';
import { UserError } from '../../shared/errors';
import { analyze, type AbReport } from '../ab/analysis';
import { abRunContext, loadAbRun } from '../store/ab-runs';
import { abDistribution } from '../api/ab-queries';
import type { AbDistribution } from '../../shared/api';
import type { HostLike } from './data';

/**
 * The A/B section of the report. The numbers are main/ab/analysis.ts's, computed from the
 * stored rows exactly as `memoplan ab --json` computes them (same seed, same sample order), so
 * the report and the command agree. Added here: the run's machine and each arm's latency
 * distribution as the A/B view draws it (main/api/ab-queries.ts abDistribution: box, CDF, run
 * medians, a thinned strip). The raw samples never reach the page.
 */

export interface AbData {
  report: AbReport;
  cwd: string;
  host: HostLike | null;
  python: string | null;
  torchVersion: string | null;
  startedAt: string;
  endedAt: string | null;
  config: Record<string, unknown>;
  /** Per arm (same order as report.arms). */
  distributions: AbDistribution[];
}

function parse<T>(t: unknown, fb: T): T {
  if (typeof t !== 'string') return fb;
  try {
    return JSON.parse(t) as T;
  } catch {
    return fb;
  }
}

export function loadAbData(db: DB, abId: number): AbData {
  const stored = loadAbRun(db, abId);
  if (!stored) throw new UserError(`no A/B run ${abId} in this database`);
  const row = abRunContext(db, abId)!;
  const report = analyze(stored);
  return {
    report,
    cwd: String(row.cwd ?? ''),
    host: parse<HostLike | null>(row.host, null),
    python: (row.python as string | null) ?? null,
    torchVersion: (row.torch_version as string | null) ?? null,
    startedAt: String(row.started_at),
    endedAt: (row.ended_at as string | null) ?? null,
    config: parse<Record<string, unknown>>(row.config, {}),
    distributions: stored.arms.map(abDistribution),
  };
}
