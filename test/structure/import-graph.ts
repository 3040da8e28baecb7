import fs from 'node:fs';
import path from 'node:path';
import { builtinModules } from 'node:module';
import ts from 'typescript';

/**
 * The import graph of the TypeScript sources and the layer rules of docs/ARCHITECTURE.md
 * ("Layers"), checked by test/structure/layers.test.ts. Every module specifier counts: import
 * and export-from (type-only ones too), import x = require(), require() and import() calls with
 * a string literal (ts.preProcessFile).
 */

export type Target =
  /** A source file of the repository, as a path from its root without extension: `main/store/db`. */
  | { kind: 'file'; path: string }
  /** A Node built-in (`node:fs`, or `fs`), named without `node:`. */
  | { kind: 'builtin'; name: string }
  /** An npm package, by its name (`better-sqlite3`, `@types/x`). */
  | { kind: 'package'; name: string };

export interface Edge {
  /** The importing file, from the repository root without extension: `main/store/ingest`. */
  from: string;
  specifier: string;
  to: Target;
}

const BUILTINS = new Set(builtinModules);

/** Where a specifier written in `from` (a root-relative path without extension) points. */
export function resolveSpecifier(from: string, specifier: string): Target {
  if (specifier.startsWith('.')) {
    return { kind: 'file', path: path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier)).replace(/\.(js|ts)$/, '') };
  }
  if (specifier.startsWith('node:')) return { kind: 'builtin', name: specifier.slice(5) };
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  if (BUILTINS.has(specifier) || BUILTINS.has(name)) return { kind: 'builtin', name: specifier };
  return { kind: 'package', name };
}

/** The imports of one source text. */
export function importsOf(from: string, text: string): Edge[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((f) => ({ from, specifier: f.fileName, to: resolveSpecifier(from, f.fileName) }));
}

/** Every .ts file under the given top folders of root, as root-relative posix paths. */
export function sourceFiles(root: string, tops: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel + '/' + e.name;
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(r);
    }
  };
  for (const t of tops) if (fs.existsSync(path.join(root, t))) walk(t);
  return out.sort();
}

/** The import graph of the .ts files under tops; a folder imported by name is its index file. */
export function importGraph(root: string, tops: readonly string[]): Edge[] {
  const edges = sourceFiles(root, tops).flatMap((f) => importsOf(f.replace(/\.ts$/, ''), fs.readFileSync(path.join(root, f), 'utf8')));
  for (const e of edges) {
    const t = e.to;
    if (t.kind === 'file' && !fs.existsSync(path.join(root, t.path + '.ts')) && fs.existsSync(path.join(root, t.path, 'index.ts'))) t.path += '/index';
  }
  return edges;
}

export interface Rule {
  name: string;
  /** The rule as docs/ARCHITECTURE.md states it. */
  text: string;
  /** Whether the rule is about imports of this file. */
  appliesTo(from: string): boolean;
  /** Whether this import is allowed. */
  allows(to: Target): boolean;
}

const under = (p: string, ...dirs: string[]) => dirs.some((d) => p.startsWith(d + '/'));
const fileUnder = (t: Target, ...dirs: string[]) => t.kind === 'file' && under(t.path, ...dirs);

/**
 * The pure planning modules of main/plan: functions from buffers to offsets and their checks.
 * Everything else in main/plan is glue (sessions, the store, files, the CLI).
 */
export const PURE_PLANNERS = [
  'best-fit', 'exact', 'first-fit', 'greedy-by-breadth', 'greedy-by-size', 'index', 'instance-csv',
  'lower-bound', 'overlap', 'packed', 'perfect-packing', 'place', 'portfolio', 'rmq', 'skyline', 'tiling', 'types', 'validate',
].map((n) => 'main/plan/' + n);
const isPurePlanner = (p: string) => PURE_PLANNERS.includes(p);

export const RULES: Rule[] = [
  {
    name: 'shared',
    text: 'shared/ imports only shared/ (no Node built-in, no package): the renderer loads it',
    appliesTo: (f) => under(f, 'shared'),
    allows: (t) => fileUnder(t, 'shared'),
  },
  {
    name: 'store',
    text: 'main/store/ imports only main/store/, shared/, Node built-ins and better-sqlite3',
    appliesTo: (f) => under(f, 'main/store'),
    allows: (t) => fileUnder(t, 'main/store', 'shared') || t.kind === 'builtin' || (t.kind === 'package' && t.name === 'better-sqlite3'),
  },
  {
    name: 'renderer',
    text: 'renderer/ imports only renderer/ and shared/ (no Node built-in, no package)',
    appliesTo: (f) => under(f, 'renderer'),
    allows: (t) => fileUnder(t, 'renderer', 'shared'),
  },
  {
    name: 'planners',
    text: `the pure planners (main/plan/{${PURE_PLANNERS.map((p) => p.slice('main/plan/'.length)).join(',')}}) import only each other and shared/`,
    appliesTo: isPurePlanner,
    allows: (t) => (t.kind === 'file' && (isPurePlanner(t.path) || under(t.path, 'shared'))),
  },
  {
    name: 'sql',
    text: 'only main/store/ imports better-sqlite3 (the rest of main/ calls the store; shared/ and renderer/ import no package)',
    appliesTo: (f) => under(f, 'main') && !under(f, 'main/store'),
    allows: (t) => !(t.kind === 'package' && t.name === 'better-sqlite3'),
  },
  {
    name: 'no-upward',
    text: 'main/ and shared/ import nothing from test/, bench/ or renderer/',
    appliesTo: (f) => under(f, 'main', 'shared'),
    allows: (t) => !fileUnder(t, 'test', 'bench', 'renderer'),
  },
];

export interface Violation {
  rule: string;
  from: string;
  /** The target as text: a root-relative path, `node:NAME` or the package name. */
  to: string;
}

export function targetText(t: Target): string {
  return t.kind === 'file' ? t.path : t.kind === 'builtin' ? `node:${t.name}` : t.name;
}

/** Every import some rule forbids, once per (rule, from, to). */
export function violations(edges: readonly Edge[], rules: readonly Rule[] = RULES): Violation[] {
  const seen = new Set<string>();
  const out: Violation[] = [];
  for (const e of edges) {
    for (const r of rules) {
      if (!r.appliesTo(e.from) || r.allows(e.to)) continue;
      const v = { rule: r.name, from: e.from, to: targetText(e.to) };
      const key = `${v.rule} ${v.from} ${v.to}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(v);
      }
    }
  }
  return out;
}
