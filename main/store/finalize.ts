import type { DB } from './db';
import { POST_INGEST_INDEXES } from './schema';
import { Kind, isAllocKind, RECORD_FLAG_FAILED } from '../../shared/trace-kinds';

/**
 * Builds everything derived from a session's raw events once they are all in: allocations
 * (each alloc matched with its free), iterations with their signatures, the time-bucketed
 * timeline and per-op totals, and the session's counts. One pass over the events in
 * (ts, id) order: the interposer takes an allocation's timestamp after the real call returns
 * and a free's before it runs, so in that order an address is always released before anyone
 * can be handed it again (docs/TRACE_FORMAT.md), and pairing by address per process is exact.
 */

export const TIMELINE_BUCKETS = 1000;

interface EventRow {
  id: number;
  thread_id: number;
  ts: number;
  kind: number;
  addr: number | bigint;
  size: number | bigint;
  align: number;
  scope: number | null;
  flags: number;
}

interface Live {
  eventId: number;
  seq: number;
  threadId: number;
  kind: number;
  addr: number | bigint;
  size: number;
  align: number;
  scope: number | null;
  ts: number;
  iterationId: number | null;
}

interface ThreadState {
  processId: number;
  iterationId: number | null;
  iterationNumber: number;
  iterAllocs: number;
  iterBytes: number;
  iterHashA: number;
  iterHashB: number;
  /** A block released by a realloc whose outcome is not yet seen (realloc_failed undoes it). */
  pendingReallocFree: { live: Live; eventId: number; seq: number; ts: number; threadId: number } | null;
}

export interface FinalizeResult {
  events: number;
  markers: number;
  allocations: number;
  liveAtExit: number;
  iterations: number;
  ops: number;
  unmatchedFrees: number;
  peakLiveBytes: number;
}

function mix(h: number, v: number): number {
  return Math.imul(h ^ v, 0x01000193) >>> 0;
}

export function finalizeSession(db: DB, sessionId: number): FinalizeResult {
  db.exec(POST_INGEST_INDEXES);
  const threads = new Map<number, ThreadState>();
  for (const t of db.prepare(`SELECT id, process_id FROM threads WHERE session_id = ?`).all(sessionId) as {
    id: number;
    process_id: number;
  }[]) {
    threads.set(t.id, {
      processId: t.process_id,
      iterationId: null,
      iterationNumber: 0,
      iterAllocs: 0,
      iterBytes: 0,
      iterHashA: 0x811c9dc5,
      iterHashB: 0x12345678,
      pendingReallocFree: null,
    });
  }
  const span = db
    .prepare(`SELECT min(ts) AS t0, max(ts) AS t1 FROM events WHERE session_id = ?`)
    .get(sessionId) as { t0: number | null; t1: number | null };
  const t0 = span.t0 ?? 0;
  const t1 = span.t1 ?? 0;
  const width = Math.max(1, Math.ceil((t1 - t0 + 1) / TIMELINE_BUCKETS));

  const insertAlloc = db.prepare(
    `INSERT INTO allocations (session_id, process_id, thread_id, iteration_id, seq, free_seq, alloc_event, free_event,
       kind, addr, size, align, scope, t_alloc, t_free, free_thread_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertIteration = db.prepare(
    `INSERT INTO iterations (session_id, process_id, thread_id, number, t_begin, begin_seq) VALUES (?, ?, ?, ?, ?, ?)`,
  );
  const closeIteration = db.prepare(
    `UPDATE iterations SET t_end = ?, end_seq = ?, latency_ns = ?, allocs = ?, alloc_bytes = ?, signature = ? WHERE id = ?`,
  );
  const insertBucket = db.prepare(
    `INSERT INTO timeline (session_id, bucket, t0, t1, allocs, frees, bytes_allocated, live_bytes_end, live_bytes_max)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertOpStat = db.prepare(
    `INSERT INTO op_stats (session_id, op_id, allocs, bytes, max_size) VALUES (?, ?, ?, ?, ?)`,
  );

  const live = new Map<number, Map<number | bigint, Live>>(); // per process
  const opStats = new Map<number, { allocs: number; bytes: number; maxSize: number }>();
  let liveBytes = 0;
  let peak = 0;
  let seq = 0;
  const result: FinalizeResult = {
    events: 0, markers: 0, allocations: 0, liveAtExit: 0, iterations: 0, ops: 0, unmatchedFrees: 0, peakLiveBytes: 0,
  };

  // Timeline bucket being filled.
  let bucket = 0;
  let bAllocs = 0, bFrees = 0, bBytes = 0, bMax = 0;
  const flushBucketsUntil = (b: number) => {
    while (bucket < b) {
      insertBucket.run(sessionId, bucket, t0 + bucket * width, t0 + (bucket + 1) * width, bAllocs, bFrees, bBytes, liveBytes, Math.max(bMax, liveBytes));
      bucket++;
      bAllocs = bFrees = bBytes = 0;
      bMax = liveBytes;
    }
  };

  const endLife = (l: Live, freeEvent: number | null, freeSeq: number | null, tFree: number | null, freeThread: number | null) => {
    insertAlloc.run(
      sessionId, threads.get(l.threadId)!.processId, l.threadId, l.iterationId, l.seq, freeSeq, l.eventId, freeEvent,
      l.kind, l.addr, l.size, l.align, l.scope, l.ts, tFree, freeThread,
    );
    result.allocations++;
    if (freeEvent === null) result.liveAtExit++;
    else {
      liveBytes -= l.size;
      bFrees++;
    }
  };

  const settleRealloc = (th: ThreadState) => {
    const p = th.pendingReallocFree;
    if (!p) return;
    th.pendingReallocFree = null;
    endLife(p.live, p.eventId, p.seq, p.ts, p.threadId);
  };

  // Paged by (ts, id) on the index rather than one open cursor: better-sqlite3 allows no
  // writes on a connection while one of its statements is iterating.
  const page = db.prepare(
    `SELECT id, thread_id, ts, kind, addr, size, align, scope, flags FROM events
     WHERE session_id = ? AND (ts, id) > (?, ?) ORDER BY ts, id LIMIT 20000`,
  );
  function* events(): Generator<EventRow> {
    let lastTs = -1;
    let lastId = -1;
    for (;;) {
      const rows = page.all(sessionId, lastTs, lastId) as EventRow[];
      if (rows.length === 0) return;
      yield* rows;
      lastTs = rows[rows.length - 1].ts;
      lastId = rows[rows.length - 1].id;
    }
  }
  db.transaction(() => {
    for (const e of events()) {
      const th = threads.get(e.thread_id)!;
      const b = Math.floor((e.ts - t0) / width);
      if (b > bucket) flushBucketsUntil(b);
      let blocks = live.get(th.processId);
      if (!blocks) live.set(th.processId, (blocks = new Map()));
      const mySeq = seq++;
      if (e.kind >= 32) {
        result.markers++;
        if (e.kind === Kind.iter_begin) {
          const info = insertIteration.run(sessionId, th.processId, e.thread_id, Number(e.size), e.ts, mySeq);
          th.iterationId = Number(info.lastInsertRowid);
          th.iterationNumber = Number(e.size);
          th.iterAllocs = th.iterBytes = 0;
          th.iterHashA = 0x811c9dc5;
          th.iterHashB = 0x12345678;
          result.iterations++;
        } else if (e.kind === Kind.iter_end && th.iterationId !== null) {
          const sig = th.iterAllocs.toString(16) + '-' + th.iterHashA.toString(16).padStart(8, '0') + th.iterHashB.toString(16).padStart(8, '0');
          closeIteration.run(e.ts, mySeq, Number(e.size), th.iterAllocs, th.iterBytes, sig, th.iterationId);
          th.iterationId = null;
        }
        continue;
      }
      result.events++;
      // A released realloc block is settled by the next event of its thread, unless that is the
      // failed realloc itself (then realloc_failed may follow and undo the release).
      const failedRealloc = (e.kind === Kind.realloc || e.kind === Kind.reallocarray) && (e.flags & RECORD_FLAG_FAILED) !== 0;
      if (e.kind !== Kind.realloc_failed && !failedRealloc) settleRealloc(th);
      if (e.kind === Kind.free || e.kind === Kind.realloc_free) {
        const l = blocks.get(e.addr);
        if (!l) {
          result.unmatchedFrees++;
          continue;
        }
        blocks.delete(e.addr);
        if (e.kind === Kind.realloc_free) th.pendingReallocFree = { live: l, eventId: e.id, seq: mySeq, ts: e.ts, threadId: e.thread_id };
        else endLife(l, e.id, mySeq, e.ts, e.thread_id);
        continue;
      }
      if (e.kind === Kind.realloc_failed) {
        // The real realloc failed: the old block is still the program's. Undo the release.
        const p = th.pendingReallocFree;
        if (p) {
          blocks.set(p.live.addr, p.live);
          th.pendingReallocFree = null;
        }
        continue;
      }
      if (!isAllocKind(e.kind) || (e.flags & RECORD_FLAG_FAILED) !== 0 || e.addr === 0) continue;
      const size = Number(e.size);
      const prior = blocks.get(e.addr);
      if (prior) endLife(prior, null, null, null, null); // never freed in the trace (cannot happen with a complete trace)
      const l: Live = {
        eventId: e.id, seq: mySeq, threadId: e.thread_id, kind: e.kind, addr: e.addr, size, align: e.align,
        scope: e.scope, ts: e.ts, iterationId: th.iterationId,
      };
      blocks.set(e.addr, l);
      liveBytes += size;
      if (liveBytes > peak) peak = liveBytes;
      if (liveBytes > bMax) bMax = liveBytes;
      bAllocs++;
      bBytes += size;
      if (th.iterationId !== null) {
        th.iterAllocs++;
        th.iterBytes += size;
        th.iterHashA = mix(mix(th.iterHashA, size >>> 0), e.align);
        th.iterHashB = mix(mix(th.iterHashB, Math.floor(size / 4294967296)), size & 0xffff);
      }
      const key = e.scope ?? 0;
      const st = opStats.get(key);
      if (st) {
        st.allocs++;
        st.bytes += size;
        if (size > st.maxSize) st.maxSize = size;
      } else opStats.set(key, { allocs: 1, bytes: size, maxSize: size });
    }
    for (const th of threads.values()) settleRealloc(th);
    for (const blocks of live.values()) for (const l of blocks.values()) endLife(l, null, null, null, null);
    flushBucketsUntil(span.t0 === null ? 0 : TIMELINE_BUCKETS);
    for (const [op, st] of opStats) insertOpStat.run(sessionId, op, st.allocs, st.bytes, st.maxSize);
    result.ops = (db.prepare(`SELECT count(*) AS n FROM ops WHERE session_id = ?`).get(sessionId) as { n: number }).n;
    result.peakLiveBytes = peak;
    db.prepare(
      `UPDATE sessions SET events = ?, markers = ?, allocations = ?, live_at_exit = ?, iterations = ?, ops = ?,
         t_begin = ?, t_end = ?, peak_live_bytes = ? WHERE id = ?`,
    ).run(result.events, result.markers, result.allocations, result.liveAtExit, result.iterations, result.ops, span.t0, span.t1, peak, sessionId);
  })();
  return result;
}
