import { workerData } from 'node:worker_threads';
import { attachProcess, type AttachHandle } from '../session/attach';
import { openDatabase } from '../store/db';
import { emit, onStop, post, runTask } from './worker-side';
import { iterationCount } from '../store/iterations';

/**
 * An attach from the UI (attach.start) in a worker thread: attachProcess() of
 * main/session/attach.ts (preflight, gdb injection, polling the trace while attached, detach,
 * store), on a database connection of its own, so that serve keeps answering while the trace
 * is ingested. 'started' is posted once the target is attached; a stop request from the main
 * thread detaches (handle.detach()): the target keeps running.
 */

export interface AttachWorkerData {
  dbFile: string;
  runId: number;
  pid: number;
  duration?: number;
}

/** Posted once attached. */
export interface AttachStarted {
  sessionId: number;
  pid: number;
  notes: string[];
}

export interface AttachDone {
  events: number;
  iterations: number;
  targetExited: boolean;
  detachedElsewhere: boolean;
}

const d = workerData as AttachWorkerData;
const db = openDatabase(d.dbFile);
const notes: string[] = [];
let handle: AttachHandle | null = null;
let stopRequested = false;
let lastProgress = { t: 0, events: 0 };

onStop(() => {
  if (stopRequested) return false;
  stopRequested = true;
  handle?.detach(); // not attached yet: detached as soon as attachProcess() returns
  return true;
});

const iterationsOf = (id: number) => iterationCount(db, id);

runTask(async (): Promise<AttachDone> => {
  try {
    handle = await attachProcess({
      db,
      dbFile: d.dbFile,
      pid: d.pid,
      duration: d.duration,
      ops: true,
      onNote: (message) => {
        notes.push(message);
        if (handle) emit('attach.note', { runId: d.runId, sessionId: handle.sessionId, message });
      },
      onProgress: (p) => {
        if (!handle) return;
        const now = Date.now();
        const eventsPerSecond = lastProgress.t ? ((p.events - lastProgress.events) * 1000) / Math.max(1, now - lastProgress.t) : p.events / Math.max(0.001, p.seconds);
        lastProgress = { t: now, events: p.events };
        emit('attach.progress', {
          runId: d.runId, sessionId: handle.sessionId, pid: d.pid, seconds: p.seconds, events: p.events, eventsPerSecond, liveBytes: p.liveBytes,
          iterations: iterationsOf(handle.sessionId),
        });
      },
    });
    const started: AttachStarted = { sessionId: handle.sessionId, pid: handle.pid, notes: [...notes] };
    post({ type: 'started', info: started });
    if (stopRequested) handle.detach();
    const r = await handle.done;
    return { events: r.summary.events, iterations: iterationsOf(r.sessionId), targetExited: r.targetExited, detachedElsewhere: r.detachedElsewhere };
  } finally {
    db.close();
  }
});
