import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../shared/errors';
import { inTransaction, type DB } from '../store/db';
import { deleteDerivedRows, forEachEventInTimeOrder, RecordingRows, storedRecording, storeSessionTotals } from '../store/recording';
import { failRecordingSession, recreateSession, sessionForResume, sessionStatusAndProcesses, setExitIfUnset } from '../store/sessions';
import { EventWriter } from '../store/ingest';
import { LifetimeBuilder, type LifetimeTotals, type StreamEvent } from '../store/lifetimes';
import { CHUNK_HEADER, CHUNK_MAGIC, committedAt, decodeRecords, HEADER, HEADER_READ, parseHeader, parseNames, RECORD_SIZE, type PlanCounters, type TraceHeader } from '../record/trace-format';
import type { RecordBatch } from '../../shared/trace-batch';
import { readInputFile } from '../fs/files';
import { splitScope, STACK_NAME_PREFIX } from '../record/trace-names';

/**
 * Stores a kept trace (a recording whose storing failed: disk full, the ingester killed, the
 * database gone) into its session, resuming after what was stored (`memoplan ingest`, and
 * `memoplan record` itself once the target has exited).
 *
 * What was stored. The ingest commits each thread's records in program order, so what a session
 * holds of a thread is a prefix of that thread's records: N rows. Its chunks are taken in
 * order (chunk_seq), each one full before the next is taken; a chunk whose rows were committed
 * may have been punched out of the file (it reads as zeros, docs/TRACE_FORMAT.md), or handed
 * back to its writer and written again as a later chunk of the thread ("Chunk reuse"), which
 * only happens to full chunks or to the last chunks of a thread that ended. So the records of a
 * chunk with sequence s that precede it are the committed records of the thread's earlier
 * chunks still in the file plus a full chunk for each one punched out, and the first
 * N - before of the chunk's records are stored already (none when negative).
 *
 * Lifetimes, iterations, the timeline and op totals are then built again from every event row
 * of the session (the old ones are deleted first), in timestamp order, as the ingest builds
 * them; the session's counts are written, and its status says whether every event the
 * interposers claimed is stored.
 */

const TRACE_FILE = /^trace-(\d+)-(\d+)\.mpt$/;
/** Written into a kept trace folder by memoplan record: how the target ended ({exitCode, signal, sessionId, dbFile}). */
export const RECORDER_END_FILE = 'recorder-end.json';
/** Records appended per transaction (and events fed to the lifetime builder per transaction). */
const BATCH_RECORDS = 250_000;

export interface ResumeOptions {
  db: DB;
  /** The database file (a second, read-only connection streams the events back in time order). */
  dbFile: string;
  sessionId: number;
  traceDir: string;
  /** Remove the trace folder once everything in it is stored (default true). */
  removeTrace?: boolean;
  onNote?: (note: string) => void;
}

export interface ResumeResult {
  /** The session stored into (a new one when the trace's database was removed while recording). */
  sessionId: number;
  /** Records of the trace that were not stored yet and now are. */
  added: number;
  totals: LifetimeTotals & { ops: number };
  claimed: number | null;
  status: 'complete' | 'incomplete' | 'killed' | 'failed';
  /** Events the interposers claimed that are not stored (null: unknown, a process did not exit cleanly). */
  missing: number | null;
  notes: string[];
  plan: PlanCounters | null;
}

interface ChunkInfo {
  index: number;
  tid: number;
  threadIndex: number;
  seq: number;
  committed: number;
}

interface TraceFile {
  file: string;
  name: string;
  header: TraceHeader;
  processId: number;
  chunks: ChunkInfo[];
}

/** The session a kept trace folder belongs to, from its name (session-<id>-XXXXXX). */
export function sessionOfTraceDir(dir: string): number | null {
  const m = /^session-(\d+)-/.exec(path.basename(path.resolve(dir)));
  return m ? Number(m[1]) : null;
}

/** Processes other than us that have a file of `dir` open or mapped (a target still writing, an ingester still storing). */
export function traceUsers(dir: string): { pid: number; name: string }[] {
  const abs = fs.realpathSync(dir) + '/';
  const users: { pid: number; name: string }[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  } catch {
    return users;
  }
  for (const p of pids) {
    let uses = false;
    try {
      for (const fd of fs.readdirSync(`/proc/${p}/fd`)) {
        let target: string;
        try {
          target = fs.readlinkSync(`/proc/${p}/fd/${fd}`);
        } catch {
          continue;
        }
        if (target.startsWith(abs)) {
          uses = true;
          break;
        }
      }
      if (!uses) uses = fs.readFileSync(`/proc/${p}/maps`, 'utf8').includes(abs);
    } catch {
      continue; // gone, or not ours to look at
    }
    if (uses) {
      let name = '?';
      try {
        name = fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim();
      } catch {
        /* gone */
      }
      users.push({ pid: Number(p), name });
    }
  }
  return users;
}

interface RecorderEnd {
  exitCode: number | null;
  signal: string | null;
  sessionId: number;
  dbFile?: string;
  /** The database was removed or replaced while recording: the session row, to be made again in another database. */
  removed?: boolean;
  session?: Record<string, unknown>;
}

function readRecorderEnd(dir: string): RecorderEnd | null {
  try {
    const j = JSON.parse(readInputFile(path.join(dir, RECORDER_END_FILE), 'recorder end file', 65536).toString('utf8'));
    if (typeof j !== 'object' || j === null || typeof j.sessionId !== 'number') return null;
    return {
      exitCode: typeof j.exitCode === 'number' ? j.exitCode : null,
      signal: typeof j.signal === 'string' ? j.signal : null,
      sessionId: j.sessionId,
      dbFile: typeof j.dbFile === 'string' ? j.dbFile : undefined,
      removed: j.removed === true,
      session: typeof j.session === 'object' && j.session !== null ? j.session : undefined,
    };
  } catch {
    return null;
  }
}

function readHeader(fd: number): TraceHeader | null {
  const buf = Buffer.alloc(HEADER_READ);
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  if (n < buf.length || buf.readUInt32LE(HEADER.magic) === 0) return null;
  return parseHeader(buf);
}

/** The chunks of a trace file that hold committed records, in file order. */
function scanChunks(fd: number, header: TraceHeader): ChunkInfo[] {
  const size = fs.fstatSync(fd).size;
  const slots = header.chunkSize / RECORD_SIZE;
  const out: ChunkInfo[] = [];
  const head = Buffer.alloc(RECORD_SIZE);
  const body = Buffer.alloc(header.chunkSize);
  for (let i = 1; i < header.chunksUsed; i++) {
    const base = i * header.chunkSize;
    if (base + header.chunkSize > size) continue; // never extended
    fs.readSync(fd, head, 0, RECORD_SIZE, base);
    if (head.readUInt32LE(CHUNK_HEADER.magic) !== CHUNK_MAGIC) continue; // being set up, or punched out (stored)
    const got = fs.readSync(fd, body, 0, header.chunkSize - RECORD_SIZE, base + RECORD_SIZE);
    const max = Math.min(slots - 1, Math.floor(got / RECORD_SIZE));
    const gen = head.readUInt32LE(CHUNK_HEADER.gen);
    let n = 0;
    while (n < max && committedAt(body, n * RECORD_SIZE, gen)) n++;
    out.push({ index: i, tid: head.readUInt32LE(CHUNK_HEADER.tid), threadIndex: head.readUInt32LE(CHUNK_HEADER.thread_index), seq: head.readUInt32LE(CHUNK_HEADER.chunk_seq), committed: n });
  }
  // A chunk and its copy (docs/TRACE_FORMAT.md "Copies": the ingest copies a full chunk out
  // for a writer it lags behind) hold the same records: keep one.
  const seen = new Map<string, ChunkInfo>();
  for (const c of out) {
    const key = `${c.threadIndex}:${c.seq}`;
    const other = seen.get(key);
    if (!other || c.committed > other.committed) seen.set(key, c);
  }
  return out.filter((c) => seen.get(`${c.threadIndex}:${c.seq}`) === c);
}

function decode(buf: Buffer, chunk: ChunkInfo, from: number, baseHi: number, baseLo: number): RecordBatch {
  return decodeRecords(buf, from * RECORD_SIZE, chunk.committed - from, chunk.tid, chunk.threadIndex, baseHi, baseLo);
}

function readNames(file: string): { id: number; name: string }[] {
  if (!fs.existsSync(file)) return [];
  const buf = readInputFile(file, 'trace names file', 1024 * 1024 * 1024);
  return parseNames(buf).names;
}

const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : (v as number));
const big = (v: unknown): number | bigint => (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : (v as number | bigint));

/** The absolute path of a folder that exists (a UserError otherwise). */
export function assertTraceDir(traceDir: string): string {
  const dir = path.resolve(traceDir);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new UserError(`trace folder not found: ${traceDir}`);
  }
  if (!st.isDirectory()) throw new UserError(`${traceDir} is not a trace folder (not a folder)`);
  return dir;
}

/** Whether the trace's database was removed while recording (its session is made again wherever it is ingested). */
export function traceOfRemovedDatabase(dir: string): boolean {
  const end = readRecorderEnd(path.resolve(dir));
  return end?.removed === true && end.session !== undefined;
}

/**
 * The folder of a recorder killed before its target ran (or wrote anything): empty, and its
 * session still "recording" with no process. Nothing was recorded: the session ends failed and
 * the folder goes (otherwise the session would stay "recording", undeletable).
 */
function endEmptyRecording(o: ResumeOptions, dir: string): ResumeResult | null {
  if (fs.readdirSync(dir).some((n) => n !== RECORDER_END_FILE) || sessionOfTraceDir(dir) !== o.sessionId) return null;
  const s = sessionStatusAndProcesses(o.db, o.sessionId);
  if (!s || s.status !== 'recording' || s.processes > 0 || traceUsers(dir).length > 0) return null;
  failRecordingSession(o.db, o.sessionId);
  fs.rmSync(dir, { recursive: true, force: true });
  const totals = { events: 0, markers: 0, allocations: 0, liveAtExit: 0, iterations: 0, unmatchedFrees: 0, peakLiveBytes: 0, tBegin: null, tEnd: null, ops: 0 };
  return { sessionId: o.sessionId, added: 0, totals, claimed: null, status: 'failed', missing: null, notes: [`session ${o.sessionId} recorded nothing (its recorder died before the target wrote a trace): marked failed`], plan: null };
}

export function resumeIngest(o: ResumeOptions): ResumeResult {
  const { db } = o;
  const dir = assertTraceDir(o.traceDir);
  const names = fs.readdirSync(dir).filter((n) => TRACE_FILE.test(n)).sort();
  if (names.length === 0) {
    const empty = endEmptyRecording(o, dir);
    if (empty) return empty;
    throw new UserError(`${o.traceDir} holds no trace files (trace-PID-NS.mpt): not a kept recording`);
  }

  let end = readRecorderEnd(dir);
  let sessionId = o.sessionId;
  if (end?.removed && end.session) {
    // Its database was removed while recording: the session is made again here, and the folder
    // now names it (an ingest stopped part-way resumes into it).
    sessionId = recreateSession(db, end.session);
    end = { ...end, removed: false, session: undefined, sessionId, dbFile: path.resolve(o.dbFile) };
    fs.writeFileSync(path.join(dir, RECORDER_END_FILE), JSON.stringify(end));
    o.onNote?.(`session ${end.sessionId} of a database removed while recording is made again here as session ${sessionId}`);
  }
  const session = sessionForResume(db, sessionId);
  if (!session) throw new UserError(`no session ${sessionId} in ${o.dbFile}: this trace belongs to another database (or give --session)`);
  if (session.clock_base_ns === null) throw new UserError(`session ${sessionId} of ${o.dbFile} was not recorded from a trace folder (no clock base)`);
  const users = traceUsers(dir);
  if (users.length) {
    const who = users.slice(0, 3).map((u) => `${u.pid} (${u.name})`).join(', ');
    throw new UserError(`the trace in ${o.traceDir} is still in use by process ${who}: the target or its ingester is still running; wait for it to end`);
  }
  if (end && end.sessionId !== sessionId) {
    throw new UserError(`${o.traceDir} is the trace of session ${end.sessionId}${end.dbFile ? ` of ${end.dbFile}` : ''}, not of session ${sessionId}`);
  }
  if (end && (end.exitCode !== null || end.signal !== null)) {
    setExitIfUnset(db, sessionId, end.exitCode, end.signal);
    session.signal ??= end.signal;
  }
  const clockBase = session.clock_base_ns;
  const baseHi = Number(clockBase >> 32n);
  const baseLo = Number(clockBase & 0xffffffffn);

  const storedBefore = storedRecording(db, sessionId);
  const processes = new Map<string, number>();
  for (const r of storedBefore.processes) {
    processes.set(r.trace_file, r.id);
  }
  for (const tf of processes.keys()) {
    if (!names.includes(tf)) throw new UserError(`${o.traceDir} is not the trace of session ${sessionId} in ${o.dbFile} (its ${tf} is not there)`);
  }
  if (processes.size === 0 && session.status !== 'recording' && session.status !== 'failed' && session.status !== 'incomplete') {
    throw new UserError(`session ${sessionId} in ${o.dbFile} is ${session.status} and holds no process: not the session of this trace`);
  }

  // Rows stored per thread, and the thread and scope rows of the session.
  const threadRows = storedBefore.threads;
  const threadId = new Map<string, number>(threadRows.map((t) => [`${t.process_id}:${t.thread_index}`, t.id]));
  const threadProcess = new Map<number, number>(threadRows.map((t) => [t.id, t.process_id]));
  const stored = new Map<number, number>();
  for (const r of storedBefore.eventsPerThread) {
    stored.set(r.thread_id, r.n);
  }
  const scopes = new Map<string, { id: number; module: string; op: string; stackId: number | null }>();
  for (const r of storedBefore.ops) {
    scopes.set(`${r.process_id}:${r.name_id}`, { id: r.id, module: r.module, op: r.op, stackId: r.stack_id });
  }

  const rows = new RecordingRows(db, sessionId);
  // Python stacks the agent interned (schema 6): "@stack<TAB>frames" names, rows of their own,
  // pointed at by the third field of a scope name (main/record/trace-names.ts).
  const stacks = new Map<string, number>();
  for (const r of storedBefore.stacks) {
    stacks.set(`${r.process_id}:${r.name_id}`, r.id);
  }
  const defineStack = (processId: number, nameId: number, name: string) => {
    const key = `${processId}:${nameId}`;
    if (!stacks.has(key)) stacks.set(key, rows.addStack(processId, nameId, name.slice(STACK_NAME_PREFIX.length)));
  };
  const defineScope = (processId: number, nameId: number, name: string | null): number => {
    const key = `${processId}:${nameId}`;
    const [module, op, stack] = name === null ? ['', `#${nameId}`, ''] : splitScope(name);
    const stackId = stack === '' ? null : stacks.get(`${processId}:${stack}`) ?? null;
    const had = scopes.get(key);
    if (had) {
      if (name !== null && (had.module !== module || had.op !== op || had.stackId !== stackId)) {
        rows.renameOp(had.id, module, op, stackId);
        had.module = module;
        had.op = op;
        had.stackId = stackId;
      }
      return had.id;
    }
    const id = rows.addOp(processId, nameId, module, op, stackId);
    scopes.set(key, { id, module, op, stackId });
    return id;
  };

  // 1. What each trace file holds that is not stored yet, appended as event rows.
  const writer = new EventWriter(db);
  const traces: TraceFile[] = [];
  const sink: StreamEvent[] = [];
  let pendingRecords = 0;
  let added = 0;
  const notes: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const fd = fs.openSync(file, 'r');
    try {
      const header = readHeader(fd);
      if (!header) continue; // the process never wrote its header: no records
      const chunks = scanChunks(fd, header);
      inTransaction(db, () => {
        let pid = processes.get(name);
        if (pid === undefined) {
          pid = rows.addProcess(header.pid, header.ppid, header.forkChild, header.startNs, name);
          processes.set(name, pid);
        }
        for (const n of readNames(file.replace(/\.mpt$/, '.names'))) {
          if (n.name.startsWith(STACK_NAME_PREFIX)) defineStack(pid, n.id, n.name);
          else defineScope(pid, n.id, n.name);
        }
      }, { immediate: true });
      const processId = processes.get(name)!;
      traces.push({ file, name, header, processId, chunks });
      // Records before each chunk, per thread (see the comment at the top).
      const slots = header.chunkSize / RECORD_SIZE - 1;
      const byThread = new Map<number, ChunkInfo[]>();
      for (const c of chunks) {
        const list = byThread.get(c.threadIndex) ?? [];
        list.push(c);
        byThread.set(c.threadIndex, list);
      }
      const skipOf = new Map<number, number>();
      for (const [ti, list] of byThread) {
        list.sort((a, b) => a.seq - b.seq);
        const tId = threadId.get(`${processId}:${ti}`);
        const have = tId === undefined ? 0 : stored.get(tId) ?? 0;
        let before = 0;
        let nextSeq = 0;
        for (const c of list) {
          before += (c.seq - nextSeq) * slots; // chunks punched out: full, and stored
          skipOf.set(c.index, Math.max(0, Math.min(c.committed, have - before)));
          before += c.committed;
          nextSeq = c.seq + 1;
        }
      }
      const buf = Buffer.alloc(header.chunkSize - RECORD_SIZE);
      const scopeOf = (id: number) => {
        const s = scopes.get(`${processId}:${id}`);
        return s ? s.id : defineScope(processId, id, null);
      };
      const pendingChunks: ChunkInfo[] = [];
      const flushPending = () => {
        if (pendingChunks.length === 0) return;
        inTransaction(db, () => {
          writer.begin();
          for (const c of pendingChunks) {
            const skip = skipOf.get(c.index)!;
            fs.readSync(fd, buf, 0, c.committed * RECORD_SIZE, c.index * header.chunkSize + RECORD_SIZE);
            const batch = decode(buf, c, skip, baseHi, baseLo);
            const key = `${processId}:${c.threadIndex}`;
            let tId = threadId.get(key);
            if (tId === undefined) {
              tId = rows.addThread(processId, c.tid, c.threadIndex);
              threadId.set(key, tId);
              threadProcess.set(tId, processId);
            }
            writer.write(batch, tId, processId, scopeOf, sink);
            sink.length = 0;
            added += batch.count;
          }
          writer.flush();
        }, { immediate: true });
        pendingChunks.length = 0;
        pendingRecords = 0;
      };
      // Each thread's chunks in chunk_seq order (a reused chunk lies anywhere in the file), in the
      // places its chunks have in file order: a thread's rows stay a prefix of its records.
      const taken = new Map<number, number>();
      const ordered = chunks.map((c) => {
        const k = taken.get(c.threadIndex) ?? 0;
        taken.set(c.threadIndex, k + 1);
        return byThread.get(c.threadIndex)![k];
      });
      for (const c of ordered) {
        const skip = skipOf.get(c.index)!;
        if (skip >= c.committed) continue;
        pendingChunks.push(c);
        pendingRecords += c.committed - skip;
        if (pendingRecords >= BATCH_RECORDS) flushPending();
      }
      flushPending();
    } finally {
      fs.closeSync(fd);
    }
  }

  // 2. Lifetimes and the rest built again from every event of the session, in time order.
  inTransaction(db, () => deleteDerivedRows(db, sessionId), { immediate: true });
  const lifetimes = new LifetimeBuilder(db, sessionId);
  let firstId: number | null = null;
  let lastId: number | null = null;
  let batch: StreamEvent[] = [];
  const feed = () => {
    const events = batch;
    batch = [];
    inTransaction(db, () => {
      lifetimes.push(events);
      lifetimes.flush();
    }, { immediate: true });
  };
  forEachEventInTimeOrder(o.dbFile, sessionId, (r) => {
    const id = num(r[0]);
    const tId = num(r[1]);
    batch.push({
      id,
      threadId: tId,
      processId: threadProcess.get(tId)!,
      ts: num(r[2]),
      kind: num(r[3]),
      addr: big(r[4]),
      size: big(r[5]),
      align: num(r[6]),
      scope: r[7] === null ? null : num(r[7]),
      flags: num(r[8]),
    });
    if (firstId === null || id < firstId) firstId = id;
    if (lastId === null || id > lastId) lastId = id;
    if (batch.length >= BATCH_RECORDS) feed();
  });
  feed();

  // 3. The session's end: counts, what the interposers claimed, status.
  let claimed: number | null = 0;
  let plan: PlanCounters | null = null;
  let stoppedEarly = false;
  const result = inTransaction(db, () => {
    for (const t of traces) {
      const h = t.header;
      if (h.plan.status !== 0) plan = plan ? addCounters(plan, h.plan) : { ...h.plan };
      if (h.stoppedEarly) {
        stoppedEarly = true;
        notes.push(`process ${h.pid} stopped recording early (disk full or file size limit?): its trace is incomplete`);
      }
      rows.setProcessExit(t.processId, h.cleanExit, h.cleanExit ? h.eventsWritten : null);
      if (!h.cleanExit) claimed = null;
      else if (claimed !== null) claimed += h.eventsWritten;
    }
    const t = lifetimes.finish();
    // A process that stopped early counted only what it wrote: how much is missing is unknown.
    const missing = claimed === null || stoppedEarly ? null : Math.max(0, claimed - t.events);
    const status: ResumeResult['status'] = stoppedEarly || (missing !== null && missing > 0) ? 'incomplete' : session.signal ? 'killed' : 'complete';
    const ops = storeSessionTotals(db, sessionId, t, claimed, firstId, lastId, { status });
    return { totals: { ...t, ops }, status, missing };
  }, { immediate: true });
  if (o.removeTrace ?? true) fs.rmSync(dir, { recursive: true, force: true });
  return { sessionId, added, totals: result.totals, claimed, status: result.status, missing: result.missing, notes, plan };
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
