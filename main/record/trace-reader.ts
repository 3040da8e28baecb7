import fs from 'node:fs';
import type { RecordBatch } from '../../shared/trace-batch';

/**
 * Tails one trace file written by the interposer (docs/TRACE_FORMAT.md) while the target runs,
 * and reads what is left once it has exited or been killed. Only committed records are
 * returned, each exactly once.
 */

/*
 * The layout (docs/TRACE_FORMAT.md). Its one definition is native/include/trace-format.h;
 * test/native/layouts.test.ts checks every constant below against it (field names as there).
 */
export const TRACE_MAGIC = 'MPTRACE\0';
export const TRACE_VERSION = 1;
export const RECORD_SIZE = 32;
export const HEADER_BYTES = 4096;
/** Byte offsets of the header's fields (chunk 0). */
export const HEADER = {
  magic: 0,
  version: 8,
  record_size: 12,
  chunk_size: 16,
  pid: 20,
  ppid: 24,
  flags: 28,
  start_ns: 32,
  start_realtime_ns: 40,
  chunks_used: 48,
  events_written: 56,
  markers_written: 64,
  names_written: 72,
  threads_seen: 80,
  plan_hits: 88,
  plan_misses: 96,
  plan_hit_bytes: 104,
  plan_miss_bytes: 112,
  plan_arena_bytes: 120,
  plan_iterations_served: 128,
  plan_retirements: 136,
  plan_status: 144,
  plan_refusal: 148,
  plan_passthrough: 152,
  plan_signatures_served: 160,
  plan_iterations_unplanned: 168,
  chunks_reused: 176,
  chunks_filled: 184,
  spill_waiting: 188,
} as const;
/** Header flags bits. */
export const HEADER_FLAG = { clean_exit: 1, fork_child: 2, stopped: 4, attached: 8 } as const;
/** Bytes of the header parseHeader reads (through the plan counters). */
export const HEADER_READ = HEADER.chunks_reused;
/** Byte offsets of a chunk header's fields (the first CHUNK_HEADER_BYTES of chunks 1..). */
export const CHUNK_HEADER = { tid: 0, thread_index: 4, chunk_seq: 8, gen: 12, released: 16, magic: 24, flags: 28 } as const;
export const CHUNK_HEADER_BYTES = 32;
export const CHUNK_MAGIC = 0x4b43504d; // 'MPCK'
/** Chunk flags bits. */
export const CHUNK_FLAG = { kept: 1, closed: 2, copy: 4 } as const;
/** Byte offsets of a record's fields. */
export const RECORD = { ts_ns: 0, addr: 8, size: 16, scope: 24, kind: 28, align_log2: 29, flags: 30 } as const;
/** Record flags bit15: the parity of the chunk's gen (flags bit0/bit1: shared/trace-kinds.ts). */
export const RECORD_FLAG_GEN = 0x8000;
/** A names file record: u32 id, u32 len, then len bytes. */
export const NAME_RECORD = { id: 0, len: 4, bytes: 8 } as const;

export class TraceFormatError extends Error {}

export interface TraceHeader {
  version: number;
  chunkSize: number;
  pid: number;
  ppid: number;
  cleanExit: boolean;
  forkChild: boolean;
  /** The interposer stopped recording on an error (disk full, file size limit). */
  stoppedEarly: boolean;
  startNs: number;
  startRealtimeNs: number;
  chunksUsed: number;
  eventsWritten: number;
  markersWritten: number;
  plan: PlanCounters;
}

/** Plan-mode counters the interposer keeps in the header (docs/TRACE_FORMAT.md). */
export interface PlanCounters {
  hits: number;
  misses: number;
  hitBytes: number;
  missBytes: number;
  arenaBytes: number;
  iterationsServed: number;
  retirements: number;
  /** 0 no plan, 1 loaded and observing, 2 serving, 3 refused */
  status: number;
  refusal: number;
  /** Plans of a plan set that served at least one iteration, all threads (offset 160). */
  signaturesServed: number;
  /** Iterations in which no plan of a set was left, all threads; 0 with a single plan (offset 168). */
  iterationsUnplanned: number;
}

/** A batch of decoded records of one thread, columnar. */
export interface NameRecord {
  id: number;
  name: string;
}

interface ChunkState {
  index: number;
  tid: number;
  threadIndex: number;
  seq: number;
  /** the chunk's generation (docs/TRACE_FORMAT.md "Chunk reuse"): its records carry its parity */
  gen: number;
  consumed: number; // records already returned
  full: boolean;
}

/** A record of a chunk of generation gen is committed: kind set, flags bit15 = gen's parity. */
export function committedAt(buf: Buffer, off: number, gen: number): boolean {
  return buf[off + RECORD.kind] !== 0 && buf[off + RECORD.flags + 1] >> 7 === (gen & 1);
}

/** Record flags without bit15 (the chunk generation's parity, not a property of the call). */
export function recordFlags(buf: Buffer, off: number): number {
  return buf.readUInt16LE(off + RECORD.flags) & ~RECORD_FLAG_GEN;
}

const TWO32 = 4294967296;
const INT64_MAX = (1n << 63n) - 1n;

/** u64 as a Number where exact, else a BigInt clamped to SQLite's INTEGER range. */
function u64(buf: Buffer, off: number): number | bigint {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readUInt32LE(off + 4);
  if (hi < 0x200000) return hi * TWO32 + lo;
  const v = buf.readBigUInt64LE(off);
  return v > INT64_MAX ? INT64_MAX : v;
}

function u64num(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 4) * TWO32 + buf.readUInt32LE(off);
}

/**
 * Decodes n committed records of one thread's chunk from `buf` at byte `from`; stamps become
 * nanoseconds since the clock base (its high and low 32-bit words).
 */
export function decodeRecords(buf: Buffer, from: number, n: number, tid: number, threadIndex: number, baseHi: number, baseLo: number): RecordBatch {
  const batch: RecordBatch = {
    tid,
    threadIndex,
    count: n,
    ts: new Float64Array(n),
    addr: new Array(n),
    size: new Array(n),
    scope: new Uint32Array(n),
    kind: new Uint8Array(n),
    alignLog2: new Uint8Array(n),
    flags: new Uint16Array(n),
  };
  for (let r = 0; r < n; r++) {
    const o = from + r * RECORD_SIZE;
    batch.ts[r] = (buf.readUInt32LE(o + RECORD.ts_ns + 4) - baseHi) * TWO32 + (buf.readUInt32LE(o + RECORD.ts_ns) - baseLo);
    batch.addr[r] = u64(buf, o + RECORD.addr);
    batch.size[r] = u64(buf, o + RECORD.size);
    batch.scope[r] = buf.readUInt32LE(o + RECORD.scope);
    batch.kind[r] = buf[o + RECORD.kind];
    batch.alignLog2[r] = buf[o + RECORD.align_log2];
    batch.flags[r] = recordFlags(buf, o);
  }
  return batch;
}

/** The whole name records at the start of `buf` (a trailing partial one is left: `used` bytes were read). */
export function parseNames(buf: Buffer): { names: NameRecord[]; used: number } {
  const names: NameRecord[] = [];
  let off = 0;
  while (off + NAME_RECORD.bytes <= buf.length) {
    const len = buf.readUInt32LE(off + NAME_RECORD.len);
    if (off + NAME_RECORD.bytes + len > buf.length) break;
    names.push({ id: buf.readUInt32LE(off + NAME_RECORD.id), name: buf.toString('utf8', off + NAME_RECORD.bytes, off + NAME_RECORD.bytes + len) });
    off += NAME_RECORD.bytes + len;
  }
  return { names, used: off };
}

export function parseHeader(buf: Buffer): TraceHeader {
  if (buf.length < HEADER_READ || buf.toString('latin1', 0, 8) !== TRACE_MAGIC) {
    throw new TraceFormatError('not a memoplan trace file (bad magic)');
  }
  const version = buf.readUInt32LE(HEADER.version);
  if (version !== TRACE_VERSION) throw new TraceFormatError(`unsupported trace version ${version}`);
  const recordSize = buf.readUInt32LE(HEADER.record_size);
  const chunkSize = buf.readUInt32LE(HEADER.chunk_size);
  if (recordSize !== RECORD_SIZE || chunkSize < 4096 || chunkSize % RECORD_SIZE !== 0) {
    throw new TraceFormatError(`bad trace geometry (record ${recordSize}, chunk ${chunkSize})`);
  }
  const flags = buf.readUInt32LE(HEADER.flags);
  return {
    version,
    chunkSize,
    pid: buf.readUInt32LE(HEADER.pid),
    ppid: buf.readUInt32LE(HEADER.ppid),
    cleanExit: (flags & HEADER_FLAG.clean_exit) !== 0,
    forkChild: (flags & HEADER_FLAG.fork_child) !== 0,
    stoppedEarly: (flags & HEADER_FLAG.stopped) !== 0,
    startNs: u64num(buf, HEADER.start_ns),
    startRealtimeNs: u64num(buf, HEADER.start_realtime_ns),
    chunksUsed: u64num(buf, HEADER.chunks_used),
    eventsWritten: u64num(buf, HEADER.events_written),
    markersWritten: u64num(buf, HEADER.markers_written),
    plan: {
      hits: u64num(buf, HEADER.plan_hits),
      misses: u64num(buf, HEADER.plan_misses),
      hitBytes: u64num(buf, HEADER.plan_hit_bytes),
      missBytes: u64num(buf, HEADER.plan_miss_bytes),
      arenaBytes: u64num(buf, HEADER.plan_arena_bytes),
      iterationsServed: u64num(buf, HEADER.plan_iterations_served),
      retirements: u64num(buf, HEADER.plan_retirements),
      status: buf.readUInt32LE(HEADER.plan_status),
      refusal: buf.readUInt32LE(HEADER.plan_refusal),
      signaturesServed: u64num(buf, HEADER.plan_signatures_served),
      iterationsUnplanned: u64num(buf, HEADER.plan_iterations_unplanned),
    },
  };
}

export class TraceReader {
  private fd: number;
  private header: TraceHeader | null = null;
  private chunks: ChunkState[] = [];
  private namesFd: number | null = null;
  private namesOffset = 0;
  private namesPending: Buffer = Buffer.alloc(0);
  private scratch: Buffer = Buffer.alloc(0);
  /** per thread index: the chunk_seq to read next (a thread's chunks are read in that order) */
  private nextSeq = new Map<number, number>();

  private readonly baseHi: number;
  private readonly baseLo: number;

  /**
   * Timestamps are returned relative to `clockBaseNs` (a CLOCK_MONOTONIC instant before the
   * session began): absolute nanoseconds pass 2^53 after 104 days of uptime, where a double
   * can no longer tell neighbouring nanoseconds apart.
   */
  constructor(readonly file: string, readonly namesFile: string, clockBaseNs = 0n) {
    this.fd = fs.openSync(file, 'r');
    this.baseHi = Number(clockBaseNs >> 32n);
    this.baseLo = Number(clockBaseNs & 0xffffffffn);
  }

  close(): void {
    fs.closeSync(this.fd);
    if (this.namesFd !== null) fs.closeSync(this.namesFd);
  }

  /** The header as last read; null until the interposer has written it. */
  readHeader(): TraceHeader | null {
    const buf = Buffer.alloc(HEADER_READ);
    const n = fs.readSync(this.fd, buf, 0, buf.length, 0);
    if (n < buf.length || buf.readUInt32LE(HEADER.magic) === 0) return this.header;
    this.header = parseHeader(buf);
    return this.header;
  }

  /** New interned names since the last call (complete records only). */
  readNames(): NameRecord[] {
    if (this.namesFd === null) {
      try {
        this.namesFd = fs.openSync(this.namesFile, 'r');
      } catch {
        return [];
      }
    }
    const size = fs.fstatSync(this.namesFd).size;
    if (size <= this.namesOffset) return [];
    const fresh = Buffer.alloc(size - this.namesOffset);
    const got = fs.readSync(this.namesFd, fresh, 0, fresh.length, this.namesOffset);
    this.namesOffset += got;
    const buf = Buffer.concat([this.namesPending, fresh.subarray(0, got)]);
    const { names: out, used: off } = parseNames(buf);
    this.namesPending = Buffer.from(buf.subarray(off));
    return out;
  }

  /**
   * Reads every record committed since the last call, grouped by thread chunk in program order.
   * Returns null when the header is not there yet.
   */
  readRecords(): RecordBatch[] | null {
    const header = this.readHeader();
    if (!header) return null;
    const fileSize = fs.fstatSync(this.fd).size;
    const batches: RecordBatch[] = [];
    const slots = header.chunkSize / RECORD_SIZE;
    for (let i = this.chunks.length + 1; i < header.chunksUsed; i++) {
      this.chunks.push({ index: i, tid: 0, threadIndex: 0, seq: 0, gen: 0, consumed: 0, full: false });
    }
    // A thread's chunks are read in chunk_seq order (with reuse its next chunk may lie before
    // the current one in the file): passes in file order until one finishes no chunk.
    for (let progress = true; progress; ) {
      progress = false;
      for (const chunk of this.chunks) {
        if (chunk.full) continue;
        const base = chunk.index * header.chunkSize;
        if (base + header.chunkSize > fileSize) continue; // not extended yet
        if (chunk.tid === 0 && !this.readChunkHeader(chunk, base)) continue;
        const next = this.nextSeq.get(chunk.threadIndex) ?? 0;
        if (chunk.seq < next) chunk.full = true; // a copy, or the original of one, read already ("Copies")
        if (chunk.seq !== next) continue;
        const first = 1 + chunk.consumed;
        // Left with free slots (its thread's last destructors moved on to a new chunk): what was
        // committed before the flag, looked at first, is all there is.
        const closed = first < slots && this.closed(base);
        const batch = first < slots ? this.readCommitted(chunk, base, first, slots) : null;
        if (batch) batches.push(batch);
        if (closed || 1 + chunk.consumed >= slots) {
          chunk.full = true;
          this.nextSeq.set(chunk.threadIndex, chunk.seq + 1);
          progress = true;
        }
      }
      if (!progress) progress = this.skipMissingSeqs();
    }
    return batches;
  }

  /**
   * A thread whose next chunk_seq is in no chunk of the file while a later one is: its earlier
   * chunks were stored and released by another reader, so its chain starts later (as
   * native/ingest/reader.cpp). True when a thread moved on.
   */
  private skipMissingSeqs(): boolean {
    const lowest = new Map<number, number>();
    const blocked = new Set<number>();
    for (const c of this.chunks) {
      if (c.tid === 0 || c.full) continue;
      if (this.nextSeq.get(c.threadIndex) === c.seq) blocked.add(c.threadIndex);
      else if (c.seq < (lowest.get(c.threadIndex) ?? Infinity)) lowest.set(c.threadIndex, c.seq);
    }
    let moved = false;
    for (const [thread, seq] of lowest) {
      if (!blocked.has(thread) && seq > (this.nextSeq.get(thread) ?? 0)) {
        this.nextSeq.set(thread, seq);
        moved = true;
      }
    }
    return moved;
  }

  /** Whether the writer left the chunk before it was full (chunk flags bit1, after its last commit). */
  private closed(base: number): boolean {
    const b = Buffer.alloc(4);
    fs.readSync(this.fd, b, 0, 4, base + CHUNK_HEADER.flags);
    return (b.readUInt32LE(0) & CHUNK_FLAG.closed) !== 0;
  }

  private readChunkHeader(chunk: ChunkState, base: number): boolean {
    const buf = Buffer.alloc(CHUNK_HEADER_BYTES);
    fs.readSync(this.fd, buf, 0, CHUNK_HEADER_BYTES, base);
    if (buf.readUInt32LE(CHUNK_HEADER.magic) !== CHUNK_MAGIC) return false;
    chunk.tid = buf.readUInt32LE(CHUNK_HEADER.tid);
    chunk.threadIndex = buf.readUInt32LE(CHUNK_HEADER.thread_index);
    chunk.seq = buf.readUInt32LE(CHUNK_HEADER.chunk_seq);
    chunk.gen = buf.readUInt32LE(CHUNK_HEADER.gen);
    if (!this.nextSeq.has(chunk.threadIndex)) this.nextSeq.set(chunk.threadIndex, 0);
    return true;
  }

  private readCommitted(chunk: ChunkState, base: number, first: number, slots: number): RecordBatch | null {
    const want = (slots - first) * RECORD_SIZE;
    if (this.scratch.length < want) this.scratch = Buffer.alloc(want);
    const buf = this.scratch;
    const got = fs.readSync(this.fd, buf, 0, want, base + first * RECORD_SIZE);
    let n = 0;
    const max = Math.floor(got / RECORD_SIZE);
    while (n < max && committedAt(buf, n * RECORD_SIZE, chunk.gen)) n++;
    if (n === 0) return null;
    // Read the committed prefix again: every field of those records was stored before the
    // commit byte we saw, so the second copy holds them whole (see docs/TRACE_FORMAT.md).
    fs.readSync(this.fd, buf, 0, n * RECORD_SIZE, base + first * RECORD_SIZE);
    chunk.consumed += n;
    const batch = decodeRecords(buf, 0, n, chunk.tid, chunk.threadIndex, this.baseHi, this.baseLo);
    return batch;
  }
}
