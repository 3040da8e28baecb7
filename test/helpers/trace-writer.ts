import fs from 'node:fs';
import {
  CHUNK_HEADER, CHUNK_HEADER_BYTES, CHUNK_MAGIC, HEADER, HEADER_FLAG, NAME_RECORD, RECORD, RECORD_SIZE, TRACE_MAGIC, TRACE_VERSION,
} from '../../main/record/trace-format';

/**
 * Writes trace files in the interposer's format (docs/TRACE_FORMAT.md) from JavaScript, so the
 * reader and the lifetime builder can be tested on crafted cases (torn records, realloc
 * failures, cross-thread reuse) that a real target cannot be made to produce on demand.
 */

// The layout is the reader's (main/record/trace-format.ts, checked against
// native/include/trace-format.h by test/native/layouts.test.ts); only the chunk size differs.
export const CHUNK = 4096; // small chunks make boundaries easy to reach
const SLOTS = CHUNK / RECORD_SIZE; // slot 0 holds the chunk header

export interface Rec {
  ts: number | bigint;
  kind: number;
  addr?: number | bigint;
  size?: number | bigint;
  scope?: number;
  alignLog2?: number;
  flags?: number;
}

export class FakeTrace {
  private chunks = 1;
  private threads = new Map<number, { chunk: number; slot: number; seq: number; tid: number }>();
  readonly fd: number;

  constructor(readonly file: string, readonly pid = 4242, opts: { forkChild?: boolean; ppid?: number } = {}) {
    this.fd = fs.openSync(file, 'w+');
    const h = Buffer.alloc(CHUNK);
    h.write(TRACE_MAGIC, HEADER.magic, 'latin1');
    h.writeUInt32LE(TRACE_VERSION, HEADER.version);
    h.writeUInt32LE(RECORD_SIZE, HEADER.record_size);
    h.writeUInt32LE(CHUNK, HEADER.chunk_size);
    h.writeUInt32LE(pid, HEADER.pid);
    h.writeUInt32LE(opts.ppid ?? 1, HEADER.ppid);
    h.writeUInt32LE(opts.forkChild ? HEADER_FLAG.fork_child : 0, HEADER.flags);
    h.writeBigUInt64LE(1000n, HEADER.start_ns);
    fs.writeSync(this.fd, h, 0, CHUNK, 0);
    this.setChunks();
  }

  private setChunks(): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(this.chunks));
    fs.writeSync(this.fd, b, 0, 8, HEADER.chunks_used);
  }

  /** Appends records for thread `index`, committed unless `commit` is false. */
  write(index: number, recs: Rec[], commit = true): void {
    for (const r of recs) {
      let t = this.threads.get(index);
      if (!t || t.slot >= SLOTS) {
        const chunk = this.chunks++;
        fs.writeSync(this.fd, Buffer.alloc(CHUNK), 0, CHUNK, chunk * CHUNK);
        const hdr = Buffer.alloc(CHUNK_HEADER_BYTES);
        hdr.writeUInt32LE(1000 + index, CHUNK_HEADER.tid);
        hdr.writeUInt32LE(index, CHUNK_HEADER.thread_index);
        hdr.writeUInt32LE(t ? t.seq + 1 : 0, CHUNK_HEADER.chunk_seq);
        hdr.writeUInt32LE(CHUNK_MAGIC, CHUNK_HEADER.magic);
        fs.writeSync(this.fd, hdr, 0, CHUNK_HEADER_BYTES, chunk * CHUNK);
        t = { chunk, slot: 1, seq: t ? t.seq + 1 : 0, tid: 1000 + index };
        this.threads.set(index, t);
        this.setChunks();
      }
      const b = Buffer.alloc(RECORD_SIZE);
      b.writeBigUInt64LE(BigInt(r.ts), RECORD.ts_ns);
      b.writeBigUInt64LE(BigInt(r.addr ?? 0), RECORD.addr);
      b.writeBigUInt64LE(BigInt(r.size ?? 0), RECORD.size);
      b.writeUInt32LE(r.scope ?? 0, RECORD.scope);
      b[RECORD.kind] = commit ? r.kind : 0;
      b[RECORD.align_log2] = r.alignLog2 ?? 0;
      b.writeUInt16LE(r.flags ?? 0, RECORD.flags);
      fs.writeSync(this.fd, b, 0, RECORD_SIZE, t.chunk * CHUNK + t.slot * RECORD_SIZE);
      t.slot++;
    }
  }

  /** Commits a record written with commit=false (sets its kind byte). */
  commitLast(index: number, kind: number): void {
    const t = this.threads.get(index)!;
    fs.writeSync(this.fd, Buffer.from([kind]), 0, 1, t.chunk * CHUNK + (t.slot - 1) * RECORD_SIZE + RECORD.kind);
  }

  /** A chunk counted in chunks_used and present in the file whose header magic is still 0 (being set up, or its thread died). */
  zeroMagicChunk(): void {
    fs.writeSync(this.fd, Buffer.alloc(CHUNK), 0, CHUNK, this.chunks++ * CHUNK);
    this.setChunks();
  }

  /** A chunk counted in chunks_used but beyond the end of the file (extension failed or not done yet). Last, before close(). */
  phantomChunk(): void {
    this.chunks++;
    this.setChunks();
  }

  /** Writes a header field (docs/TRACE_FORMAT.md): plan counters, flags. */
  setHeader(offset: number, value: bigint, bytes: 4 | 8 = 8): void {
    const b = Buffer.alloc(8);
    if (bytes === 8) b.writeBigUInt64LE(value);
    else b.writeUInt32LE(Number(value));
    fs.writeSync(this.fd, b, 0, bytes, offset);
  }

  names(entries: [number, string | Buffer][]): void {
    const parts = entries.map(([id, name]) => {
      const s = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
      const h = Buffer.alloc(NAME_RECORD.bytes);
      h.writeUInt32LE(id, NAME_RECORD.id);
      h.writeUInt32LE(s.length, NAME_RECORD.len);
      return Buffer.concat([h, s]);
    });
    fs.appendFileSync(this.file.replace(/\.mpt$/, '.names'), Buffer.concat(parts));
  }

  /** Appends raw bytes to the names file (a partial record, as a live reader may see). */
  rawNames(bytes: Buffer): void {
    fs.appendFileSync(this.file.replace(/\.mpt$/, '.names'), bytes);
  }

  cleanExit(events: number): void {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(HEADER_FLAG.clean_exit, 0);
    fs.writeSync(this.fd, b, 0, 4, HEADER.flags);
    b.writeBigUInt64LE(BigInt(events));
    fs.writeSync(this.fd, b, 0, 8, HEADER.events_written);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
