import { signatureMix } from '../../shared/signature';
import type { Statement } from 'better-sqlite3';
import type { DB } from './db';
import { AddrMap } from './addr-map';
import { formatRanges, type IdRange } from './id-ranges';
import { Kind, isAllocKind, RECORD_FLAG_AGENT, RECORD_FLAG_FAILED } from '../../shared/trace-kinds';

/**
 * Builds lifetimes (each allocation matched with its free), iterations with their signatures,
 * the time-bucketed timeline and per-op totals while events stream in, so nothing ever has to
 * re-read the raw events.
 *
 * Events must be fed in timestamp order, and the ingest only feeds an event once every event
 * that could precede it causally has been read (the poll watermark of native/ingest/session.cpp
 * and test/oracle/session-ingest.ts). The interposer takes an allocation's timestamp after the
 * real call returns and commits a free's record before the real free runs
 * (docs/TRACE_FORMAT.md), so in timestamp order an address is always released before anyone can
 * be handed it again, and pairing by address per process is exact.
 */

export interface StreamEvent {
  id: number;
  threadId: number;
  processId: number;
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
  processId: number;
  kind: number;
  addr: number | bigint;
  size: number;
  align: number;
  scope: number | null;
  ts: number;
  iterationId: number | null;
}

interface ThreadState {
  iterationId: number | null;
  iterAllocs: number;
  iterBytes: number;
  iterHashA: number;
  iterHashB: number;
  /** A block released by a realloc whose outcome is not yet seen (realloc_failed undoes it). */
  pendingReallocFree: { live: Live; eventId: number; seq: number; ts: number } | null;
  /** The id range of this thread's allocations in bucket rangeBucket (-1: none open yet). */
  rangeBucket: number;
  rangeFirst: number;
  rangeLast: number;
}

export interface LifetimeTotals {
  events: number;
  markers: number;
  allocations: number;
  liveAtExit: number;
  iterations: number;
  unmatchedFrees: number;
  peakLiveBytes: number;
  tBegin: number | null;
  tEnd: number | null;
}

/** Timeline buckets double their width whenever there would be more than this many. */
export const MAX_BUCKETS = 2048;
const FIRST_BUCKET_NS = 1_000_000;

interface Bucket {
  allocs: number;
  frees: number;
  bytes: number;
  liveEnd: number;
  liveMax: number;
  /**
   * events.id ranges of the allocations counted here, one or more per thread: a thread's events
   * are stored in its program order, so its allocations of one bucket lie in one id range
   * (other threads' rows may lie between). Merged when written.
   */
  eventRanges: IdRange[];
  /** allocations.id range of the rows whose free is counted here (0 = none yet). Rows are
   * stored in the order of their frees, so one range is tight. */
  freeFirst: number;
  freeLast: number;
}

function newBucket(live: number): Bucket {
  return { allocs: 0, frees: 0, bytes: 0, liveEnd: live, liveMax: live, eventRanges: [], freeFirst: 0, freeLast: 0 };
}

function firstOf(a: number, b: number): number {
  return a && b ? Math.min(a, b) : a || b;
}

const ALLOC_COLS = 6;
const ALLOC_ROWS = 32;

const mix = signatureMix;

export class LifetimeBuilder {
  private readonly threads = new Map<number, ThreadState>();
  private readonly live = new Map<number, AddrMap<Live>>();
  private readonly opStats = new Map<number, { allocs: number; bytes: number; maxSize: number }>();
  private liveBytes = 0;
  private seq = 0;
  readonly totals: LifetimeTotals = {
    events: 0, markers: 0, allocations: 0, liveAtExit: 0, iterations: 0, unmatchedFrees: 0, peakLiveBytes: 0, tBegin: null, tEnd: null,
  };
  private buckets: Bucket[] = [];
  private bucketNs = FIRST_BUCKET_NS;
  private readonly allocRow: unknown[] = new Array(ALLOC_COLS * ALLOC_ROWS);
  /** The free time of each buffered row (null: live at exit), to record its id in its bucket. */
  private readonly allocFreeTs: (number | null)[] = new Array(ALLOC_ROWS);
  private allocFilled = 0;
  private readonly insertAllocMany: Statement;
  private readonly insertAllocOne: Statement;
  private readonly insertIteration: Statement;
  private readonly closeIteration: Statement;

  constructor(private readonly db: DB, private readonly sessionId: number) {
    const one = `(${Array(ALLOC_COLS).fill('?').join(',')})`;
    const head = `INSERT INTO allocations (session_id, iteration_id, seq, free_seq, alloc_event, free_event) VALUES `;
    this.insertAllocMany = db.prepare(head + Array(ALLOC_ROWS).fill(one).join(','));
    this.insertAllocOne = db.prepare(head + one);
    this.insertIteration = db.prepare(
      `INSERT INTO iterations (session_id, process_id, thread_id, number, t_begin, begin_seq) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.closeIteration = db.prepare(
      `UPDATE iterations SET t_end = ?, end_seq = ?, latency_ns = ?, allocs = ?, alloc_bytes = ?, signature = ? WHERE id = ?`,
    );
  }

  /** Bytes live now (as far as the stream has been fed). */
  get currentLiveBytes(): number {
    return this.liveBytes;
  }

  private thread(id: number): ThreadState {
    let t = this.threads.get(id);
    if (!t) {
      t = {
        iterationId: null, iterAllocs: 0, iterBytes: 0, iterHashA: 0x811c9dc5, iterHashB: 0x12345678, pendingReallocFree: null,
        rangeBucket: -1, rangeFirst: 0, rangeLast: 0,
      };
      this.threads.set(id, t);
    }
    return t;
  }

  /** Feeds events in timestamp order (call inside a transaction). */
  push(events: readonly StreamEvent[]): void {
    for (const e of events) this.one(e);
  }

  private one(e: StreamEvent): void {
    const th = this.thread(e.threadId);
    const t = this.totals;
    if (t.tBegin === null) t.tBegin = e.ts;
    t.tEnd = e.ts;
    const mySeq = this.seq++;
    if (e.kind >= 32) {
      t.markers++;
      if (e.kind === Kind.iter_begin) {
        const info = this.insertIteration.run(this.sessionId, e.processId, e.threadId, Number(e.size), e.ts, mySeq);
        th.iterationId = Number(info.lastInsertRowid);
        th.iterAllocs = th.iterBytes = 0;
        th.iterHashA = 0x811c9dc5;
        th.iterHashB = 0x12345678;
        t.iterations++;
      } else if (e.kind === Kind.iter_end && th.iterationId !== null) {
        const sig = th.iterAllocs.toString(16) + '-' + th.iterHashA.toString(16).padStart(8, '0') + th.iterHashB.toString(16).padStart(8, '0');
        this.closeIteration.run(e.ts, mySeq, Number(e.size), th.iterAllocs, th.iterBytes, sig, th.iterationId);
        th.iterationId = null;
      }
      return;
    }
    t.events++;
    const bucketIndex = this.bucketIndex(e.ts);
    const bucket = this.buckets[bucketIndex];
    let blocks = this.live.get(e.processId);
    if (!blocks) this.live.set(e.processId, (blocks = new AddrMap()));
    // A block released by realloc is settled by the next event of its thread, unless that is
    // the failed realloc itself (then realloc_failed may follow and undo the release).
    const failedRealloc = (e.kind === Kind.realloc || e.kind === Kind.reallocarray) && (e.flags & RECORD_FLAG_FAILED) !== 0;
    if (e.kind !== Kind.realloc_failed && !failedRealloc) this.settleRealloc(th);
    if (e.kind === Kind.free || e.kind === Kind.realloc_free) {
      const l = blocks.get(e.addr);
      if (!l) {
        t.unmatchedFrees++; // allocated before tracing began (or by the interposer's bootstrap)
        return;
      }
      blocks.delete(e.addr);
      if (e.kind === Kind.realloc_free) th.pendingReallocFree = { live: l, eventId: e.id, seq: mySeq, ts: e.ts };
      else this.endLife(l, e.id, mySeq, e.ts);
      return;
    }
    if (e.kind === Kind.realloc_failed) {
      const p = th.pendingReallocFree;
      if (p) {
        blocks.set(p.live.addr, p.live);
        th.pendingReallocFree = null;
      }
      return;
    }
    if (!isAllocKind(e.kind) || (e.flags & RECORD_FLAG_FAILED) !== 0 || e.addr === 0) return;
    const size = Number(e.size);
    const prior = blocks.get(e.addr);
    if (prior) this.endLife(prior, null, null, null); // cannot happen with a complete trace
    const l: Live = {
      eventId: e.id, seq: mySeq, threadId: e.threadId, processId: e.processId, kind: e.kind, addr: e.addr, size,
      align: e.align, scope: e.scope, ts: e.ts, iterationId: th.iterationId,
    };
    blocks.set(e.addr, l);
    this.liveBytes += size;
    if (this.liveBytes > t.peakLiveBytes) t.peakLiveBytes = this.liveBytes;
    bucket.allocs++;
    this.addEventId(th, bucketIndex, e.id);
    bucket.bytes += size;
    if (this.liveBytes > bucket.liveMax) bucket.liveMax = this.liveBytes;
    bucket.liveEnd = this.liveBytes;
    if (th.iterationId !== null && (e.flags & RECORD_FLAG_AGENT) === 0) {
      // the program's allocations only: the agent's own are left out of the signature
      th.iterAllocs++;
      th.iterBytes += size;
      th.iterHashA = mix(mix(th.iterHashA, size >>> 0), e.align);
      th.iterHashB = mix(mix(th.iterHashB, Math.floor(size / 4294967296)), size & 0xffff);
    }
    const key = e.scope ?? 0;
    const st = this.opStats.get(key);
    if (st) {
      st.allocs++;
      st.bytes += size;
      if (size > st.maxSize) st.maxSize = size;
    } else this.opStats.set(key, { allocs: 1, bytes: size, maxSize: size });
  }

  private settleRealloc(th: ThreadState): void {
    const p = th.pendingReallocFree;
    if (!p) return;
    th.pendingReallocFree = null;
    this.endLife(p.live, p.eventId, p.seq, p.ts);
  }

  private endLife(l: Live, freeEvent: number | null, freeSeq: number | null, tFree: number | null): void {
    this.totals.allocations++;
    if (freeEvent === null) this.totals.liveAtExit++;
    else {
      this.liveBytes -= l.size;
      const b = this.bucketFor(tFree!);
      b.frees++;
      b.liveEnd = this.liveBytes;
    }
    const r = this.allocRow;
    const k = this.allocFilled * ALLOC_COLS;
    r[k] = this.sessionId;
    r[k + 1] = l.iterationId;
    r[k + 2] = l.seq;
    r[k + 3] = freeSeq;
    r[k + 4] = l.eventId;
    r[k + 5] = freeEvent;
    this.allocFreeTs[this.allocFilled] = tFree;
    if (++this.allocFilled === ALLOC_ROWS) {
      this.rowsWritten(0, ALLOC_ROWS, Number(this.insertAllocMany.run(r).lastInsertRowid));
      this.allocFilled = 0;
    }
  }

  /** Writes buffered allocation rows (call before the transaction commits). */
  flush(): void {
    for (let i = 0; i < this.allocFilled; i++) {
      const id = Number(this.insertAllocOne.run(this.allocRow.slice(i * ALLOC_COLS, (i + 1) * ALLOC_COLS)).lastInsertRowid);
      this.rowsWritten(i, i + 1, id);
    }
    this.allocFilled = 0;
  }

  /**
   * Buffered rows [from, to) were inserted, the last with rowid lastId. One INSERT statement
   * numbers its rows consecutively (rowid = max + 1 each, under our write lock), so row i has
   * lastId - (to - 1 - i). Each freed row's id goes into its free's bucket; the bucket is found
   * again from the free time, since buckets may have been coarsened since endLife.
   */
  private rowsWritten(from: number, to: number, lastId: number): void {
    for (let i = from; i < to; i++) {
      const ts = this.allocFreeTs[i];
      if (ts === null) continue;
      const b = this.bucketFor(ts);
      const id = lastId - (to - 1 - i);
      if (!b.freeFirst || id < b.freeFirst) b.freeFirst = id;
      if (id > b.freeLast) b.freeLast = id;
    }
  }

  /** Counts allocation event `id` of thread th in bucket `index` in the thread's open id range. */
  private addEventId(th: ThreadState, index: number, id: number): void {
    if (th.rangeBucket === index) {
      th.rangeFirst = Math.min(th.rangeFirst, id);
      th.rangeLast = Math.max(th.rangeLast, id);
      return;
    }
    this.closeRange(th);
    th.rangeBucket = index;
    th.rangeFirst = th.rangeLast = id;
  }

  private closeRange(th: ThreadState): void {
    if (th.rangeBucket >= 0) this.buckets[th.rangeBucket].eventRanges.push([th.rangeFirst, th.rangeLast]);
    th.rangeBucket = -1;
  }

  private bucketFor(ts: number): Bucket {
    return this.buckets[this.bucketIndex(ts)];
  }

  /** The index of the bucket of time ts (created, coarsening as needed); negative before the first event. */
  private bucketIndex(ts: number): number {
    const t0 = this.totals.tBegin!;
    let i = Math.floor((ts - t0) / this.bucketNs);
    while (i >= MAX_BUCKETS) {
      this.coarsen();
      i = Math.floor((ts - t0) / this.bucketNs);
    }
    while (this.buckets.length <= i) {
      const prev = this.buckets[this.buckets.length - 1];
      this.buckets.push(newBucket(prev ? prev.liveEnd : this.liveBytes));
    }
    return i;
  }

  private coarsen(): void {
    const merged: Bucket[] = [];
    for (let i = 0; i < this.buckets.length; i += 2) {
      const a = this.buckets[i];
      const b = this.buckets[i + 1];
      merged.push(
        b
          ? {
              allocs: a.allocs + b.allocs, frees: a.frees + b.frees, bytes: a.bytes + b.bytes, liveEnd: b.liveEnd, liveMax: Math.max(a.liveMax, b.liveMax),
              eventRanges: a.eventRanges.concat(b.eventRanges),
              freeFirst: firstOf(a.freeFirst, b.freeFirst), freeLast: Math.max(a.freeLast, b.freeLast),
            }
          : a,
      );
    }
    this.buckets = merged;
    this.bucketNs *= 2;
    for (const th of this.threads.values()) if (th.rangeBucket >= 0) th.rangeBucket = Math.floor(th.rangeBucket / 2);
  }

  /**
   * Ends the stream: blocks never freed become live-at-exit allocations; the timeline, op totals
   * and session counts are written.
   */
  finish(): LifetimeTotals {
    for (const th of this.threads.values()) this.settleRealloc(th);
    for (const blocks of this.live.values()) for (const l of blocks.values()) this.endLife(l, null, null, null);
    this.live.clear();
    this.flush();
    for (const th of this.threads.values()) this.closeRange(th);
    const t0 = this.totals.tBegin ?? 0;
    const bucketStmt = this.db.prepare(
      `INSERT INTO timeline (session_id, bucket, t0, t1, allocs, frees, bytes_allocated, live_bytes_end, live_bytes_max, event_ranges, free_first, free_last)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.buckets.forEach((b, i) =>
      bucketStmt.run(
        this.sessionId, i, t0 + i * this.bucketNs, t0 + (i + 1) * this.bucketNs, b.allocs, b.frees, b.bytes, b.liveEnd, b.liveMax,
        formatRanges(b.eventRanges), b.freeFirst || null, b.freeLast || null,
      ),
    );
    const opStmt = this.db.prepare(`INSERT INTO op_stats (session_id, op_id, allocs, bytes, max_size) VALUES (?, ?, ?, ?, ?)`);
    for (const [op, st] of this.opStats) opStmt.run(this.sessionId, op, st.allocs, st.bytes, st.maxSize);
    return this.totals;
  }
}
