import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../main/paths';
import { SHARED_RUNTIME } from '../../main/api/assets';
import { importGraph, importsOf, PURE_PLANNERS, RULES, violations, type Violation } from './import-graph';
import { sqlFindings, sqlIn } from './sql-scan';

/**
 * The layer rules of docs/ARCHITECTURE.md ("Layers") over the import graph of main/, shared/,
 * renderer/ and bench/. Any new import a rule forbids fails here.
 *
 * EXCEPTIONS lists the violations there are today, each with why it is not fixed yet. The list
 * may only shrink: an entry that is no longer a violation fails too (remove it).
 */
const EXCEPTIONS: (Violation & { why: string })[] = [];

const TOPS = ['main', 'shared', 'renderer', 'bench'];

const key = (v: Violation) => `${v.rule}: ${v.from} -> ${v.to}`;

test('the import graph keeps the layer rules (docs/ARCHITECTURE.md), but for the listed exceptions', () => {
  const found = violations(importGraph(PACKAGE_ROOT, TOPS));
  const allowed = new Set(EXCEPTIONS.map(key));
  const fresh = found.filter((v) => !allowed.has(key(v)));
  const rules = new Map(RULES.map((r) => [r.name, r.text]));
  assert.deepEqual(
    fresh.map((v) => `${key(v)}  (rule: ${rules.get(v.rule)})`),
    [],
    'imports the layer rules forbid (docs/ARCHITECTURE.md, Layers): fix them, do not list them',
  );
  const still = new Set(found.map(key));
  assert.deepEqual(EXCEPTIONS.filter((e) => !still.has(key(e))).map(key), [], 'exceptions that are fixed: remove them from EXCEPTIONS');
});

test('the graph is read: the files the rules name exist and import what they are known to', () => {
  const edges = importGraph(PACKAGE_ROOT, TOPS);
  const froms = new Set(edges.map((e) => e.from));
  for (const p of PURE_PLANNERS) assert.ok(fs.existsSync(path.join(PACKAGE_ROOT, p + '.ts')), `${p}.ts is named a pure planner but does not exist`);
  for (const f of ['main/store/db', 'renderer/main', 'shared/sweep-heatmap', 'main/plan/portfolio']) assert.ok(froms.has(f), `no imports read from ${f}`);
  // A type-only import counts, and a folder import is its index file.
  const of = (from: string, to: string) => edges.some((e) => e.from === from && e.to.kind === 'file' && e.to.path === to);
  assert.ok(of('main/store/ingest', 'shared/trace-batch'), 'main/store/ingest -> shared/trace-batch (import type) not seen');
  assert.ok(of('main/plan/cli-plan', 'main/plan/index'), 'main/plan/cli-plan -> main/plan/index not seen');
});

test('self-check: a forbidden import of each rule is found', () => {
  const src = (lines: string[]) => lines.join('\n');
  const edges = [
    ...importsOf('shared/x', src([`import fs from 'node:fs';`, `import type { DB } from '../main/store/db';`])),
    ...importsOf('main/store/x', src([`import { plan } from '../plan';`, `import { Database } from './db';`, `const w = require('ws');`])),
    ...importsOf('renderer/views/x', src([`import type { RecordBatch } from '../../main/record/trace-format';`, `export * from '../../shared/api';`])),
    ...importsOf('main/plan/exact', src([`import fs from 'fs';`, `import type { DB } from '../store/db';`, `import { packed } from './packed';`])),
    ...importsOf('main/ab/x', src([`const m = await import('../../test/helpers/tmp');`, `export { y } from '../../bench/record.bench';`])),
    ...importsOf('main/ingest/x', src([`import Database from 'better-sqlite3';`, `import type { DB } from '../store/db';`])),
  ];
  assert.deepEqual(violations(edges).map(key), [
    'shared: shared/x -> node:fs',
    'shared: shared/x -> main/store/db',
    'store: main/store/x -> main/plan',
    'store: main/store/x -> ws',
    'renderer: renderer/views/x -> main/record/trace-format',
    'planners: main/plan/exact -> node:fs',
    'planners: main/plan/exact -> main/store/db',
    'no-upward: main/ab/x -> test/helpers/tmp',
    'no-upward: main/ab/x -> bench/record.bench',
    'sql: main/ingest/x -> better-sqlite3',
  ]);
});

/**
 * The renderer's run time: main/api/assets.ts bundles the compiled renderer with only the
 * shared/ modules in SHARED_RUNTIME, so a renderer import of any other shared/ module must be
 * type-only (elided by tsc). Checked on the compiled files, where type-only imports are gone.
 */
test('the compiled renderer requires only renderer/ and the shared/ modules assets.ts bundles', () => {
  const dist = path.join(PACKAGE_ROOT, 'dist');
  const runtime = new Set(SHARED_RUNTIME.map((s) => 'shared/' + s));
  const js: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dist, rel), { withFileTypes: true })) {
      const r = rel + '/' + e.name;
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith('.js')) js.push(r.replace(/\.js$/, ''));
    }
  };
  walk('renderer');
  assert.ok(js.includes('renderer/main'), 'dist/renderer is not built');
  const bad: string[] = [];
  for (const from of [...js, ...runtime]) {
    for (const e of importsOf(from, fs.readFileSync(path.join(dist, from + '.js'), 'utf8'))) {
      const ok = e.to.kind === 'file' && (e.to.path.startsWith('renderer/') || runtime.has(e.to.path));
      if (!ok) bad.push(`${from} -> ${e.specifier}`);
    }
  }
  assert.deepEqual(bad, [], `the page bundles only renderer/ and ${[...runtime].join(', ')} (main/api/assets.ts SHARED_RUNTIME)`);
});

/**
 * Rule **sql** of docs/ARCHITECTURE.md: only main/store/ runs SQL. Over main/, shared/ and
 * renderer/ (test/ and bench/ read the database to check what the product stored, and may):
 * no call of a connection's prepare/exec/pragma/transaction and no SQL text outside main/store/
 * (test/structure/sql-scan.ts).
 *
 * SQL_EXCEPTIONS names the files outside main/store/ that still do, each with why. The list may
 * only shrink: a listed file that no longer does fails too (remove it).
 */
const SQL_EXCEPTIONS: { file: string; why: string }[] = [];

test('SQL only in main/store/ (docs/ARCHITECTURE.md, rule sql), but for the listed exceptions', () => {
  const found = sqlFindings(PACKAGE_ROOT, ['main', 'shared', 'renderer']).filter((f) => !f.file.startsWith('main/store/'));
  const allowed = new Set(SQL_EXCEPTIONS.map((e) => e.file));
  const fresh = found.filter((f) => !allowed.has(f.file));
  assert.deepEqual(
    fresh.map((f) => `${f.file}:${f.line} ${f.kind} ${f.text}`),
    [],
    'SQL outside main/store/: move it into a store module (docs/ARCHITECTURE.md, Layers), do not list it',
  );
  const still = new Set(found.map((f) => f.file));
  assert.deepEqual(SQL_EXCEPTIONS.filter((e) => !still.has(e.file)).map((e) => e.file), [], 'exceptions that are fixed: remove them from SQL_EXCEPTIONS');
});

test('self-check: the SQL scan finds statements and calls, not regular expressions or comments', () => {
  const src = [
    `// SELECT id FROM sessions (a comment)`,
    `const a = db.prepare('SELECT id FROM sessions WHERE id = ?').get(1);`,
    `o.db.transaction(() => {})();`,
    `this.db().exec(\`DELETE FROM \${t} WHERE session_id = ?\`);`,
    `const m = /^set:(\\d+)$/.exec(s); const n = RE.exec(s);`,
    `db.pragma('foreign_keys = OFF');`,
    `const sql = \`UPDATE sessions SET name = ? WHERE id = \${id}\`;`,
    `throw new UserError('select a session from the list');`,
  ].join('\n');
  assert.deepEqual(
    sqlIn('main/x.ts', src).map((f) => `${f.line} ${f.kind}`),
    ['2 .prepare()', '2 SQL', '3 .transaction()', '4 .exec()', '4 SQL', '6 .pragma()', '7 SQL'],
  );
});
