import fs from 'node:fs';

/**
 * Writes trace files in the interposer's format (docs/TRACE_FORMAT.md) from JavaScript, so the
 * reader and the lifetime builder can be tested on crafted cases (torn records, realloc
 * failures, cross-thread reuse) that a real target cannot be made to produce on demand.
 */

export const CHUNK = 4096; // small chunks make boundaries easy to reach
const SLOTS = CHUNK / 32;

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
    h.write('MPTRACE\0', 0, 'latin1');
    h.writeUInt32LE(1, 8);
    h.writeUInt32LE(32, 12);
    h.writeUInt32LE(CHUNK, 16);
    h.writeUInt32LE(pid, 20);
    h.writeUInt32LE(opts.ppid ?? 1, 24);
    h.writeUInt32LE(opts.forkChild ? 2 : 0, 28);
    h.writeBigUInt64LE(1000n, 32);
    fs.writeSync(this.fd, h, 0, CHUNK, 0);
    this.setChunks();
  }

  private setChunks(): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(this.chunks));
    fs.writeSync(this.fd, b, 0, 8, 48);
  }

  /** Appends records for thread `index`, committed unless `commit` is false. */
  write(index: number, recs: Rec[], commit = true): void {
    for (const r of recs) {
      let t = this.threads.get(index);
      if (!t || t.slot >= SLOTS) {
        const chunk = this.chunks++;
        fs.writeSync(this.fd, Buffer.alloc(CHUNK), 0, CHUNK, chunk * CHUNK);
        const hdr = Buffer.alloc(32);
        hdr.writeUInt32LE(1000 + index, 0);
        hdr.writeUInt32LE(index, 4);
        hdr.writeUInt32LE(t ? t.seq + 1 : 0, 8);
        hdr.writeUInt32LE(0x4b43504d, 24);
        fs.writeSync(this.fd, hdr, 0, 32, chunk * CHUNK);
        t = { chunk, slot: 1, seq: t ? t.seq + 1 : 0, tid: 1000 + index };
        this.threads.set(index, t);
        this.setChunks();
      }
      const b = Buffer.alloc(32);
      b.writeBigUInt64LE(BigInt(r.ts), 0);
      b.writeBigUInt64LE(BigInt(r.addr ?? 0), 8);
      b.writeBigUInt64LE(BigInt(r.size ?? 0), 16);
      b.writeUInt32LE(r.scope ?? 0, 24);
      b[28] = commit ? r.kind : 0;
      b[29] = r.alignLog2 ?? 0;
      b.writeUInt16LE(r.flags ?? 0, 30);
      fs.writeSync(this.fd, b, 0, 32, t.chunk * CHUNK + t.slot * 32);
      t.slot++;
    }
  }

  /** Commits a record written with commit=false (sets its kind byte). */
  commitLast(index: number, kind: number): void {
    const t = this.threads.get(index)!;
    fs.writeSync(this.fd, Buffer.from([kind]), 0, 1, t.chunk * CHUNK + (t.slot - 1) * 32 + 28);
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
      const h = Buffer.alloc(8);
      h.writeUInt32LE(id, 0);
      h.writeUInt32LE(s.length, 4);
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
    b.writeUInt32LE(1, 0);
    fs.writeSync(this.fd, b, 0, 4, 28);
    b.writeBigUInt64LE(BigInt(events));
    fs.writeSync(this.fd, b, 0, 8, 56);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
