import fs from 'node:fs';
import type { RecordBatch } from '../../shared/trace-batch';

/**
 * Tails one trace file written by the interposer (docs/TRACE_FORMAT.md) while the target runs,
 * and reads what is left once it has exited or been killed. Only committed records are
 * returned, each exactly once.
 */

export const TRACE_MAGIC = 'MPTRACE\0';
export const TRACE_VERSION = 1;
export const RECORD_SIZE = 32;
export const HEADER_BYTES = 4096;
const HEADER_READ = 176;
const CHUNK_MAGIC = 0x4b43504d; // 'MPCK'
const FLAG_CLEAN_EXIT = 1;
const FLAG_FORK_CHILD = 2;
const FLAG_STOPPED_EARLY = 4;

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
  return buf[off + 28] !== 0 && buf[off + 31] >> 7 === (gen & 1);
}

/** Record flags without bit15 (the chunk generation's parity, not a property of the call). */
export function recordFlags(buf: Buffer, off: number): number {
  return buf.readUInt16LE(off + 30) & 0x7fff;
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

export function parseHeader(buf: Buffer): TraceHeader {
  if (buf.length < HEADER_READ || buf.toString('latin1', 0, 8) !== TRACE_MAGIC) {
    throw new TraceFormatError('not a memoplan trace file (bad magic)');
  }
  const version = buf.readUInt32LE(8);
  if (version !== TRACE_VERSION) throw new TraceFormatError(`unsupported trace version ${version}`);
  const recordSize = buf.readUInt32LE(12);
  const chunkSize = buf.readUInt32LE(16);
  if (recordSize !== RECORD_SIZE || chunkSize < 4096 || chunkSize % RECORD_SIZE !== 0) {
    throw new TraceFormatError(`bad trace geometry (record ${recordSize}, chunk ${chunkSize})`);
  }
  const flags = buf.readUInt32LE(28);
  return {
    version,
    chunkSize,
    pid: buf.readUInt32LE(20),
    ppid: buf.readUInt32LE(24),
    cleanExit: (flags & FLAG_CLEAN_EXIT) !== 0,
    forkChild: (flags & FLAG_FORK_CHILD) !== 0,
    stoppedEarly: (flags & FLAG_STOPPED_EARLY) !== 0,
    startNs: u64num(buf, 32),
    startRealtimeNs: u64num(buf, 40),
    chunksUsed: u64num(buf, 48),
    eventsWritten: u64num(buf, 56),
    markersWritten: u64num(buf, 64),
    plan: {
      hits: u64num(buf, 88),
      misses: u64num(buf, 96),
      hitBytes: u64num(buf, 104),
      missBytes: u64num(buf, 112),
      arenaBytes: u64num(buf, 120),
      iterationsServed: u64num(buf, 128),
      retirements: u64num(buf, 136),
      status: buf.readUInt32LE(144),
      refusal: buf.readUInt32LE(148),
      signaturesServed: u64num(buf, 160),
      iterationsUnplanned: u64num(buf, 168),
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
    if (n < buf.length || buf.readUInt32LE(0) === 0) return this.header;
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
    const out: NameRecord[] = [];
    let off = 0;
    while (off + 8 <= buf.length) {
      const len = buf.readUInt32LE(off + 4);
      if (off + 8 + len > buf.length) break;
      out.push({ id: buf.readUInt32LE(off), name: buf.toString('utf8', off + 8, off + 8 + len) });
      off += 8 + len;
    }
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
    fs.readSync(this.fd, b, 0, 4, base + 28);
    return (b.readUInt32LE(0) & 2) !== 0;
  }

  private readChunkHeader(chunk: ChunkState, base: number): boolean {
    const buf = Buffer.alloc(RECORD_SIZE);
    fs.readSync(this.fd, buf, 0, RECORD_SIZE, base);
    if (buf.readUInt32LE(24) !== CHUNK_MAGIC) return false;
    chunk.tid = buf.readUInt32LE(0);
    chunk.threadIndex = buf.readUInt32LE(4);
    chunk.seq = buf.readUInt32LE(8);
    chunk.gen = buf.readUInt32LE(12);
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
    const batch: RecordBatch = {
      tid: chunk.tid,
      threadIndex: chunk.threadIndex,
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
      const o = r * RECORD_SIZE;
      batch.ts[r] = (buf.readUInt32LE(o + 4) - this.baseHi) * TWO32 + (buf.readUInt32LE(o) - this.baseLo);
      batch.addr[r] = u64(buf, o + 8);
      batch.size[r] = u64(buf, o + 16);
      batch.scope[r] = buf.readUInt32LE(o + 24);
      batch.kind[r] = buf[o + 28];
      batch.alignLog2[r] = buf[o + 29];
      batch.flags[r] = recordFlags(buf, o);
    }
    return batch;
  }
}
