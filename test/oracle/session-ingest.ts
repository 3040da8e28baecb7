import fs from 'node:fs';
import path from 'node:path';
import { inTransaction, type DB } from '../../main/store/db';
import { RecordingRows, storeSessionTotals } from '../../main/store/recording';
import { EventWriter } from '../../main/store/ingest';
import { LifetimeBuilder, type StreamEvent } from '../../main/store/lifetimes';
import { TraceFormatError, type PlanCounters, type TraceHeader } from '../../main/record/trace-format';
import { TraceReader } from './trace-tail';
import { splitScope, STACK_NAME_PREFIX } from '../../main/record/trace-names';
import type { IngestResult, PollStats } from '../../main/record/native-ingest';

/**
 * The JS reference ingest: the test oracle memoplan-ingest (native/ingest) is compared with
 * (test/record/native-ingest.test.ts: the same trace stored both ways gives the same rows), and
 * the readable statement of what an ingest must do. The product never runs it: `memoplan
 * record` and `detach` store through memoplan-ingest, `memoplan ingest` through
 * main/ingest/resume.ts (which shares the trace decoding, the event writer and the lifetime
 * builder used here). It was the product's ingest before memoplan-ingest, then a choice by
 * environment variable. It stays as an oracle, not gone, because a second implementation
 * written from the format spec is what finds the native reader's bugs (chunk order, parity,
 * copies: each was caught by the comparison); it does not serve, because it runs at under
 * half the native rate (0.6 against 1.5 million events a second here), in the Node process
 * (one SQLite per process, on the thread that answers the UI).
 *
 * Streams the trace files of one session (one per traced process) into SQLite while the target
 * runs, and builds lifetimes as it goes. poll() is synchronous and bounded by what the target
 * wrote since the last call; the caller decides when to call it (a timer in the CLI, a worker
 * thread in the app), so the target itself never waits on the database.
 *
 * Ordering. Each thread's records arrive in program order, but threads are read one after the
 * other, so a poll can see thread B's event e2 and miss thread A's e1 that preceded it (A
 * committed e1 after we had read A's chunk). Lifetimes need e1 first when e1 freed the address
 * e2 was handed. The interposer commits a free before the real free and stamps an allocation
 * after the real call returns, so e1 was committed before e2's timestamp. Hence every event
 * stamped before the moment W a poll starts reading has all its causal predecessors already
 * read: each poll feeds the builder, in timestamp order, the events stamped before W (less a
 * margin for clock error), and keeps the rest for the next poll.
 */

/** Slack for the difference between the interposer's clock and ours (both CLOCK_MONOTONIC). */
const WATERMARK_MARGIN_NS = 5_000_000;

const TRACE_FILE = /^trace-(\d+)-(\d+)\.mpt$/;

interface ProcessTrace {
  reader: TraceReader;
  processId: number | null;
  header: TraceHeader | null;
  threads: Map<number, number>; // thread_index -> threads.id
  scopes: Map<number, number>; // interposer name id -> ops.id
  stacks: Map<number, number>; // interposer name id -> stacks.id
}

export class SessionIngest {
  private readonly traces = new Map<string, ProcessTrace>();
  private readonly writer: EventWriter;
  private readonly lifetimes: LifetimeBuilder;
  private pending: StreamEvent[] = [];
  private busyNs = 0;
  private readonly rows: RecordingRows;

  /**
   * clockBaseNs: a CLOCK_MONOTONIC instant before the target started; stored timestamps are
   * nanoseconds since it (sessions.clock_base_ns keeps it).
   */
  constructor(private readonly db: DB, readonly sessionId: number, readonly traceDir: string, readonly clockBaseNs = 0n) {
    this.writer = new EventWriter(db);
    this.lifetimes = new LifetimeBuilder(db, sessionId);
    this.rows = new RecordingRows(db, sessionId);
  }

  get stats(): PollStats {
    return { events: this.writer.events, markers: this.writer.markers, processes: this.traces.size, busySeconds: this.busyNs / 1e9, liveBytes: this.lifetimes.currentLiveBytes };
  }

  /** Reads whatever is new in every trace file; returns the number of records stored. */
  poll(final = false): number {
    const started = process.hrtime.bigint();
    const watermark = final ? Infinity : Number(started - this.clockBaseNs) - WATERMARK_MARGIN_NS;
    const before = this.writer.events + this.writer.markers;
    this.discover();
    inTransaction(this.db, () => {
      this.writer.begin();
      for (const t of this.traces.values()) this.pollOne(t);
      this.writer.flush();
      let ready: StreamEvent[];
      if (watermark === Infinity) {
        ready = this.pending;
        this.pending = [];
      } else {
        ready = [];
        const keep: StreamEvent[] = [];
        for (const e of this.pending) (e.ts < watermark ? ready : keep).push(e);
        this.pending = keep;
      }
      ready.sort((a, b) => a.ts - b.ts); // stable: equal stamps keep program order
      this.lifetimes.push(ready);
      this.lifetimes.flush();
    }, { immediate: true });
    this.busyNs += Number(process.hrtime.bigint() - started);
    return this.writer.events + this.writer.markers - before;
  }

  /** Reads everything left, once the target has exited (or was killed). */
  drain(): void {
    while (this.poll(true) > 0) {
      /* keep reading */
    }
  }

  /**
   * Ends the session's ingest: lifetimes still open become live-at-exit, summaries and counts
   * are written. Returns the totals and what the interposers claimed to have written (null if
   * any process did not exit cleanly).
   */
  finish(): IngestResult {
    this.drain();
    const started = process.hrtime.bigint();
    let claimed: number | null = 0;
    const notes: string[] = [];
    let plan: PlanCounters | null = null;
    for (const t of this.traces.values()) {
      const h = t.reader.readHeader();
      t.reader.close();
      if (t.processId === null || !h) continue;
      if (h.plan.status !== 0) plan = plan ? addCounters(plan, h.plan) : { ...h.plan };
      if (h.stoppedEarly) notes.push(`process ${h.pid} stopped recording early (disk full or file size limit?): its trace is incomplete`);
      this.rows.setProcessExit(t.processId, h.cleanExit, h.cleanExit ? h.eventsWritten : null);
      if (!h.cleanExit) claimed = null;
      else if (claimed !== null) claimed += h.eventsWritten;
    }
    const totals = inTransaction(this.db, () => {
      const t = this.lifetimes.finish();
      const ops = storeSessionTotals(this.db, this.sessionId, t, claimed, this.writer.firstId, this.writer.lastId);
      return { ...t, ops };
    });
    this.busyNs += Number(process.hrtime.bigint() - started);
    return { claimed, totals, notes, plan };
  }

  private discover(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.traceDir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!TRACE_FILE.test(name)) continue;
      const file = path.join(this.traceDir, name);
      if (this.traces.has(file)) continue;
      const reader = new TraceReader(file, file.replace(/\.mpt$/, '.names'), this.clockBaseNs);
      this.traces.set(file, { reader, processId: null, header: null, threads: new Map(), scopes: new Map(), stacks: new Map() });
    }
  }

  private pollOne(t: ProcessTrace): void {
    let batches;
    try {
      if (t.processId === null) {
        const h = t.reader.readHeader();
        if (!h) return;
        t.header = h;
        t.processId = this.rows.addProcess(h.pid, h.ppid, h.forkChild, h.startNs, path.basename(t.reader.file));
      }
      for (const n of t.reader.readNames()) {
        if (n.name.startsWith(STACK_NAME_PREFIX)) this.defineStack(t, n.id, n.name);
        else this.defineScope(t, n.id, n.name);
      }
      batches = t.reader.readRecords();
    } catch (err) {
      if (err instanceof TraceFormatError) throw new TraceFormatError(`${t.reader.file}: ${err.message}`);
      throw err;
    }
    if (!batches) return;
    const scopeOf = (id: number) => t.scopes.get(id) ?? this.defineScope(t, id, null);
    for (const batch of batches) {
      let threadId = t.threads.get(batch.threadIndex);
      if (threadId === undefined) {
        threadId = this.rows.addThread(t.processId, batch.tid, batch.threadIndex);
        t.threads.set(batch.threadIndex, threadId);
      }
      this.writer.write(batch, threadId, t.processId!, scopeOf, this.pending);
    }
  }

  /**
   * A scope name from the agent is "module<TAB>op", or "module<TAB>op<TAB>stack" where stack is
   * the name id of a Python stack interned before it (defineStack). A record can name a scope
   * whose name has not been read yet only if the names file lags; it gets a placeholder row,
   * named on arrival.
   */
  private defineScope(t: ProcessTrace, id: number, name: string | null): number {
    const [module, op, stack] = name === null ? ['', `#${id}`, ''] : splitScope(name);
    const stackId = stack === '' ? null : (t.stacks.get(Number(stack)) ?? null);
    const existing = t.scopes.get(id);
    if (existing !== undefined) {
      if (name !== null) this.rows.renameOp(existing, module, op, stackId);
      return existing;
    }
    const opId = this.rows.addOp(t.processId!, id, module, op, stackId);
    t.scopes.set(id, opId);
    return opId;
  }

  /** A Python stack the agent interned: "@stack<TAB>" + frames ("file:line function" lines, outermost first). */
  private defineStack(t: ProcessTrace, id: number, name: string): void {
    if (t.stacks.has(id)) return;
    const stackId = this.rows.addStack(t.processId!, id, name.slice(STACK_NAME_PREFIX.length));
    t.stacks.set(id, stackId);
  }
}

function addCounters(a: PlanCounters, b: PlanCounters): PlanCounters {
  return {
    hits: a.hits + b.hits,
    misses: a.misses + b.misses,
    hitBytes: a.hitBytes + b.hitBytes,
    missBytes: a.missBytes + b.missBytes,
    arenaBytes: a.arenaBytes + b.arenaBytes,
    iterationsServed: a.iterationsServed + b.iterationsServed,
    retirements: a.retirements + b.retirements,
    status: Math.max(a.status, b.status),
    refusal: a.refusal || b.refusal,
    // A process's own count: plans served in several processes count once in each.
    signaturesServed: Math.max(a.signaturesServed, b.signaturesServed),
    iterationsUnplanned: a.iterationsUnplanned + b.iterationsUnplanned,
  };
}
