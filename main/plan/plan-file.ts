import { readInputFile, writeFileAtomic } from '../fs/files';

/**
 * The plan file the interposer loads in plan mode (docs/PLAN_FORMAT.md): a 128-byte header
 * naming the iteration signature the plan was made for, then one 24-byte entry per planned
 * allocation in allocation order. Little-endian; a checksum over the entries catches a
 * truncated or edited file.
 */

export const PLAN_MAGIC = 'MPPLAN1\0';
export const PLAN_VERSION = 2;
/** Version 1 files (until plans left the agent's own allocations out) name the agent mode they need. */
const PLAN_VERSION_AGENT_MODE = 1;
export const PLAN_HEADER_BYTES = 128;
export const PLAN_ENTRY_BYTES = 24;
const SIGNATURE_BYTES = 64;

export interface PlanEntry {
  /** Served from the arena at `offset`; false: the allocation outlives the iteration (malloc). */
  planned: boolean;
  offset: number;
  size: number;
  align: number;
}

export interface PlanFile {
  planId: number;
  arenaBytes: number;
  signature: string;
  /** Allocations of at most this many bytes are not in the plan (the allocator beneath serves them); 0: none. */
  sizeFloor: number;
  entries: PlanEntry[];
}

export class PlanFileError extends Error {}

/** FNV-1a, 32-bit, over bytes: simple to compute the same way in C. */
export function fnv1a32(buf: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < buf.length; i++) h = Math.imul(h ^ buf[i], 0x01000193) >>> 0;
  return h;
}

export function encodePlanFile(p: PlanFile): Buffer {
  if (Buffer.byteLength(p.signature, 'ascii') >= SIGNATURE_BYTES) throw new Error('plan signature too long');
  const n = p.entries.length;
  const out = Buffer.alloc(PLAN_HEADER_BYTES + n * PLAN_ENTRY_BYTES);
  p.entries.forEach((e, i) => {
    const o = PLAN_HEADER_BYTES + i * PLAN_ENTRY_BYTES;
    out.writeBigUInt64LE(BigInt(e.offset), o);
    out.writeBigUInt64LE(BigInt(e.size), o + 8);
    out.writeUInt32LE(e.align, o + 16);
    out.writeUInt32LE(e.planned ? 1 : 0, o + 20);
  });
  const total = p.entries.reduce((s, e) => s + (e.planned ? e.size : 0), 0);
  out.write(PLAN_MAGIC, 0, 'latin1');
  out.writeUInt32LE(PLAN_VERSION, 8);
  out.writeUInt32LE(PLAN_HEADER_BYTES, 12);
  out.writeBigUInt64LE(BigInt(n), 16);
  out.writeBigUInt64LE(BigInt(p.arenaBytes), 24);
  out.writeBigUInt64LE(BigInt(total), 32);
  out.writeUInt32LE(fnv1a32(out.subarray(PLAN_HEADER_BYTES)), 40);
  out.writeUInt32LE(0, 44); // flags: none defined
  out.write(p.signature, 48, 'ascii');
  out.writeBigUInt64LE(BigInt(p.planId), 112);
  out.writeBigUInt64LE(BigInt(p.sizeFloor), 120);
  return out;
}

export function decodePlanFile(buf: Buffer, source = 'plan file'): PlanFile {
  if (buf.length < PLAN_HEADER_BYTES || buf.toString('latin1', 0, 8) !== PLAN_MAGIC) {
    throw new PlanFileError(`${source} is not a memoplan plan file`);
  }
  const version = buf.readUInt32LE(8);
  if (version === PLAN_VERSION_AGENT_MODE) {
    throw new PlanFileError(`${source} was made by an older memoplan (plan format version 1, which depended on how the session was recorded); plan the session again with memoplan plan`);
  }
  if (version !== PLAN_VERSION) throw new PlanFileError(`${source} has plan format version ${version}; this memoplan reads version ${PLAN_VERSION}`);
  const n = Number(buf.readBigUInt64LE(16));
  const want = PLAN_HEADER_BYTES + n * PLAN_ENTRY_BYTES;
  if (buf.length !== want) throw new PlanFileError(`${source} is truncated or padded: ${buf.length} bytes, expected ${want} for ${n} entries`);
  if (fnv1a32(buf.subarray(PLAN_HEADER_BYTES)) !== buf.readUInt32LE(40)) throw new PlanFileError(`${source} is corrupt: checksum mismatch`);
  const arenaBytes = Number(buf.readBigUInt64LE(24));
  const sizeFloor = Number(buf.readBigUInt64LE(120));
  const entries: PlanEntry[] = [];
  for (let i = 0; i < n; i++) {
    const o = PLAN_HEADER_BYTES + i * PLAN_ENTRY_BYTES;
    const flags = buf.readUInt32LE(o + 20);
    const e = { planned: (flags & 1) !== 0, offset: Number(buf.readBigUInt64LE(o)), size: Number(buf.readBigUInt64LE(o + 8)), align: buf.readUInt32LE(o + 16) };
    if (flags > 1 || (e.planned && (e.offset + e.size > arenaBytes || e.align === 0 || e.offset % e.align !== 0))) {
      throw new PlanFileError(`${source} is corrupt: entry ${i} does not fit its arena or alignment`);
    }
    if (sizeFloor > 0 && e.size <= sizeFloor) throw new PlanFileError(`${source} is corrupt: entry ${i} (${e.size} bytes) is at or below the plan's size floor ${sizeFloor}`);
    entries.push(e);
  }
  const sigEnd = buf.indexOf(0, 48);
  const signature = buf.toString('ascii', 48, sigEnd < 0 || sigEnd > 112 ? 112 : sigEnd);
  return { planId: Number(buf.readBigUInt64LE(112)), arenaBytes, signature, sizeFloor, entries };
}

export function writePlanFile(file: string, p: PlanFile): void {
  writeFileAtomic(file, encodePlanFile(p), 'plan file'); // a temporary file beside it, removed on failure
}

/** A regular file of at most 1 GiB (44 million entries): /dev/zero or a FIFO is refused, not read without end. */
export function readPlanFile(file: string): PlanFile {
  return decodePlanFile(readInputFile(file, 'plan file'), file);
}
