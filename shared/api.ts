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
import type { PlanRow, SessionSummary } from './types';

export type { PlanRow, SessionSummary } from './types';

/** Planner names the UI may run (the registry in main/plan/index.ts). */
export const UI_PLANNERS = ['all', 'greedy-size', 'greedy-breadth', 'first-fit', 'best-fit', 'exact'] as const;
export type UiPlanner = (typeof UI_PLANNERS)[number];

/** Upper bounds the server enforces; the UI shows when it hit them. */
export const LIMITS = {
  timelinePoints: 2000,
  topRows: 50,
  mapRects: 20000,
  replayLive: 5000,
  planTimeLimitSeconds: 60,
  launchArgs: 256,
  argLength: 4096,
  nameLength: 200,
} as const;

export interface SessionsList {
  /** The database this process serves (absolute path). */
  dbFile: string;
  /** True in the desktop app, where db.open shows a file dialog. */
  canOpenDatabase: boolean;
  sessions: SessionSummary[];
  /** Session ids being recorded right now by this process. */
  recording: number[];
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
  points: TimelinePoint[];
  iterations: { number: number; t0: number; t1: number }[];
  peakLiveBytes: number | null;
}

export interface TopRequest {
  session: number;
  by: 'op' | 'module';
  limit?: number;
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
  /** Absent = the default steady-state iteration. */
  iteration?: number;
  algorithm: UiPlanner;
  /** Exact solver's limit in seconds (default 2). */
  timeLimit?: number;
}

export interface PlanRunReply {
  session: number;
  iteration: number;
  because: string;
  buffers: number;
  rows: (PlanRow & { baseline_span_bytes: number })[];
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
  'plan.iterations': { req: { session: number }; res: IterationsReply };
  'plan.list': { req: { session: number }; res: StoredPlanInfo[] };
  'plan.run': { req: PlanRunRequest; res: PlanRunReply };
  'plan.map': { req: MapRequest; res: MapReply };
  'replay.info': { req: { plan: number }; res: ReplayInfo };
  'replay.at': { req: ReplayRequest; res: ReplayState };
}

export type ApiMethod = keyof ApiMethods;
export type ApiRequest<M extends ApiMethod> = ApiMethods[M]['req'];
export type ApiResponse<M extends ApiMethod> = ApiMethods[M]['res'];

export const API_METHODS: readonly ApiMethod[] = [
  'sessions.list', 'sessions.rename', 'sessions.delete', 'db.open', 'record.defaults', 'record.start', 'record.stop',
  'overview.timeline', 'overview.top', 'plan.iterations', 'plan.list', 'plan.run', 'plan.map', 'replay.info', 'replay.at',
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
