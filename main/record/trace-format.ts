import type { RecordBatch } from '../../shared/trace-batch';

/**
 * The trace file's layout for TypeScript, and its decoding: the header, committed records and
 * names (docs/TRACE_FORMAT.md). `memoplan ingest` (main/ingest/resume.ts) reads kept traces with
 * it; the JS reference ingest's tailing reader (test/oracle/trace-tail.ts) too.
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
