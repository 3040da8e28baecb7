import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { PACKAGE_ROOT } from '../../main/paths';
import { ENV, ENV_VARS } from '../../shared/env-vars';

/**
 * shared/env-vars.ts is the one home of the MEMOPLAN_* environment variables
 * (docs/ARCHITECTURE.md, "Environment variables"): every name the interposer, the ingester, the
 * launcher, the agent, the workloads, the scripts, the docs and the TypeScript use is defined
 * there, every name there is used, and the TypeScript of main/, shared/, renderer/ and bench/
 * names them only through ENV.
 */

/** MEMOPLAN_* names that are no environment variables. */
const NOT_VARIABLES: Record<string, string> = {
  MEMOPLAN_BENCH_NOFILE: 'a compile-time macro of the interposer (native/Makefile, the no-file benchmark build)',
  MEMOPLAN_RESULT: 'the marker of the result line the gdb step prints on stdout (main/session/gdb.ts)',
};

const NAME = /MEMOPLAN_[A-Z0-9_]*[A-Z0-9]/g;
const THE_MODULE = 'shared/env-vars.ts';

function files(rel: string, keep: (name: string) => boolean): string[] {
  const dir = path.join(PACKAGE_ROOT, rel);
  if (!fs.existsSync(dir)) return [];
  if (fs.statSync(dir).isFile()) return [rel];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name.startsWith('.') || e.name === '__pycache__') return [];
    const r = rel + '/' + e.name;
    return e.isDirectory() ? files(r, keep) : keep(e.name) ? [r] : [];
  });
}

const NATIVE = (n: string) => /\.(c|cc|cpp|h|hpp|sh)$/.test(n) || n === 'Makefile';
/** Where the names are used outside the TypeScript: native code, the agent and workloads, scripts. */
const FOREIGN = [...files('native', NATIVE), ...files('resources', (n) => n.endsWith('.py')), ...files('scripts', () => true)];
const DOCS = [...files('docs', (n) => n.endsWith('.md')), 'README.md', ...files('native', (n) => n.endsWith('.md'))];
const TS_APP = ['main', 'shared', 'renderer', 'bench'].flatMap((d) => files(d, (n) => n.endsWith('.ts')));
const TS_TEST = files('test', (n) => n.endsWith('.ts'));

const read = (rel: string) => fs.readFileSync(path.join(PACKAGE_ROOT, rel), 'utf8');

/** The names each file mentions. */
function mentions(rels: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const rel of rels) {
    for (const m of read(rel).matchAll(NAME)) {
      if (!out.has(m[0])) out.set(m[0], new Set());
      out.get(m[0])!.add(rel);
    }
  }
  return out;
}

/**
 * Uses of a MEMOPLAN_* name in TypeScript code that bypass ENV: a property name
 * (`process.env.MEMOPLAN_PLAN`, `{ MEMOPLAN_PLAN: v }`) or a string literal that is exactly a name
 * (`env['MEMOPLAN_PLAN']`, `'MEMOPLAN_PLAN'` in a list). Prose in strings and comments may name them.
 */
function literalUses(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const exact = /^MEMOPLAN_[A-Z0-9_]+$/;
  const at = (n: ts.Node, what: string) => out.push(`${file}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}: ${what}`);
  const visit = (n: ts.Node) => {
    if (ts.isPropertyAccessExpression(n) && exact.test(n.name.text)) at(n, `.${n.name.text}`);
    else if ((ts.isPropertyAssignment(n) || ts.isShorthandPropertyAssignment(n)) && ts.isIdentifier(n.name) && exact.test(n.name.text)) at(n, `${n.name.text}:`);
    else if ((ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) && exact.test(n.text)) at(n, JSON.stringify(n.text));
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

test('ENV_VARS: MEMOPLAN_ names, each with a one-line meaning, and ENV maps the short names', () => {
  for (const [name, meaning] of Object.entries(ENV_VARS)) {
    assert.match(name, /^MEMOPLAN_[A-Z0-9_]+$/);
    assert.ok(meaning.length > 10 && !meaning.includes('\n'), `${name}: a one-line meaning`);
    assert.ok(!(name in NOT_VARIABLES), `${name} is both a variable and not one`);
    assert.equal((ENV as Record<string, string>)[name.slice('MEMOPLAN_'.length)], name);
  }
  assert.equal(Object.keys(ENV).length, Object.keys(ENV_VARS).length);
  assert.equal(ENV.PLAN, 'MEMOPLAN_PLAN');
});

test('the scan reads the native code, the agent, the workloads and the scripts', () => {
  for (const f of ['native/interposer/memoplan.cpp', 'native/interposer/plan.cpp', 'native/ingest/session.cpp', 'resources/agent/sitecustomize.py', 'resources/agent/memoplan_agent/__init__.py', 'resources/workloads/hf_infer.py', 'scripts/setup.sh']) {
    assert.ok(FOREIGN.includes(f), `${f} is not scanned`);
  }
  const m = mentions(FOREIGN);
  for (const n of ['MEMOPLAN_TRACE_DIR', 'MEMOPLAN_PLAN', 'MEMOPLAN_AGENT_OPS', 'MEMOPLAN_INGEST_PUNCH']) assert.ok(m.has(n), `${n} not found in the native code or the agent`);
});

test('every MEMOPLAN_ name of the native code, the agent, the scripts, the docs and the TypeScript is defined in shared/env-vars.ts', () => {
  const found = mentions([...FOREIGN, ...DOCS, ...TS_APP, ...TS_TEST]);
  const undefinedNames = [...found]
    .filter(([name]) => !(name in ENV_VARS) && !(name in NOT_VARIABLES))
    .map(([name, where]) => `${name} (${[...where].join(', ')})`);
  assert.deepEqual(undefinedNames, [], `define these in ${THE_MODULE} (a one-line meaning each)`);
  for (const name of Object.keys(NOT_VARIABLES)) assert.ok(found.has(name), `${name} is listed as no variable but no longer appears: remove it`);
});

test('every name in shared/env-vars.ts is used: by the native code, the agent, the scripts or a test, or as ENV.X in the TypeScript', () => {
  const literal = mentions([...FOREIGN, ...TS_TEST]);
  const tsText = TS_APP.filter((f) => f !== THE_MODULE).map(read).join('\n');
  const unused = Object.keys(ENV_VARS).filter((name) => {
    const short = name.slice('MEMOPLAN_'.length);
    return !literal.has(name) && !new RegExp(`\\bENV\\.${short}\\b`).test(tsText);
  });
  assert.deepEqual(unused, [], `names nobody reads or sets: remove them from ${THE_MODULE}`);
});

test('the TypeScript of main/, shared/, renderer/ and bench/ names the variables only through ENV', () => {
  const uses = TS_APP.filter((f) => f !== THE_MODULE).flatMap((f) => literalUses(f, read(f)));
  assert.deepEqual(uses, [], `use ENV from ${THE_MODULE} (process.env[ENV.X], { [ENV.X]: v })`);
});

test('self-check: literal uses and undefined names are found', () => {
  const src = [
    `const a = process.env.MEMOPLAN_PLAN;`,
    `const b = { ...process.env, MEMOPLAN_TRACE_DIR: dir };`,
    `delete env['MEMOPLAN_PLAN_STATS'];`,
    `const ok1 = process.env[ENV.PLAN];`,
    `// MEMOPLAN_PLAN in a comment is fine`,
    `throw new Error('set MEMOPLAN_TRACE_ROOT to another folder');`,
  ].join('\n');
  assert.deepEqual(literalUses('x.ts', src), ['x.ts:1: .MEMOPLAN_PLAN', 'x.ts:2: MEMOPLAN_TRACE_DIR:', 'x.ts:3: "MEMOPLAN_PLAN_STATS"']);
  const unknown = 'MEMOPLAN_' + 'NOT_A_VARIABLE'; // split, or this file would mention it
  const names = [...`getenv("${unknown}"); MEMOPLAN_PLAN=x`.matchAll(NAME)].map((m) => m[0]);
  assert.deepEqual(names.filter((n) => !(n in ENV_VARS)), [unknown]);
});
