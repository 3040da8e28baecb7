import fs from 'node:fs';
import path from 'node:path';
import type { DB } from '../store/db';
import { EventWriter } from '../store/ingest';
import { TraceReader, TraceFormatError, type TraceHeader } from './trace-reader';

/**
 * Streams the trace files of one session (one per traced process) into SQLite while the target
 * runs. poll() is synchronous and bounded by what the target wrote since the last call; the
 * caller decides when to call it (a timer in the CLI, a worker thread in the app), so the
 * target itself never waits on the database.
 */

const TRACE_FILE = /^trace-(\d+)-(\d+)\.mpt$/;

interface ProcessTrace {
  reader: TraceReader;
  processId: number | null;
  header: TraceHeader | null;
  threads: Map<number, number>; // thread_index -> threads.id
  scopes: Map<number, number>; // interposer name id -> ops.id
}

export interface PollStats {
  events: number;
  markers: number;
  processes: number;
}

export class SessionIngest {
  private readonly traces = new Map<string, ProcessTrace>();
  private readonly writer: EventWriter;
  private readonly insertProcess;
  private readonly insertThread;
  private readonly insertOp;
  private readonly renameOp;

  constructor(private readonly db: DB, readonly sessionId: number, readonly traceDir: string) {
    this.writer = new EventWriter(db, sessionId);
    this.insertProcess = db.prepare(
      `INSERT INTO processes (session_id, pid, ppid, is_fork_child, start_ns, trace_file) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.insertThread = db.prepare(`INSERT INTO threads (session_id, process_id, tid, thread_index) VALUES (?, ?, ?, ?)`);
    this.insertOp = db.prepare(`INSERT INTO ops (session_id, process_id, name_id, module, op) VALUES (?, ?, ?, ?, ?)`);
    this.renameOp = db.prepare(`UPDATE ops SET module = ?, op = ? WHERE id = ?`);
  }

  get stats(): PollStats {
    return { events: this.writer.events, markers: this.writer.markers, processes: this.traces.size };
  }

  /** Reads whatever is new in every trace file; returns the number of records stored. */
  poll(): number {
    const before = this.writer.events + this.writer.markers;
    this.discover();
    this.db.transaction(() => {
      for (const t of this.traces.values()) this.pollOne(t);
      this.writer.flush();
    })();
    return this.writer.events + this.writer.markers - before;
  }

  /** Polls until nothing new arrives: for after the target has exited. */
  drain(): void {
    while (this.poll() > 0) {
      /* keep reading */
    }
  }

  /** What the interposers claimed to have written, summed; null if any process did not exit cleanly. */
  finish(): { claimed: number | null; files: string[] } {
    let claimed: number | null = 0;
    const files: string[] = [];
    const update = this.db.prepare(`UPDATE processes SET clean_exit = ?, events_claimed = ? WHERE id = ?`);
    for (const [file, t] of this.traces) {
      const h = t.reader.readHeader();
      files.push(file, t.reader.namesFile);
      t.reader.close();
      if (t.processId === null || !h) continue;
      update.run(h.cleanExit ? 1 : 0, h.cleanExit ? h.eventsWritten : null, t.processId);
      if (!h.cleanExit) claimed = null;
      else if (claimed !== null) claimed += h.eventsWritten;
    }
    this.db.prepare(`UPDATE sessions SET events_claimed = ? WHERE id = ?`).run(claimed, this.sessionId);
    return { claimed, files };
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
      const reader = new TraceReader(file, file.replace(/\.mpt$/, '.names'));
      this.traces.set(file, { reader, processId: null, header: null, threads: new Map(), scopes: new Map() });
    }
  }

  private pollOne(t: ProcessTrace): void {
    let batches;
    try {
      if (t.processId === null) {
        const h = t.reader.readHeader();
        if (!h) return;
        t.header = h;
        const info = this.insertProcess.run(this.sessionId, h.pid, h.ppid, h.forkChild ? 1 : 0, h.startNs, path.basename(t.reader.file));
        t.processId = Number(info.lastInsertRowid);
      }
      for (const n of t.reader.readNames()) this.defineScope(t, n.id, n.name);
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
        threadId = Number(this.insertThread.run(this.sessionId, t.processId, batch.tid, batch.threadIndex).lastInsertRowid);
        t.threads.set(batch.threadIndex, threadId);
      }
      this.writer.write(batch, threadId, scopeOf);
    }
  }

  /**
   * A scope name from the agent is "module<TAB>op". A record can name a scope whose name has
   * not been read yet only if the names file lags; it gets a placeholder row, named on arrival.
   */
  private defineScope(t: ProcessTrace, id: number, name: string | null): number {
    const [module, op] = name === null ? ['', `#${id}`] : splitScope(name);
    const existing = t.scopes.get(id);
    if (existing !== undefined) {
      if (name !== null) this.renameOp.run(module, op, existing);
      return existing;
    }
    const opId = Number(this.insertOp.run(this.sessionId, t.processId, id, module, op).lastInsertRowid);
    t.scopes.set(id, opId);
    return opId;
  }
}

export function splitScope(name: string): [string, string] {
  const tab = name.indexOf('\t');
  return tab < 0 ? [name, ''] : [name.slice(0, tab), name.slice(tab + 1)];
}
