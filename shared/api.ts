/**
 * The one contract between the renderer and the main process: every call (request and
 * response types per method) and every pushed event. Two transports carry it and the renderer
 * does not know which one it runs on:
 *
 *   - Electron: preload.ts exposes `window.memoplan` (MemoplanBridge) over IPC;
 *   - `memoplan serve`: POST /api/<method>?token=T with a JSON body (the request), answered
 *     with an ApiReply; events are pushed over the WebSocket /ws?token=T as ApiEvent frames.
 *
 * Main validates every request (main/api/validate.ts) before a handler sees it; the renderer is
 * never trusted to name a file or a command, except what the user typed into the launch form or
 * picked in a native dialog. This file has no runtime dependencies: only types and constants.
 */
import type { ArmReport, PlanRow, ReplaySummary, SessionSummary } from './types';

export type { PlanRow, SessionSummary } from './types';

/** Planner names the UI may run (the registry in main/plan/index.ts). */
export const UI_PLANNERS = ['all', 'greedy-size', 'greedy-breadth', 'first-fit', 'best-fit', 'exact'] as const;
export type UiPlanner = (typeof UI_PLANNERS)[number];

/** Upper bounds the server enforces; the UI shows when it hit them. */
export const LIMITS = {
  timelinePoints: 2000,
  topRows: 50,
  liveRows: 500,
  mapRects: 20000,
  replayLive: 5000,
  planTimeLimitSeconds: 60,
  launchArgs: 256,
  argLength: 4096,
  nameLength: 200,
  abThreadCounts: 8,
  abMaxThreads: 256,
  abMaxRuns: 200,
  /** Points of one arm's CDF sent to the renderer. */
  abCdfPoints: 256,
  /** Samples of one arm drawn as dots (strip chart); the box plot uses every sample. */
  abStripPoints: 400,
} as const;

/** Allocators the A/B view offers (main/ab/allocators.ts). */
export const AB_ALLOCATORS = ['glibc', 'jemalloc', 'tcmalloc', 'mimalloc', 'plan', 'plan+jemalloc', 'plan+tcmalloc', 'plan+mimalloc'] as const;
export type AbAllocator = (typeof AB_ALLOCATORS)[number];
/** `plan` (over glibc) or `plan+ALLOCATOR` (over that allocator): an arm that runs a plan. */
export function isPlanArmName(name: string): boolean {
  return name === 'plan' || name.startsWith('plan+');
}

export interface SessionsList {
  /** The database this process serves (absolute path). */
  dbFile: string;
  /** True in the desktop app, where db.open shows a file dialog. */
  canOpenDatabase: boolean;
  /**
   * Why the database cannot be used (not SQLite, another program's SQLite file, a newer
   * memoplan's schema...), or null. While set, sessions is empty and calls that need the
   * database refuse with the same message.
   */
  dbError: string | null;
  sessions: SessionSummary[];
  /** Session ids being recorded right now by this process. */
  recording: number[];
  /** Sessions recorded by a live replay (memoplan replay -- CMD): views open on a recorded one first. */
  replays: number[];
}

export interface RecordDefaults {
  /** The bundled example workload (absolute path). */
  exampleScript: string;
  exampleArgs: string[];
  /** Working directory of this process: the default cwd of a launch. */
  cwd: string;
  /** An empty interpreter means: find a python3 that imports torch (main/record/python.ts). */
  interpreter: string;
}

export interface LaunchRequest {
  /** '' = find one that imports torch; else a path or name of a Python interpreter. */
  interpreter: string;
  /** A .py file (relative to cwd or absolute). */
  script: string;
  args: string[];
  cwd: string;
  /** Session name; default the script's name. */
  name?: string;
  /** Attribute aten ops (default true). */
  ops?: boolean;
}

export interface RecordingInfo {
  runId: number;
  sessionId: number;
  pid: number | null;
  command: string[];
  notes: string[];
}

export interface AttachRequest {
  /** A pid the processes.list reply shows (a local process with torch loaded, readable by us). */
  pid: number;
  /** Seconds to record (0.5..3600); absent = until attach.stop or the target exits. */
  duration?: number;
}

export interface AttachInfo {
  runId: number;
  sessionId: number;
  pid: number;
  notes: string[];
}

export interface TimelineRequest {
  session: number;
  /** Visible range in ns since the session's clock base; absent = the whole session. */
  t0?: number;
  t1?: number;
  /** Points wanted (about the chart's width in pixels); capped at LIMITS.timelinePoints. */
  points?: number;
}

export interface TimelinePoint {
  t: number;
  /** Live bytes at the end of the group and the maximum within it. */
  live: number;
  max: number;
  allocs: number;
  frees: number;
  /** At event resolution: the scope (key of TimelineReply.scopes) of the group's largest allocation. */
  scope?: number | null;
}

export interface TimelineReply {
  session: number;
  /** The session's full extent (ns since its clock base). */
  tBegin: number;
  tEnd: number;
  /** The range this reply covers. */
  t0: number;
  t1: number;
  /** Timeline buckets inside the range and the points they were grouped into. */
  buckets: number;
  /**
   * Where the points come from: the timeline table's buckets, or, when the range covers too few
   * buckets to fill the chart, the range's allocation and free events (main/store/timeline-detail.ts).
   */
  source: 'timeline' | 'events';
  /** Allocation and free events aggregated when source is 'events', else null. */
  events: number | null;
  points: TimelinePoint[];
  iterations: { number: number; t0: number; t1: number }[];
  peakLiveBytes: number | null;
  /** The module and op of the scopes the points name (source 'events'). */
  scopes?: Record<string, { module: string; op: string }>;
}

export interface TopRequest {
  session: number;
  by: 'op' | 'module';
  limit?: number;
  /** A time range (ns since the session's clock base): bytes allocated in it; absent = the whole session. */
  t0?: number;
  t1?: number;
}

export interface TopRow {
  name: string;
  bytes: number;
  allocs: number;
  maxSize: number;
}

export interface TopReply {
  session: number;
  by: 'op' | 'module';
  rows: TopRow[];
  /** Totals over every row, shown rows or not. */
  totalBytes: number;
  totalAllocs: number;
  /** Rows left out by the limit. */
  omitted: number;
  /** The range summed (ns), or null for the whole session. */
  range: { t0: number; t1: number } | null;
}

/** What is live at an instant: the session's peak (neither t nor iteration), an iteration's peak, or time t. */
export interface LiveRequest {
  session: number;
  /** ns since the session's clock base. */
  t?: number;
  /** An iteration number: its peak. */
  iteration?: number;
  /** Rows per grouping (LIMITS.liveRows at most). */
  limit?: number;
}

export interface LiveGroupRow {
  /** As `memoplan top --json` prints it (stack: frames joined by ';'). */
  key: string;
  bytes: number;
  count: number;
  /** Outermost first: module path components, the op, or "file:line function" frames. */
  frames: string[];
}

export interface LiveReply {
  session: number;
  /** The instant (ns since the session's clock base). */
  t: number;
  /** 'peak', 'iteration:K' or the time asked for. */
  at: string;
  /** The iteration running at t. */
  iteration: number | null;
  liveBytes: number;
  liveCount: number;
  /** Largest first; each list adds up to liveBytes with its `omitted` part. */
  byModule: LiveGroupRow[];
  byOp: LiveGroupRow[];
  byStack: LiveGroupRow[];
  /** Groups and bytes left out by the limit, per list. */
  omitted: { module: [number, number]; op: [number, number]; stack: [number, number] };
}

export interface IterationInfo {
  number: number;
  allocs: number;
  allocBytes: number;
  latencyMs: number | null;
  complete: boolean;
  signature: string | null;
}

export interface IterationsReply {
  session: number;
  iterations: IterationInfo[];
  /** What `memoplan plan` picks without --iteration (null when none is complete). */
  defaultIteration: number | null;
  because: string | null;
}

export interface StoredPlanInfo {
  planId: number;
  session: number;
  iteration: number;
  algorithm: string;
  arenaBytes: number;
  lowerBoundBytes: number;
  baselineSpanBytes: number | null;
  ratio: number;
  seconds: number;
  optimal: boolean;
  best: boolean;
  buffers: number;
  unplannableAllocs: number;
  unplannableBytes: number;
  createdAt: string;
}

export interface PlanRunRequest {
  session: number;
  /** Absent = the default steady-state iteration. Not with `signatures`. */
  iteration?: number;
  algorithm: UiPlanner;
  /** Exact solver's limit in seconds (default 2); with `signatures: 'all'`, for the whole set. */
  timeLimit?: number;
  /**
   * 'all': plan every repeating iteration signature of the session as one plan set
   * (`memoplan plan --signatures all`, main/plan/plan-set.ts); the reply is a PlanSetRunReply.
   */
  signatures?: 'all';
}

/** One plan of a plan set (plan_sets; docs/PLAN_FORMAT.md "Plan sets"), in set order. */
export interface PlanSetMemberInfo {
  planId: number;
  /** The signature of the iteration planned, as the recording stores it (plans.signature). */
  signature: string;
  /** The signature in the set file (after the size floor): a plan.run reply; null in a listing (not stored). */
  planSignature: string | null;
  /** The iteration signatures (as stored) this plan serves; a listing knows only its own. */
  iterationSignatures: string[];
  /** Iterations of the recording with this signature. */
  iterationsSeen: number;
  /** The iteration planned. */
  iteration: number;
  /** The set file's input-shape key; null: none (no key is written yet). */
  shapeKey: string | null;
  algorithm: string;
  buffers: number;
  arenaBytes: number;
  lowerBoundBytes: number;
  /** arena / lower bound (1 when the bound is 0). */
  ratio: number;
}

/** A signature of the recording that has no plan in the set, and why. */
export interface PlanSetLeftOutInfo {
  signature: string;
  iterations: number;
  reason: string;
}

export interface PlanSetInfo {
  setId: number;
  session: number;
  /** The planner asked for. */
  algorithm: string;
  createdAt: string;
  /** Allocations at or below it are not planned (one floor for the whole set); null when not known (a listing). */
  sizeFloor: number | null;
  plans: PlanSetMemberInfo[];
  leftOut: PlanSetLeftOutInfo[];
  /**
   * 'planning': the reasons the planning run gave (a plan.run reply). 'recording': derived from
   * the recording's iterations afterwards (a listing: the reasons are not stored).
   */
  leftOutFrom: 'planning' | 'recording';
}

/** plan.run with `signatures: 'all'`. */
export interface PlanSetRunReply {
  session: number;
  set: PlanSetInfo;
}

export interface PlanRunReply {
  session: number;
  iteration: number;
  because: string;
  buffers: number;
  rows: (PlanRow & { baseline_span_bytes: number })[];
  /** Only a PlanSetRunReply has a set. */
  set?: undefined;
}

export interface MapRequest {
  plan: number;
  /** Most rectangles wanted (largest buffers first); capped at LIMITS.mapRects. */
  maxRects?: number;
}

/** One buffer as a rectangle: [start, end) in logical time × [offset, offset + size). */
export interface MapRect {
  ordinal: number;
  start: number;
  end: number;
  offset: number;
  size: number;
  /** Index into MapReply.modules / ops. */
  module: number;
  op: number;
}

export interface MapReply {
  plan: number;
  algorithm: string;
  arenaBytes: number;
  lowerBoundBytes: number;
  events: number;
  total: number;
  shown: number;
  /** Bytes of the buffers shown / of all buffers. */
  shownBytes: number;
  totalBytes: number;
  modules: string[];
  ops: string[];
  rects: MapRect[];
}

export interface ReplayInfo {
  plan: number;
  events: number;
  arenaBytes: number;
  buffers: number;
  /** The event after which the most planned bytes are live (the view opens there), and those bytes. */
  peakEvent: number;
  peakBytes: number;
}

export interface ReplayRequest {
  plan: number;
  k: number;
}

export interface ReplayBuffer {
  ordinal: number;
  offset: number;
  size: number;
  addr: number;
  start: number;
  end: number;
  module: string;
  op: string;
}

export interface ReplayState {
  plan: number;
  k: number;
  events: number;
  event: { kind: 'alloc' | 'free'; ordinal: number; size: number; module: string; op: string };
  liveCount: number;
  liveBytes: number;
  arenaHighWater: number;
  arenaBytes: number;
  system: { liveSpan: number; lowAddr: number | null; highAddr: number | null };
  /** Live buffers, largest first when capped (liveCount tells how many there are). */
  live: ReplayBuffer[];
}

/** The workload of a run (replay live, A/B): the same checks as the Record view's launch form. */
export interface WorkloadForm {
  /** '' = find one that imports torch; else a path or name of a Python interpreter. */
  interpreter: string;
  /** A .py file (relative to cwd or absolute). */
  script: string;
  args: string[];
  cwd: string;
}

/** The launch form of a live replay, prefilled from the plan's session as it was recorded. */
export interface ReplayLiveDefaults extends WorkloadForm {
  plan: number;
  session: number;
  /** The session's command as launched (argv). */
  command: string[];
}

export interface ReplayLiveRequest extends WorkloadForm {
  /** The plan to serve; give either plan or set. */
  plan?: number;
  /** A plan set to serve (`memoplan replay --plan set:ID`). */
  set?: number;
  /** Serving threads (MEMOPLAN_SERVING_THREADS), default 1. */
  threads?: number;
}

export interface JobInfo {
  jobId: number;
  kind: 'replay' | 'ab';
  command: string[];
  notes: string[];
}

export interface ReplayLiveStarted extends JobInfo {
  sessionId: number;
  pid: number | null;
}

/** What a live replay found (main/replay/live.ts ReplaySummary, plus what the UI explains). */
export interface ReplayLiveSummary extends Omit<ReplaySummary, 'plan_file'> {
  /** True when the plan served nothing: the target ran on the system allocator. */
  unplanned: boolean;
  /** Lines the interposer wrote about the plan (its refusal reason, when refused). */
  interposer: string[];
}

export interface AbAllocatorInfo {
  name: AbAllocator;
  usable: boolean;
  /** Why not (the Debian package to install, or the interposer not built). */
  reason: string | null;
  library: string | null;
}

export interface AbStartRequest extends WorkloadForm {
  allocators: AbAllocator[];
  /** Plan id for the plan arm (required when allocators has 'plan'). */
  plan?: number;
  threads: number[];
  runs: number;
  warmup: number;
  /** Samples kept per serving thread after the warm-up; absent = all. */
  iterations?: number;
  baseline: AbAllocator;
  /** Kill a run after this many seconds (absent or 0 = never). */
  runTimeout?: number;
}

export interface AbStarted extends JobInfo {
  abRunId: number;
  arms: { allocator: string; threads: number }[];
  skipped: { name: string; reason: string }[];
  total: number;
}

/** One arm of an A/B: the objects of `memoplan ab --json`. */
export type AbArmReport = ArmReport;

/** The latency distribution of one arm, reduced in main to what the charts draw. */
export interface AbDistribution {
  allocator: string;
  threads: number;
  samples: number;
  /** [min, q1, median, q3, max] in ms (every sample). */
  box: [number, number, number, number, number] | null;
  /** [ms, cumulative fraction], at most LIMITS.abCdfPoints points. */
  cdf: [number, number][];
  /** Medians of each successful run (ms): the spread between processes. */
  runMedians: number[];
  /** Up to LIMITS.abStripPoints samples (ms), evenly spaced in sorted order. */
  strip: number[];
}

export interface AbRunSummary {
  id: number;
  status: string;
  command: string[];
  startedAt: string;
  endedAt: string | null;
  allocators: string[];
  threads: number[];
  runs: number;
  baseline: string;
  processes: number;
  failed: number;
  /** The sweep (`memoplan ab --vary`) this run is a cell of, or null. */
  sweep: AbRunSweepRef | null;
}

export interface AbRunSweepRef {
  /** Shared by every cell of one sweep ('untagged-N' for cells stored before sweeps had ids). */
  id: string;
  /** This cell's values of the varied names. */
  cell: Record<string, string>;
}

/** One setting of a sweep's grid: a varied name, or the serving thread counts when there are several. */
export interface AbSweepDim {
  /** The key in AbSweepPoint.coords: the varied NAME, or AB_SWEEP_THREADS. */
  key: string;
  label: string;
  values: string[];
}

/** The coords key of the serving-thread dimension (a space: no --vary NAME has one). */
export const AB_SWEEP_THREADS = 'serving threads';

/**
 * One cell of a sweep at one serving-thread count: the fastest plan arm that served its plan
 * against the fastest general-purpose allocator, as the terminal's grid summary
 * (main/ab/sweep.ts sweepPoints).
 */
export interface AbSweepPoint {
  abRunId: number;
  /** The A/B run's status (running, complete, interrupted). */
  status: string;
  /** Its value of every dimension (AbSweepDim.key). */
  coords: Record<string, string>;
  cell: Record<string, string>;
  threads: number;
  bestAllocator: string | null;
  bestPlan: string | null;
  /** Median latency plan / allocator; null: no verdict (see note). */
  latencyRatio: number | null;
  p99Ratio: number | null;
  /** Median peak RSS plan / allocator. */
  rssRatio: number | null;
  allocatorMedianMs: number | null;
  planMedianMs: number | null;
  allocatorRssBytes: number | null;
  planRssBytes: number | null;
  /** The plan arms that did not run their plan (refused, under 99% served), with why. */
  unplanned: string[];
  /** Why there is no ratio (null when there is one). */
  note: string | null;
}

/** One heatmap: the points with these values of the facet dimensions. */
export interface AbSweepPanel {
  /** 'NAME=value ...' of the facet dimensions; '' when there is one panel. */
  label: string;
  facet: Record<string, string>;
  /** Indices into AbSweep.points. */
  points: number[];
}

export interface AbSweep {
  id: string;
  /** The cells' A/B run ids, in order. */
  runs: number[];
  startedAt: string;
  /** The command of the first cell (each cell's has its own values). */
  command: string[];
  dims: AbSweepDim[];
  /** Keys (AbSweepDim.key) of the heatmap's axes; y null for a one-dimensional sweep. */
  x: string;
  y: string | null;
  /** Dimensions not on an axis: one panel per combination of their values. */
  facets: string[];
  panels: AbSweepPanel[];
  points: AbSweepPoint[];
  /** Cells × thread counts the sweep was to run, when known; more than points.length when it was cut short. */
  expected: number | null;
  /** What the layout leaves out or how it chose its axes, or null. */
  note: string | null;
}

export interface AbRunDetail {
  run: AbRunSummary;
  warmup: number;
  iterations: number | null;
  confidence: number;
  bootstrap: string;
  resamples: number;
  skipped: { name: string; reason: string }[];
  arms: AbArmReport[];
  distributions: AbDistribution[];
}

export interface ExportRequest {
  session: number;
  /** Write the offline HTML report (with this plan's memory map and this A/B run, when given). */
  report: boolean;
  plan?: number;
  ab?: number;
  /** Write a copy of the session as its own database. */
  database: boolean;
}

export interface ExportFile {
  kind: 'report' | 'database';
  name: string;
  bytes: number;
  /** Desktop: where the save dialog put it. Over HTTP: null (the file stays with the server). */
  path: string | null;
  /** Over HTTP: the download id; the page fetches `download/<id>?token=T`. */
  download: string | null;
}

export interface ExportReply {
  files: ExportFile[];
  /** Files the user chose not to save (save dialog cancelled). */
  cancelled: ('report' | 'database')[];
  /** Over HTTP: the folder the server writes exports to. */
  exportDir: string | null;
}

export interface TorchProcess {
  pid: number;
  /** argv from /proc/PID/cmdline. */
  command: string[];
  rssBytes: number;
  /** e.g. '3.11' (from libpython or the python binary in the maps, or the exe); null when unknown. */
  pythonVersion: string | null;
  /** The torch library the maps list (libtorch*.so or torch/_C*.so). */
  torchLib: string;
  exe: string | null;
}

export interface ProcessesReply {
  /** When the list was read (ms since the epoch). */
  scannedAt: number;
  processes: TorchProcess[];
  /** Processes whose maps could not be read (other users' processes). */
  unreadable: number;
  intervalMs: number;
}

/** Every method: its request and its response. */
export interface ApiMethods {
  'sessions.list': { req: Record<string, never>; res: SessionsList };
  'sessions.rename': { req: { id: number; name: string }; res: SessionSummary };
  'sessions.delete': { req: { id: number }; res: { deleted: number } };
  /** Desktop only: a file dialog; refused over HTTP. */
  'db.open': { req: Record<string, never>; res: { dbFile: string | null } };
  'record.defaults': { req: Record<string, never>; res: RecordDefaults };
  'record.start': { req: LaunchRequest; res: RecordingInfo };
  'record.stop': { req: { runId: number; signal: 'SIGINT' | 'SIGTERM' }; res: { sent: boolean } };
  'overview.timeline': { req: TimelineRequest; res: TimelineReply };
  'overview.top': { req: TopRequest; res: TopReply };
  /** Live bytes at an instant by module, aten op and Python stack (main/store/live.ts). */
  'overview.live': { req: LiveRequest; res: LiveReply };
  'plan.iterations': { req: { session: number }; res: IterationsReply };
  'plan.list': { req: { session: number }; res: StoredPlanInfo[] };
  /** A single plan (PlanRunReply), or with `signatures: 'all'` a plan set (PlanSetRunReply). */
  'plan.run': { req: PlanRunRequest; res: PlanRunReply | PlanSetRunReply };
  /** The session's plan sets, newest first, each with its plans in set order. */
  'plan.sets': { req: { session: number }; res: PlanSetInfo[] };
  'plan.map': { req: MapRequest; res: MapReply };
  'replay.info': { req: { plan: number }; res: ReplayInfo };
  'replay.at': { req: ReplayRequest; res: ReplayState };
  'replay.live.defaults': { req: { plan: number }; res: ReplayLiveDefaults };
  'replay.live.start': { req: ReplayLiveRequest; res: ReplayLiveStarted };
  'replay.live.stop': { req: { jobId: number; signal: 'SIGINT' | 'SIGTERM' }; res: { sent: boolean } };
  'ab.allocators': { req: Record<string, never>; res: AbAllocatorInfo[] };
  'ab.start': { req: AbStartRequest; res: AbStarted };
  /** Stops the A/B after the process that runs now; what was measured is kept. */
  'ab.stop': { req: { jobId: number }; res: { stopping: boolean } };
  'ab.list': { req: Record<string, never>; res: AbRunSummary[] };
  'ab.get': { req: { id: number }; res: AbRunDetail };
  /** The sweep that A/B run `id` is a cell of, as a grid; null when it is none's (or the sweep varies nothing). */
  'ab.sweep': { req: { id: number }; res: AbSweep | null };
  /** Desktop: one save dialog per file. Over HTTP: written to the server's exports folder, offered as downloads. */
  'export.run': { req: ExportRequest; res: ExportReply };
  /** The local processes with torch loaded (main scans /proc every 2 s while the list is watched). */
  'processes.list': { req: Record<string, never>; res: ProcessesReply };
  /** Attaches to a listed process (gdb injects the interposer) and records it in a worker thread; resolves once attached. */
  'attach.start': { req: AttachRequest; res: AttachInfo };
  /** Detaches (the target keeps running); the session is stored, then attach.done is pushed. */
  'attach.stop': { req: { runId: number }; res: { sent: boolean } };
  /** Running jobs (live replay, A/B) of this process, so a reloaded page can follow them. */
  'jobs.list': { req: Record<string, never>; res: JobInfo[] };
}

export type ApiMethod = keyof ApiMethods;
export type ApiRequest<M extends ApiMethod> = ApiMethods[M]['req'];
export type ApiResponse<M extends ApiMethod> = ApiMethods[M]['res'];

export const API_METHODS: readonly ApiMethod[] = [
  'sessions.list', 'sessions.rename', 'sessions.delete', 'db.open', 'record.defaults', 'record.start', 'record.stop',
  'overview.timeline', 'overview.top', 'overview.live', 'plan.iterations', 'plan.list', 'plan.run', 'plan.sets', 'plan.map', 'replay.info', 'replay.at',
  'replay.live.defaults', 'replay.live.start', 'replay.live.stop', 'ab.allocators', 'ab.start', 'ab.stop', 'ab.list', 'ab.get', 'ab.sweep',
  'export.run', 'processes.list', 'attach.start', 'attach.stop', 'jobs.list',
];

/** What a call answers on the wire (HTTP body; IPC return value). */
export type ApiReply<T = unknown> = { ok: true; result: T } | { ok: false; error: ApiErrorInfo };

export interface ApiErrorInfo {
  /** bad-request: the input was refused; user: a clear message about the data or environment; internal: a bug. */
  kind: 'bad-request' | 'user' | 'internal' | 'not-found' | 'unsupported';
  message: string;
}

/** Pushed events. */
export interface ApiEvents {
  'record.progress': {
    runId: number;
    sessionId: number;
    seconds: number;
    events: number;
    eventsPerSecond: number;
    liveBytes: number;
    iterations: number;
    processes: number;
  };
  'record.note': { runId: number; sessionId: number; message: string };
  'record.done': {
    runId: number;
    sessionId: number;
    exitCode: number | null;
    signal: string | null;
    /** Set when storing the trace failed. */
    error: string | null;
    events: number;
    iterations: number;
    /** Last lines the target wrote to stderr (when it failed). */
    stderrTail: string;
  };
  'replay.progress': { jobId: number; sessionId: number; seconds: number; events: number; iterations: number; liveBytes: number };
  'replay.note': { jobId: number; message: string };
  'replay.done': {
    jobId: number;
    sessionId: number;
    /** Null when the run could not be stored (error says why). */
    summary: ReplayLiveSummary | null;
    error: string | null;
    signal: string | null;
    stderrTail: string;
  };
  'ab.progress': {
    jobId: number;
    abRunId: number;
    allocator: string;
    threads: number;
    /** Run k of runs, process seq of total. */
    run: number;
    runs: number;
    seq: number;
    total: number;
    elapsedS: number;
    etaS: number | null;
  };
  'ab.result': { jobId: number; abRunId: number; allocator: string; threads: number; run: number; ok: boolean; reason: string | null; samples: number };
  'ab.note': { jobId: number; abRunId: number; message: string };
  'ab.done': { jobId: number; abRunId: number; status: string; error: string | null };
  'attach.progress': {
    runId: number;
    sessionId: number;
    pid: number;
    seconds: number;
    events: number;
    eventsPerSecond: number;
    liveBytes: number;
    iterations: number;
  };
  'attach.note': { runId: number; sessionId: number; message: string };
  'attach.done': {
    runId: number;
    sessionId: number;
    pid: number;
    /** Set when detaching or storing the trace failed (the session is then marked failed). */
    error: string | null;
    events: number;
    iterations: number;
    /** The target exited while attached. */
    targetExited: boolean;
    /** Detached by `memoplan detach PID` from elsewhere. */
    detachedElsewhere: boolean;
  };
  /** The torch process list changed (pushed while it is watched). */
  'processes.changed': ProcessesReply;
  /** The session list or the database changed. */
  'sessions.changed': { dbFile: string };
}

export type ApiEventName = keyof ApiEvents;
export type ApiEvent = { [E in ApiEventName]: { event: E; data: ApiEvents[E] } }[ApiEventName];

/** What preload.ts exposes as window.memoplan in the desktop app. */
export interface MemoplanBridge {
  call(method: ApiMethod, params: unknown): Promise<ApiReply>;
  /** Subscribes to pushed events; returns the unsubscribe function. */
  onEvent(listener: (e: ApiEvent) => void): () => void;
}

/** IPC channel names (Electron transport). */
export const IPC_CALL = 'memoplan:call';
export const IPC_EVENT = 'memoplan:event';
