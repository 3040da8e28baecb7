import type { DB } from '../store/db';
import { UserError } from '../../shared/errors';
import { loadAbData, type AbData } from './ab-data';
import type { IterationColumns } from '../../shared/charts/iterations';
import type { AbSweep, LiveReply, MapReply, PlanSetInfo, StoredPlanInfo, TimelineReply, TopReply } from '../../shared/api';
import { loadSweepGrid } from '../ab/sweep-grid';
import { sweepOfRun, sweepsUsingSessionPlans } from '../store/ab-sweeps';
import { listPlanSetInfo } from '../plan/plan-set-info';
import { planSessionId, planSetSizes } from '../store/plans';
import { hasAbTables } from '../store/ab-runs';
import { processAndThreadCounts, sessionRow } from '../store/sessions';
import { timelineBucketCount } from '../store/timeline';
import { firstLatencies, iterationCount, iterationsInOrder, lastOffSignature, signatureCounts } from '../store/iterations';
import { bytesAllocated, distinctScopes, scopeTotals } from '../store/op-stats';
import { replaysOf } from '../store/replays';
import { live, memoryMap, planInfos, timeline, top } from '../api/queries';

/**
 * What the offline report shows, read from the database as aggregates only: the session row,
 * op_stats, the timeline (<= 2048 buckets), iterations, plans with their buffers (capped),
 * replays, A/B summaries and sweep grids (the sweep of --ab, and every sweep that ran a plan of
 * the session: main/ab/sweep-grid.ts). What the app's views show too comes from the same
 * functions as their API calls (main/api/queries.ts: timeline, top, live, planInfos, memoryMap;
 * main/api/ab-queries.ts abDistribution), so that the charts of shared/charts/ draw the same
 * replies in both. Nothing here scans the raw events table, so a report of a
 * multi-million-event session costs about the same as a small one. The one exception is the peak
 * breakdown (main/store/live.ts): the allocations rows that the timeline's id ranges leave
 * possible are read and the live ones joined to their events (about 0.3 s at 5M events).
 */

export interface HostLike {
  cpu?: string;
  cores?: number;
  memory_bytes?: number;
  kernel?: string;
  hostname?: string;
  platform?: string;
}

export interface OpTotal {
  name: string;
  allocs: number;
  bytes: number;
  maxSize: number;
}

export interface TargetInfo {
  id: number;
  name: string;
  command: string[];
  cwd: string;
  status: string;
  exitCode: number | null;
  signal: string | null;
  startedAt: string;
  endedAt: string | null;
  python: string | null;
  torchVersion: string | null;
  agentOps: boolean;
  host: HostLike | null;
}

export interface SummaryInfo {
  events: number;
  eventsClaimed: number | null;
  markers: number;
  allocations: number;
  liveAtExit: number;
  iterations: number;
  ops: number;
  processes: number;
  threads: number;
  peakLiveBytes: number | null;
  durationNs: number | null;
  bytesAllocated: number;
  distinctOps: number;
  distinctModules: number;
  /** Bytes allocated by op and by module over the session, largest first (the `overview.top` reply of the whole session). */
  topOps: TopReply;
  topModules: TopReply;
  topOpsByCount: OpTotal[];
  topModulesByCount: OpTotal[];
}

/** The iterations as the report's chart draws them (shared/charts/iterations.ts), and their signatures. */
export interface IterationsData extends IterationColumns {
  total: number;
  shown: number;
  /** Distinct signatures, most frequent first (IterationColumns.sig indexes them). */
  signatures: { signature: string; count: number; first: number }[];
  /** Share of complete iterations with the most frequent signature. */
  modalShare: number | null;
  /** First iteration number from which every later complete iteration has the modal signature. */
  steadyFrom: number | null;
}

export interface ReplayInfo {
  sessionId: number;
  sessionName: string | null;
  planId: number | null;
  /** The plan set run (set:ID); null for a single plan. */
  setId: number | null;
  /** Plans in that set (k), when it is still in the database. */
  setPlans: number | null;
  /** Plans of the set that served an iteration, and iterations no plan of it served (null for a single plan). */
  signaturesServed: number | null;
  iterationsUnplanned: number | null;
  planFile: string;
  threads: number;
  status: string;
  refusal: string | null;
  hits: number | null;
  misses: number | null;
  hitBytes: number | null;
  missBytes: number | null;
  hitRate: number | null;
  byteHitRate: number | null;
  arenaBytes: number | null;
  iterationsServed: number | null;
  retirements: number | null;
  medianLatencyNs: number | null;
  /** Per-iteration latency of the replay session, in iteration order (the first 2,000). */
  latenciesNs: number[];
}

export interface ReportData {
  generatedAt: string;
  memoplanVersion: string;
  target: TargetInfo;
  summary: SummaryInfo;
  /** Every timeline bucket (grouped only above LIMITS.timelinePoints): the `overview.timeline` reply of the whole session. */
  timeline: TimelineReply;
  iterations: IterationsData;
  /** The session's plans, oldest first (those the app's plan.list lists, all of them). */
  plans: StoredPlanInfo[];
  /** The session's plan sets, newest first (memoplan plan --signatures all). */
  planSets: PlanSetInfo[];
  /** The plan whose memory map is drawn (--plan, else the best plan of the session). */
  shownPlanId: number | null;
  /** The `plan.map` reply of that plan, its `memoryMapCap` largest buffers. */
  memoryMap: MapReply | null;
  memoryMapCap: number;
  replays: ReplayInfo[];
  ab: AbData | null;
  /** Sweeps (memoplan ab --vary) to draw: the one --ab is a cell of, then those whose plan arms ran a plan of this session. */
  sweeps: AbSweep[];
  /** What is live at the peak (the `overview.live` reply, PEAK_ROWS rows per grouping); null when the session has no allocation events. */
  peak: LiveReply | null;
}

export interface ReportOptions {
  sessionId: number;
  planId?: number;
  abId?: number;
  /** Most rectangles in the memory map (the largest buffers are kept). */
  mapCap?: number;
  /** Most iterations listed (the first ones are kept). */
  iterationCap?: number;
  topN?: number;
  version?: string;
}

export const DEFAULT_MAP_CAP = 3000;
export const DEFAULT_ITERATION_CAP = 20000;
const REPLAY_STATUS = ['no plan', 'observing', 'serving', 'refused'];

function parseJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export function loadReportData(db: DB, o: ReportOptions): ReportData {
  const s = sessionRow(db, o.sessionId);
  if (!s) throw new UserError(`no session ${o.sessionId} in this database`);
  if (o.planId !== undefined) {
    const of = planSessionId(db, o.planId);
    if (of === undefined) throw new UserError(`no plan ${o.planId} in this database`);
    if (of !== o.sessionId) throw new UserError(`plan ${o.planId} belongs to session ${of}, not to session ${o.sessionId}`);
  }
  let ab: AbData | null = null;
  if (o.abId !== undefined) {
    if (!hasAbTables(db)) throw new UserError(`no A/B run ${o.abId}: this database has no A/B runs`);
    ab = loadAbData(db, o.abId);
  }
  const sweeps: AbSweep[] = [];
  for (const first of [...(o.abId !== undefined && sweepOfRun(db, o.abId) ? [o.abId] : []), ...sweepsUsingSessionPlans(db, o.sessionId)]) {
    const g = loadSweepGrid(db, first);
    if (g && !sweeps.some((x) => x.id === g.id)) sweeps.push(g);
  }
  const topN = o.topN ?? 15;
  const target = loadTarget(s);
  const summary = loadSummary(db, s, topN);
  // Every bucket, one point each (the API's grouping of the whole session into as many points as buckets).
  const tl = timeline(db, o.sessionId, { points: Math.max(1, timelineBucketCount(db, o.sessionId)) });
  const iterations = loadIterations(db, o.sessionId, o.iterationCap ?? DEFAULT_ITERATION_CAP);
  const plans = planInfos(db, o.sessionId);
  let shownPlanId = o.planId ?? null;
  if (shownPlanId === null && plans.length) {
    const best = plans.filter((p) => p.best);
    const pool = best.length ? best : plans;
    shownPlanId = pool.reduce((a, b) => (b.arenaBytes < a.arenaBytes || (b.arenaBytes === a.arenaBytes && b.planId > a.planId) ? b : a)).planId;
  }
  const mapCap = o.mapCap ?? DEFAULT_MAP_CAP;
  const map = shownPlanId === null ? null : memoryMap(db, shownPlanId, mapCap);
  const planSets = listPlanSetInfo(db, o.sessionId);
  const replays = loadReplays(db, o.sessionId, plans.map((p) => p.planId), planSets.map((s) => s.setId));
  const peak = timelineBucketCount(db, o.sessionId) ? live(db, { session: o.sessionId, limit: PEAK_ROWS }) : null;
  return {
    generatedAt: new Date().toISOString(),
    memoplanVersion: o.version ?? 'unknown',
    target,
    summary,
    timeline: tl,
    iterations,
    plans,
    planSets,
    shownPlanId,
    memoryMap: map,
    memoryMapCap: mapCap,
    replays,
    ab,
    sweeps,
    peak,
  };
}

/** Rows per grouping of the peak: the icicle's stacks (the tables show the report's top N of them). */
export const PEAK_ROWS = 300;

function loadTarget(s: Record<string, unknown>): TargetInfo {
  const command = parseJson<unknown>(s.command as string, []);
  return {
    id: s.id as number,
    name: String(s.name),
    command: Array.isArray(command) ? command.map(String) : [String(command)],
    cwd: String(s.cwd),
    status: String(s.status),
    exitCode: (s.exit_code as number | null) ?? null,
    signal: (s.signal as string | null) ?? null,
    startedAt: String(s.started_at),
    endedAt: (s.ended_at as string | null) ?? null,
    python: (s.python as string | null) ?? null,
    torchVersion: (s.torch_version as string | null) ?? null,
    agentOps: s.agent_ops === undefined ? true : Boolean(s.agent_ops),
    host: parseJson<HostLike | null>((s.host as string | null) ?? null, null),
  };
}

function loadSummary(db: DB, s: Record<string, unknown>, topN: number): SummaryInfo {
  const id = s.id as number;
  const byCount = (key: 'op' | 'module'): OpTotal[] => scopeTotals(db, id, key, 'allocs', topN);
  const pt = processAndThreadCounts(db, id);
  const bytes = bytesAllocated(db, id);
  const distinct = distinctScopes(db, id);
  const tb = s.t_begin as number | null;
  const te = s.t_end as number | null;
  return {
    events: s.events as number,
    eventsClaimed: (s.events_claimed as number | null) ?? null,
    markers: s.markers as number,
    allocations: s.allocations as number,
    liveAtExit: s.live_at_exit as number,
    iterations: s.iterations as number,
    ops: s.ops as number,
    processes: pt.processes,
    threads: pt.threads,
    peakLiveBytes: (s.peak_live_bytes as number | null) ?? null,
    durationNs: tb !== null && te !== null ? te - tb : null,
    bytesAllocated: bytes,
    distinctOps: distinct.ops,
    distinctModules: distinct.modules,
    topOps: top(db, id, 'op', topN),
    topModules: top(db, id, 'module', topN),
    topOpsByCount: byCount('op'),
    topModulesByCount: byCount('module'),
  };
}

function loadIterations(db: DB, sessionId: number, cap: number): IterationsData {
  const total = iterationCount(db, sessionId);
  const rows = iterationsInOrder(db, sessionId, cap);
  // Signature counts over all iterations, not only the listed ones.
  const sigRows = signatureCounts(db, sessionId);
  const sigIndex = new Map(sigRows.map((r, i) => [r.signature, i]));
  const threadIds = [...new Set(rows.map((r) => r.thread_id))];
  const complete = sigRows.reduce((a, r) => a + r.count, 0);
  let steadyFrom: number | null = null;
  if (sigRows.length) {
    const modal = sigRows[0].signature;
    // per thread, the first number after which every iteration is modal; the max over threads
    const byThread = lastOffSignature(db, sessionId, modal);
    const froms = byThread.map((t) => (t.lastOff >= t.last ? null : t.lastOff + 1));
    steadyFrom = froms.some((f) => f === null) ? null : Math.max(...(froms as number[]));
  }
  return {
    total,
    shown: rows.length,
    number: rows.map((r) => r.number),
    thread: rows.map((r) => threadIds.indexOf(r.thread_id)),
    latencyNs: rows.map((r) => r.latency_ns),
    allocs: rows.map((r) => r.allocs),
    bytes: rows.map((r) => r.alloc_bytes),
    sig: rows.map((r) => (r.signature === null ? -1 : sigIndex.get(r.signature)!)),
    signatures: sigRows,
    modalShare: complete ? sigRows[0].count / complete : null,
    steadyFrom,
    threads: threadIds.length,
  };
}

function loadReplays(db: DB, sessionId: number, planIds: number[], setIds: number[]): ReplayInfo[] {
  // Replay sessions of this session's plans and plan sets, and this session's own replay row if it is one.
  const rows = replaysOf(db, sessionId, planIds, setIds);
  const sizes = planSetSizes(db, rows.map((r) => r.set_id as number | null).filter((x): x is number => x !== null));
  const latencies = firstLatencies(db);
  return rows.map((r) => {
    const hits = (r.hits as number | null) ?? null;
    const misses = (r.misses as number | null) ?? null;
    const hb = (r.hit_bytes as number | null) ?? null;
    const mb = (r.miss_bytes as number | null) ?? null;
    const inOrder = latencies(r.session_id as number);
    const lat = [...inOrder].sort((a, b) => a - b);
    const status = r.status as number | null;
    return {
      sessionId: r.session_id as number,
      sessionName: (r.session_name as string | null) ?? null,
      planId: (r.plan_id as number | null) ?? null,
      setId: (r.set_id as number | null) ?? null,
      setPlans: r.set_id === null ? null : sizes.get(r.set_id as number) || null,
      signaturesServed: r.set_id === null ? null : ((r.signatures_served as number | null) ?? null),
      iterationsUnplanned: r.set_id === null ? null : ((r.iterations_unplanned as number | null) ?? null),
      planFile: String(r.plan_file),
      threads: r.threads as number,
      status: status === null ? 'unknown' : (REPLAY_STATUS[status] ?? `status ${status}`),
      refusal: (r.refusal as string | null) ?? null,
      hits,
      misses,
      hitBytes: hb,
      missBytes: mb,
      hitRate: hits !== null && misses !== null && hits + misses > 0 ? hits / (hits + misses) : null,
      byteHitRate: hb !== null && mb !== null && hb + mb > 0 ? hb / (hb + mb) : null,
      arenaBytes: (r.arena_bytes as number | null) ?? null,
      iterationsServed: (r.iterations_served as number | null) ?? null,
      retirements: (r.retirements as number | null) ?? null,
      medianLatencyNs: lat.length ? (lat.length % 2 ? lat[(lat.length - 1) / 2] : (lat[lat.length / 2 - 1] + lat[lat.length / 2]) / 2) : null,
      latenciesNs: inOrder,
    };
  });
}
