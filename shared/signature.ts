/**
 * The allocation signature of an iteration (docs/PLAN_FORMAT.md, "Signature"): the count and two
 * FNV-style hashes over the (size, recorded alignment) sequence of its allocations. The ingest
 * computes it as it stores an iteration (main/store/lifetimes.ts, native/ingest/lifetimes.cpp);
 * a plan with a size floor lists only the allocations above it, and its signature is this one
 * over those (test/plan/signature.test.ts checks that both agree).
 */

export const SIGNATURE_SEED_A = 0x811c9dc5;
export const SIGNATURE_SEED_B = 0x12345678;

export function signatureMix(h: number, v: number): number {
  return Math.imul(h ^ v, 0x01000193) >>> 0;
}

/** `align` is the alignment as recorded: 0 for malloc/calloc/realloc, the requested one else. */
export function iterationSignature(allocs: readonly { size: number; align: number }[]): string {
  let a = SIGNATURE_SEED_A;
  let b = SIGNATURE_SEED_B;
  for (const { size, align } of allocs) {
    a = signatureMix(signatureMix(a, size >>> 0), align);
    b = signatureMix(signatureMix(b, Math.floor(size / 4294967296)), size & 0xffff);
  }
  return allocs.length.toString(16) + '-' + a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}
