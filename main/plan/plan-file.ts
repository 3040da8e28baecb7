import { readInputFile, writeFileAtomic } from '../fs/files';

/**
 * The plan file the interposer loads in plan mode (docs/PLAN_FORMAT.md): a 128-byte header
 * naming the iteration signature the plan was made for, then one 24-byte entry per planned
 * allocation in allocation order. Little-endian; a checksum over the entries catches a
 * truncated or edited file.
 */

/*
 * The layout's one definition is native/include/plan-format.h; test/native/layouts.test.ts
 * checks every constant here against it (field names as there).
 */
export const PLAN_MAGIC = 'MPPLAN1\0';
export const PLAN_VERSION = 2;
/** Version 1 files (until plans left the agent's own allocations out) name the agent mode they need. */
export const PLAN_VERSION_AGENT_MODE = 1;
export const PLAN_HEADER_BYTES = 128;
export const PLAN_ENTRY_BYTES = 24;
export const SIGNATURE_BYTES = 64;
/** Byte offsets of a version-2 header's fields. */
export const PLAN_HEADER = {
  magic: 0,
  version: 8,
  header_size: 12,
  entry_count: 16,
  arena_bytes: 24,
  total_bytes: 32,
  checksum: 40,
  flags: 44,
  signature: 48,
  plan_id: 112,
  size_floor: 120,
} as const;
/** Byte offsets of an entry's fields. */
export const PLAN_ENTRY = { offset: 0, size: 8, align: 16, flags: 20 } as const;
/** Entry flags bit0: served from the arena at its offset (no other bit is defined). */
export const PLAN_ENTRY_PLANNED = 1;
/** The checksum is FNV-1a 32 (fnv1a32) over every byte after the header. */
export const FNV_BASIS = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

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
  let h = FNV_BASIS;
  for (let i = 0; i < buf.length; i++) h = Math.imul(h ^ buf[i], FNV_PRIME) >>> 0;
  return h;
}

export function encodePlanFile(p: PlanFile): Buffer {
  if (Buffer.byteLength(p.signature, 'ascii') >= SIGNATURE_BYTES) throw new Error('plan signature too long');
  const n = p.entries.length;
  const out = Buffer.alloc(PLAN_HEADER_BYTES + n * PLAN_ENTRY_BYTES);
  p.entries.forEach((e, i) => {
    const o = PLAN_HEADER_BYTES + i * PLAN_ENTRY_BYTES;
    out.writeBigUInt64LE(BigInt(e.offset), o + PLAN_ENTRY.offset);
    out.writeBigUInt64LE(BigInt(e.size), o + PLAN_ENTRY.size);
    out.writeUInt32LE(e.align, o + PLAN_ENTRY.align);
    out.writeUInt32LE(e.planned ? PLAN_ENTRY_PLANNED : 0, o + PLAN_ENTRY.flags);
  });
  const total = p.entries.reduce((s, e) => s + (e.planned ? e.size : 0), 0);
  out.write(PLAN_MAGIC, PLAN_HEADER.magic, 'latin1');
  out.writeUInt32LE(PLAN_VERSION, PLAN_HEADER.version);
  out.writeUInt32LE(PLAN_HEADER_BYTES, PLAN_HEADER.header_size);
  out.writeBigUInt64LE(BigInt(n), PLAN_HEADER.entry_count);
  out.writeBigUInt64LE(BigInt(p.arenaBytes), PLAN_HEADER.arena_bytes);
  out.writeBigUInt64LE(BigInt(total), PLAN_HEADER.total_bytes);
  out.writeUInt32LE(fnv1a32(out.subarray(PLAN_HEADER_BYTES)), PLAN_HEADER.checksum);
  out.writeUInt32LE(0, PLAN_HEADER.flags); // flags: none defined
  out.write(p.signature, PLAN_HEADER.signature, 'ascii');
  out.writeBigUInt64LE(BigInt(p.planId), PLAN_HEADER.plan_id);
  out.writeBigUInt64LE(BigInt(p.sizeFloor), PLAN_HEADER.size_floor);
  return out;
}

export function decodePlanFile(buf: Buffer, source = 'plan file'): PlanFile {
  if (buf.length < PLAN_HEADER_BYTES || buf.toString('latin1', PLAN_HEADER.magic, PLAN_HEADER.magic + PLAN_MAGIC.length) !== PLAN_MAGIC) {
    throw new PlanFileError(`${source} is not a memoplan plan file`);
  }
  const version = buf.readUInt32LE(PLAN_HEADER.version);
  if (version === PLAN_VERSION_AGENT_MODE) {
    throw new PlanFileError(`${source} was made by an older memoplan (plan format version 1, which depended on how the session was recorded); plan the session again with memoplan plan`);
  }
  if (version === PLAN_SET_VERSION) throw new PlanFileError(`${source} is a plan set (format version ${PLAN_SET_VERSION}), not a single plan`);
  if (version !== PLAN_VERSION) throw new PlanFileError(`${source} has plan format version ${version}; this memoplan reads versions ${PLAN_VERSION} and ${PLAN_SET_VERSION}`);
  const n = Number(buf.readBigUInt64LE(PLAN_HEADER.entry_count));
  const want = PLAN_HEADER_BYTES + n * PLAN_ENTRY_BYTES;
  if (buf.length !== want) throw new PlanFileError(`${source} is truncated or padded: ${buf.length} bytes, expected ${want} for ${n} entries`);
  if (fnv1a32(buf.subarray(PLAN_HEADER_BYTES)) !== buf.readUInt32LE(PLAN_HEADER.checksum)) throw new PlanFileError(`${source} is corrupt: checksum mismatch`);
  const arenaBytes = Number(buf.readBigUInt64LE(PLAN_HEADER.arena_bytes));
  const sizeFloor = Number(buf.readBigUInt64LE(PLAN_HEADER.size_floor));
  const entries: PlanEntry[] = [];
  for (let i = 0; i < n; i++) {
    const o = PLAN_HEADER_BYTES + i * PLAN_ENTRY_BYTES;
    const flags = buf.readUInt32LE(o + PLAN_ENTRY.flags);
    const e = { planned: (flags & PLAN_ENTRY_PLANNED) !== 0, offset: Number(buf.readBigUInt64LE(o + PLAN_ENTRY.offset)), size: Number(buf.readBigUInt64LE(o + PLAN_ENTRY.size)), align: buf.readUInt32LE(o + PLAN_ENTRY.align) };
    if ((flags & ~PLAN_ENTRY_PLANNED) !== 0 || (e.planned && (e.offset + e.size > arenaBytes || e.align === 0 || e.offset % e.align !== 0))) {
      throw new PlanFileError(`${source} is corrupt: entry ${i} does not fit its arena or alignment`);
    }
    if (sizeFloor > 0 && e.size <= sizeFloor) throw new PlanFileError(`${source} is corrupt: entry ${i} (${e.size} bytes) is at or below the plan's size floor ${sizeFloor}`);
    entries.push(e);
  }
  const sigStart = PLAN_HEADER.signature, sigLimit = sigStart + SIGNATURE_BYTES;
  const sigEnd = buf.indexOf(0, sigStart);
  const signature = buf.toString('ascii', sigStart, sigEnd < 0 || sigEnd > sigLimit ? sigLimit : sigEnd);
  return { planId: Number(buf.readBigUInt64LE(PLAN_HEADER.plan_id)), arenaBytes, signature, sizeFloor, entries };
}

export function writePlanFile(file: string, p: PlanFile): void {
  writeFileAtomic(file, encodePlanFile(p), 'plan file'); // a temporary file beside it, removed on failure
}

/** A regular file of at most 1 GiB (44 million entries): /dev/zero or a FIFO is refused, not read without end. */
export function readPlanFile(file: string): PlanFile {
  return decodePlanFile(readInputFile(file, 'plan file'), file);
}

/*
 * Plan sets (version 3, docs/PLAN_FORMAT.md "Plan sets"): one file for every signature a model
 * serves. A 128-byte header, a directory of k 32-byte records {offset, length, key, seen}, then
 * the k plans, each a complete version-2 image, contiguous and in directory order.
 */

export const PLAN_SET_VERSION = 3;
export const PLAN_SET_DIR_BYTES = 32;
export const PLAN_SET_MAX_PLANS = 256;
/** Byte offsets of a version-3 header's fields (48..127 reserved, zero). */
export const PLAN_SET_HEADER = {
  magic: 0,
  version: 8,
  header_size: 12,
  plan_count: 16,
  set_id: 24,
  size_floor: 32,
  checksum: 40,
  flags: 44,
  reserved: 48,
} as const;
/** Byte offsets of a set directory record's fields. */
export const PLAN_SET_DIR = { offset: 0, length: 8, key: 16, seen: 24 } as const;

export interface PlanSetMember {
  plan: PlanFile;
  /** The input-shape key the agent reported for the iteration; 0 none (none is written yet). */
  key: bigint | number;
  /** Iterations with this signature in the recording. */
  seen: number;
}

export interface PlanSetFile {
  /** plan_sets.id in the database that made it; 0 none. */
  setId: number;
  /** Every plan's size floor equals it. */
  sizeFloor: number;
  plans: PlanSetMember[];
}

/** A decoded plan file of either version; a version-2 file is a set of one (setId 0, key 0, seen 0). */
export interface AnyPlanFile extends PlanSetFile {
  version: 2 | 3;
}

function checkSetMembers(plans: readonly { plan: PlanFile }[], sizeFloor: number, source: string): void {
  if (plans.length === 0 || plans.length > PLAN_SET_MAX_PLANS) {
    throw new PlanFileError(`${source} has ${plans.length} plans; a plan set holds 1..${PLAN_SET_MAX_PLANS}`);
  }
  const seen = new Map<string, number>();
  plans.forEach(({ plan }, i) => {
    if (plan.sizeFloor !== sizeFloor) {
      throw new PlanFileError(`${source}: plan ${i} has size floor ${plan.sizeFloor}, the set's is ${sizeFloor} (every plan of a set has the set's floor)`);
    }
    const prev = seen.get(plan.signature);
    if (prev !== undefined) throw new PlanFileError(`${source}: plans ${prev} and ${i} have the same signature ${plan.signature} (a set's signatures are distinct)`);
    seen.set(plan.signature, i);
  });
}

export function encodePlanSet(s: PlanSetFile): Buffer {
  checkSetMembers(s.plans, s.sizeFloor, 'plan set');
  const images = s.plans.map((m) => encodePlanFile(m.plan));
  const k = images.length;
  const dirEnd = PLAN_HEADER_BYTES + k * PLAN_SET_DIR_BYTES;
  const out = Buffer.alloc(dirEnd + images.reduce((n, b) => n + b.length, 0));
  let at = dirEnd;
  images.forEach((img, i) => {
    const d = PLAN_HEADER_BYTES + i * PLAN_SET_DIR_BYTES;
    const key = BigInt(s.plans[i].key);
    if (key < 0n || key >= 1n << 64n) throw new PlanFileError(`plan set: plan ${i}'s key ${key} is not a u64`);
    const seen = s.plans[i].seen;
    if (!Number.isSafeInteger(seen) || seen < 0) throw new PlanFileError(`plan set: plan ${i}'s seen ${seen} is not a count`);
    out.writeBigUInt64LE(BigInt(at), d + PLAN_SET_DIR.offset);
    out.writeBigUInt64LE(BigInt(img.length), d + PLAN_SET_DIR.length);
    out.writeBigUInt64LE(key, d + PLAN_SET_DIR.key);
    out.writeBigUInt64LE(BigInt(seen), d + PLAN_SET_DIR.seen);
    img.copy(out, at);
    at += img.length;
  });
  out.write(PLAN_MAGIC, PLAN_SET_HEADER.magic, 'latin1');
  out.writeUInt32LE(PLAN_SET_VERSION, PLAN_SET_HEADER.version);
  out.writeUInt32LE(PLAN_HEADER_BYTES, PLAN_SET_HEADER.header_size);
  out.writeBigUInt64LE(BigInt(k), PLAN_SET_HEADER.plan_count);
  out.writeBigUInt64LE(BigInt(s.setId), PLAN_SET_HEADER.set_id);
  out.writeBigUInt64LE(BigInt(s.sizeFloor), PLAN_SET_HEADER.size_floor);
  out.writeUInt32LE(fnv1a32(out.subarray(PLAN_HEADER_BYTES)), PLAN_SET_HEADER.checksum);
  out.writeUInt32LE(0, PLAN_SET_HEADER.flags); // flags: none defined; 48..127 reserved, zero
  return out;
}

/** u64 as an exact Number, or a PlanFileError naming the field. */
function safeU64(buf: Buffer, off: number, source: string, what: string): number {
  const v = buf.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new PlanFileError(`${source} is corrupt: ${what} ${v} is out of range`);
  return Number(v);
}

/** Decodes a version-3 set file; every plan in it is decoded (and checked) as a version-2 file. */
export function decodePlanSet(buf: Buffer, source = 'plan set file'): PlanSetFile {
  if (buf.length < PLAN_HEADER_BYTES || buf.toString('latin1', PLAN_SET_HEADER.magic, PLAN_SET_HEADER.magic + PLAN_MAGIC.length) !== PLAN_MAGIC) {
    throw new PlanFileError(`${source} is not a memoplan plan file`);
  }
  const version = buf.readUInt32LE(PLAN_SET_HEADER.version);
  if (version !== PLAN_SET_VERSION) throw new PlanFileError(`${source} has plan format version ${version}, not a plan set (version ${PLAN_SET_VERSION})`);
  const headerSize = buf.readUInt32LE(PLAN_SET_HEADER.header_size);
  if (headerSize !== PLAN_HEADER_BYTES) throw new PlanFileError(`${source} is corrupt: header size ${headerSize}, expected ${PLAN_HEADER_BYTES}`);
  const kBig = buf.readBigUInt64LE(PLAN_SET_HEADER.plan_count);
  if (kBig === 0n || kBig > BigInt(PLAN_SET_MAX_PLANS)) {
    throw new PlanFileError(`${source} is corrupt: plan count ${kBig}, a plan set holds 1..${PLAN_SET_MAX_PLANS}`);
  }
  const k = Number(kBig);
  const dirEnd = PLAN_HEADER_BYTES + k * PLAN_SET_DIR_BYTES;
  if (buf.length < dirEnd) throw new PlanFileError(`${source} is truncated: ${buf.length} bytes, its directory of ${k} plans ends at ${dirEnd}`);
  if (fnv1a32(buf.subarray(PLAN_HEADER_BYTES)) !== buf.readUInt32LE(PLAN_SET_HEADER.checksum)) throw new PlanFileError(`${source} is corrupt: checksum mismatch`);
  const flags = buf.readUInt32LE(PLAN_SET_HEADER.flags);
  if (flags !== 0) throw new PlanFileError(`${source} has flags 0x${flags.toString(16)}; none are defined`);
  if (buf.subarray(PLAN_SET_HEADER.reserved, PLAN_HEADER_BYTES).some((b) => b !== 0)) throw new PlanFileError(`${source} is corrupt: reserved header bytes 48..127 are not zero`);
  const setId = safeU64(buf, PLAN_SET_HEADER.set_id, source, 'set_id');
  const sizeFloor = safeU64(buf, PLAN_SET_HEADER.size_floor, source, 'size_floor');
  const plans: PlanSetMember[] = [];
  let expect = dirEnd;
  for (let i = 0; i < k; i++) {
    const d = PLAN_HEADER_BYTES + i * PLAN_SET_DIR_BYTES;
    const offset = buf.readBigUInt64LE(d + PLAN_SET_DIR.offset);
    const length = buf.readBigUInt64LE(d + PLAN_SET_DIR.length);
    if (offset !== BigInt(expect)) {
      throw new PlanFileError(`${source} is corrupt: plan ${i} is at offset ${offset}, expected ${expect} (plans are contiguous, in directory order, after the directory)`);
    }
    if (length < BigInt(PLAN_HEADER_BYTES) || offset + length > BigInt(buf.length)) {
      throw new PlanFileError(`${source} is corrupt: plan ${i} has length ${length} at offset ${offset}, outside the file's ${buf.length} bytes or shorter than a plan header`);
    }
    const end = expect + Number(length);
    const plan = decodePlanFile(buf.subarray(expect, end), `${source} (plan ${i})`);
    plans.push({ plan, key: buf.readBigUInt64LE(d + PLAN_SET_DIR.key), seen: safeU64(buf, d + PLAN_SET_DIR.seen, source, `plan ${i}'s seen`) });
    expect = end;
  }
  if (expect !== buf.length) throw new PlanFileError(`${source} is padded: ${buf.length} bytes, its last plan ends at ${expect}`);
  checkSetMembers(plans, sizeFloor, source);
  return { setId, sizeFloor, plans };
}

/** A plan file of version 2 (as a set of one) or 3. */
export function decodePlanAny(buf: Buffer, source = 'plan file'): AnyPlanFile {
  if (buf.length >= PLAN_HEADER_BYTES && buf.toString('latin1', PLAN_HEADER.magic, PLAN_HEADER.magic + PLAN_MAGIC.length) === PLAN_MAGIC && buf.readUInt32LE(PLAN_HEADER.version) === PLAN_SET_VERSION) {
    return { version: 3, ...decodePlanSet(buf, source) };
  }
  const plan = decodePlanFile(buf, source);
  return { version: 2, setId: 0, sizeFloor: plan.sizeFloor, plans: [{ plan, key: 0n, seen: 0 }] };
}

export function writePlanSet(file: string, s: PlanSetFile): void {
  writeFileAtomic(file, encodePlanSet(s), 'plan set file');
}

/** A plan file of either version: a regular file of at most 1 GiB. */
export function readPlanAny(file: string): AnyPlanFile {
  return decodePlanAny(readInputFile(file, 'plan file'), file);
}
