import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isPlanArmName } from '../../shared/api';
import { UserError } from '../../shared/errors';
import { interposerPath } from '../paths';

/**
 * Which allocators an A/B run can use on this machine. glibc is the system malloc (nothing
 * preloaded); jemalloc, tcmalloc and mimalloc are preloaded from their Debian packages, or from
 * a path given as `name=/path/lib.so`; `plan` is memoplan's interposer in plan mode over glibc,
 * and `plan+jemalloc`, `plan+tcmalloc`, `plan+mimalloc` the same over that allocator (preloaded
 * beneath the interposer: the plan serves the iteration, the allocator everything else).
 */

export type AllocatorKind = 'system' | 'preload' | 'plan';

export interface KnownAllocator {
  name: string;
  kind: AllocatorKind;
  /** Where Debian's package puts the library (first that exists wins). */
  candidates: string[];
  debianPackage: string | null;
  /** A plan arm over another allocator: that allocator's name. */
  base?: string;
}

const LIBDIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
const inLibDirs = (...files: string[]) => LIBDIRS.flatMap((d) => files.map((f) => path.join(d, f)));

export const KNOWN_ALLOCATORS: readonly KnownAllocator[] = [
  { name: 'glibc', kind: 'system', candidates: [], debianPackage: null },
  { name: 'jemalloc', kind: 'preload', candidates: inLibDirs('libjemalloc.so.2'), debianPackage: 'libjemalloc2' },
  { name: 'tcmalloc', kind: 'preload', candidates: inLibDirs('libtcmalloc_minimal.so.4'), debianPackage: 'libtcmalloc-minimal4' },
  { name: 'mimalloc', kind: 'preload', candidates: inLibDirs('libmimalloc.so.2'), debianPackage: 'libmimalloc2.0' },
  { name: 'plan', kind: 'plan', candidates: [], debianPackage: null },
];
for (const a of [...KNOWN_ALLOCATORS]) {
  if (a.kind === 'preload') (KNOWN_ALLOCATORS as KnownAllocator[]).push({ ...a, name: `plan+${a.name}`, kind: 'plan', base: a.name });
}

export const DEFAULT_ALLOCATORS = 'glibc,jemalloc,tcmalloc,mimalloc';

export { isPlanArmName };

export interface Allocator {
  name: string;
  kind: AllocatorKind;
  /** The preloaded file(s), as LD_PRELOAD takes them (the interposer first): null for glibc. */
  library: string | null;
  /** A plan arm over another allocator: that allocator's name (null: over glibc). */
  base?: string | null;
}

export interface Discovery {
  usable: Allocator[];
  /** One line per allocator that was asked for but cannot run here; it is skipped. */
  skipped: { name: string; reason: string }[];
}

/** Is `lib` a shared object that the dynamic loader accepts as a preload? */
export function preloadWorks(lib: string): string | null {
  const r = spawnSync('/bin/true', [], { env: { ...process.env, LD_PRELOAD: lib }, encoding: 'utf8', timeout: 10_000 });
  if (r.error) return null; // cannot probe (no /bin/true): let the run show it
  if (/cannot be preloaded|cannot open shared object|ERROR: ld\.so/.test(r.stderr ?? '')) {
    return `the dynamic loader cannot preload ${lib}`;
  }
  if (r.status !== 0) return `a process with ${lib} preloaded exited with ${r.status ?? r.signal}`;
  return null;
}

/**
 * Parses `--allocators` (comma-separated names, each optionally `name=/path/lib.so`) and finds
 * each allocator. An unknown name or a duplicate is a usage error; an explicit path that does
 * not exist too (the user typed it); a library missing from its usual place is skipped with
 * the Debian package that provides it.
 */
export function discoverAllocators(spec: string, known_: readonly KnownAllocator[] = KNOWN_ALLOCATORS): Discovery {
  const items = spec.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new UserError('--allocators is empty; name at least one of ' + known_.map((a) => a.name).join(', '));
  const usable: Allocator[] = [];
  const skipped: Discovery['skipped'] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const given = eq < 0 ? null : item.slice(eq + 1);
    const known = known_.find((a) => a.name === name);
    if (!known) {
      throw new UserError(`unknown allocator '${name}'; expected one of ${known_.map((a) => a.name).join(', ')} (or name=/path/to/lib.so)`);
    }
    if (seen.has(name)) throw new UserError(`allocator '${name}' is listed twice in --allocators`);
    seen.add(name);
    if (given !== null && known.kind === 'system') throw new UserError(`allocator '${name}' takes no library path (got '${item}')`);
    if (given !== null && known.kind === 'plan' && !known.base) throw new UserError(`allocator '${name}' takes no library path (got '${item}')`);
    if (known.kind === 'system') {
      usable.push({ name, kind: 'system', library: null });
      continue;
    }
    if (known.kind === 'plan') {
      const lib = interposerPath();
      if (!fs.existsSync(lib)) {
        skipped.push({ name, reason: `interposer not built (${lib} missing): run npm run build` });
        continue;
      }
      if (!known.base) {
        usable.push({ name, kind: 'plan', library: lib, base: null });
        continue;
      }
      const base = findPreload(known, given, name, skipped);
      if (base) usable.push({ name, kind: 'plan', library: `${lib}:${base}`, base: known.base });
      continue;
    }
    const lib = findPreload(known, given, name, skipped);
    if (lib) usable.push({ name, kind: 'preload', library: lib });
  }
  return { usable, skipped };
}

/** The library of a preloaded allocator (or of a plan arm's base), checked; null when it is skipped. */
function findPreload(known: KnownAllocator, given: string | null, name: string, skipped: Discovery['skipped']): string | null {
  let lib: string | null;
  if (given !== null) {
    if (given === '') throw new UserError(`allocator '${name}=' needs a path after '='`);
    lib = path.resolve(given);
    if (!fs.existsSync(lib)) throw new UserError(`allocator library not found: ${given} (given for ${name})`);
    if (!fs.statSync(lib).isFile()) throw new UserError(`allocator library is not a file: ${given} (given for ${name})`);
  } else {
    lib = known.candidates.find((c) => fs.existsSync(c)) ?? null;
    if (!lib) {
      skipped.push({ name, reason: `${known.base ?? name} not found (looked for ${path.basename(known.candidates[0])}); install the Debian package ${known.debianPackage}` });
      return null;
    }
  }
  const broken = preloadWorks(lib);
  if (broken) {
    if (given !== null) throw new UserError(`${broken} (given for ${name})`);
    skipped.push({ name, reason: broken });
    return null;
  }
  return lib;
}
