import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../../main/paths';
import * as planFile from '../../main/plan/plan-file';
import * as traceReader from '../../main/record/trace-format';
import { isAllocKind, isMarkerKind, Kind, KIND_PLAN_ITER, RECORD_FLAG_AGENT, RECORD_FLAG_FAILED } from '../../shared/trace-kinds';

// The trace and plan file layouts have one definition, native/include/trace-format.h and
// plan-format.h. build/native/layouts (native/tests/layouts.c) prints every constant, offset and
// size of them as JSON; the TypeScript side reads and writes the same files with constants of
// its own (main/record/trace-format.ts, whose layout test/helpers/trace-writer.ts takes,
// main/plan/plan-file.ts, shared/trace-kinds.ts). Here the two are compared, field by field.

type Layout = { [key: string]: number | string | number[] | Layout };

function nativeLayouts(): Layout {
  const bin = path.join(PACKAGE_ROOT, 'build', 'native', 'layouts');
  assert.ok(fs.existsSync(bin), `${bin} is missing: build it with make -C native (npm run build does)`);
  const r = spawnSync(bin, [], { encoding: 'utf8' });
  assert.equal(r.status, 0, `layouts failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Layout;
}

/** The TypeScript side's constants, shaped as layouts.c prints the headers. */
function typescriptLayouts(): Layout {
  const t = traceReader;
  const p = planFile;
  const kinds: Layout = { ...Kind, plan_iter: KIND_PLAN_ITER };
  const allocKinds: number[] = [];
  for (let k = 0; k < 256; k++) if (isAllocKind(k)) allocKinds.push(k);
  let firstMarker = 0;
  while (firstMarker < 256 && !isMarkerKind(firstMarker)) firstMarker++;
  for (let k = firstMarker; k < 256; k++) assert.ok(isMarkerKind(k), `isMarkerKind(${k}): every kind from the first marker on is a marker`);
  return {
    trace: {
      magic: t.TRACE_MAGIC,
      version: t.TRACE_VERSION,
      record_size: t.RECORD_SIZE,
      chunk_size: 1 << 20, // written by the interposer; the reader takes the header's (tests write 4096)
      header_bytes: t.HEADER_BYTES,
      chunk_magic: t.CHUNK_MAGIC,
      chunk_header_size: t.CHUNK_HEADER_BYTES,
      chunk_slots: (1 << 20) / t.RECORD_SIZE - 1,
      header: { ...t.HEADER, bytes: 192 }, // 192..HEADER_BYTES - 1 reserved
      header_flags: { ...t.HEADER_FLAG },
      chunk_header: { ...t.CHUNK_HEADER, bytes: t.CHUNK_HEADER_BYTES },
      chunk_flags: { ...t.CHUNK_FLAG },
      record: { ...t.RECORD, bytes: t.RECORD_SIZE },
      record_flags: { failed: RECORD_FLAG_FAILED, agent: RECORD_FLAG_AGENT, gen: t.RECORD_FLAG_GEN },
      kinds,
      first_marker_kind: firstMarker,
      alloc_kinds: allocKinds,
      name_record: { ...t.NAME_RECORD },
      plan_status: { none: 0, loaded: 1, serving: 2, refused: 3 }, // trace-format.ts PlanCounters.status
    },
    plan: {
      magic: p.PLAN_MAGIC,
      version_agent_mode: p.PLAN_VERSION_AGENT_MODE,
      version: p.PLAN_VERSION,
      set_version: p.PLAN_SET_VERSION,
      header_size: p.PLAN_HEADER_BYTES,
      entry_size: p.PLAN_ENTRY_BYTES,
      signature_bytes: p.SIGNATURE_BYTES,
      set_dir_size: p.PLAN_SET_DIR_BYTES,
      set_max_plans: p.PLAN_SET_MAX_PLANS,
      fnv_basis: p.FNV_BASIS,
      fnv_prime: p.FNV_PRIME,
      entry_planned: p.PLAN_ENTRY_PLANNED,
      header: { ...p.PLAN_HEADER, bytes: p.PLAN_HEADER_BYTES },
      entry: { ...p.PLAN_ENTRY, bytes: p.PLAN_ENTRY_BYTES },
      set_header: { ...p.PLAN_SET_HEADER, bytes: p.PLAN_HEADER_BYTES },
      set_dir: { ...p.PLAN_SET_DIR, bytes: p.PLAN_SET_DIR_BYTES },
    },
  };
}

/**
 * Every difference between the native layout and the TypeScript one, as `path: native X, ts Y`
 * lines: a value that differs, a field only one side has. Empty when they agree.
 */
export function layoutMismatches(native: Layout, ts: Layout, at = ''): string[] {
  const out: string[] = [];
  const keys = [...new Set([...Object.keys(native), ...Object.keys(ts)])].sort();
  for (const k of keys) {
    const where = at ? `${at}.${k}` : k;
    const a = native[k];
    const b = ts[k];
    if (a === undefined || b === undefined) {
      out.push(`${where}: native ${JSON.stringify(a)}, ts ${JSON.stringify(b)} (a field only one side has)`);
    } else if (typeof a === 'object' && !Array.isArray(a) && typeof b === 'object' && !Array.isArray(b)) {
      out.push(...layoutMismatches(a, b, where));
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      out.push(`${where}: native ${JSON.stringify(a)}, ts ${JSON.stringify(b)}`);
    }
  }
  return out;
}

test('the TypeScript trace and plan file constants equal native/include/*.h (build/native/layouts)', () => {
  const native = nativeLayouts();
  assert.deepEqual(layoutMismatches(native, typescriptLayouts()), []);
  // Not vacuous: the layouts hold what the headers define (a spot check of each part).
  const tr = native.trace as Layout;
  const pl = native.plan as Layout;
  assert.equal((tr.header as Layout).chunks_used, 48);
  assert.equal((tr.chunk_header as Layout).magic, 24);
  assert.equal((tr.record as Layout).kind, 28);
  assert.equal((tr.record_flags as Layout).gen, 0x8000);
  assert.equal((tr.kinds as Layout).plan_iter, 36);
  assert.equal((pl.header as Layout).size_floor, 120);
  assert.equal((pl.set_dir as Layout).seen, 24);
});

test('the comparison finds a wrong value, a missing field and an extra one (self-check)', () => {
  const native = nativeLayouts();
  const ts = typescriptLayouts();
  const trace = ts.trace as Layout;
  const plan = ts.plan as Layout;
  (trace.header as Layout).chunks_used = 56; // a wrong offset
  (trace.record_flags as Layout).gen = 0x4000; // a wrong flag bit
  delete (plan.entry as Layout).flags; // a field the TypeScript side lacks
  (trace.kinds as Layout).mmap = 13; // a kind the native side lacks
  trace.magic = 'MPTRACE'; // the NUL left out
  assert.deepEqual(layoutMismatches(native, ts), [
    'plan.entry.flags: native 20, ts undefined (a field only one side has)',
    'trace.header.chunks_used: native 48, ts 56',
    'trace.kinds.mmap: native undefined, ts 13 (a field only one side has)',
    'trace.magic: native "MPTRACE\\u0000", ts "MPTRACE"',
    'trace.record_flags.gen: native 32768, ts 16384',
  ]);
});
