import fs from 'node:fs';
import type { RecordBatch } from '../../shared/trace-batch';
import {
  CHUNK_FLAG,
  CHUNK_HEADER,
  CHUNK_HEADER_BYTES,
  CHUNK_MAGIC,
  committedAt,
  decodeRecords,
  HEADER,
  HEADER_READ,
  parseHeader,
  parseNames,
  RECORD_SIZE,
  type NameRecord,
  type TraceHeader,
} from '../../main/record/trace-format';

/**
 * The JS reference ingest's reader (test/oracle/session-ingest.ts): tails one trace file
 * written by the interposer (docs/TRACE_FORMAT.md) while the target runs, and reads what is
 * left once it has exited or been killed. Only committed records are returned, each exactly
 * once. memoplan-ingest's native/ingest/reader.cpp is the product's; they are compared.
 */

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
