import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../main/paths';
import { tmpDir } from '../helpers/tmp';

/**
 * renderer/tsconfig.json type-checks the renderer without Node's types (docs/ARCHITECTURE.md,
 * Layers): scripts/build.sh runs it, and a renderer file or a shared/ file the renderer imports
 * that uses a Node global or a node: module fails it. Shown on a copy of renderer/ and shared/
 * (node_modules linked, so @types/node could be found if the config let it in): the copy as it
 * is passes, and the copy with such uses added fails on each of them.
 */

const tsc = require.resolve('typescript/bin/tsc');

function copy(): string {
  const dir = tmpDir('memoplan-renderer-tsc-');
  for (const d of ['renderer', 'shared']) fs.cpSync(path.join(PACKAGE_ROOT, d), path.join(dir, d), { recursive: true });
  fs.copyFileSync(path.join(PACKAGE_ROOT, 'tsconfig.base.json'), path.join(dir, 'tsconfig.base.json'));
  fs.symlinkSync(path.join(PACKAGE_ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

function check(dir: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [tsc, '-p', 'renderer/tsconfig.json', '--pretty', 'false'], { cwd: dir, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

test('scripts/build.sh type-checks the renderer with renderer/tsconfig.json', () => {
  const build = fs.readFileSync(path.join(PACKAGE_ROOT, 'scripts', 'build.sh'), 'utf8');
  assert.match(build, /^[^#\n]*tsc -p renderer\/tsconfig\.json/m);
});

test('renderer/tsconfig.json: the renderer passes as it is, and fails on Node globals and modules in it or in shared/', () => {
  const dir = copy();
  const clean = check(dir);
  assert.equal(clean.code, 0, `the renderer as it is should pass its own check:\n${clean.out}`);

  fs.writeFileSync(
    path.join(dir, 'renderer', 'uses-node.ts'),
    [`import fs from 'node:fs';`, `export const pid = process.pid;`, `export const bytes = Buffer.byteLength('x');`, `export const read = fs.readFileSync;`, ''].join('\n'),
  );
  fs.appendFileSync(path.join(dir, 'shared', 'api.ts'), `\nexport const sharedBytes = Buffer.byteLength('x');\n`);
  const bad = check(dir);
  assert.notEqual(bad.code, 0, `Node globals should fail the renderer check:\n${bad.out}`);
  const errors = bad.out.split('\n').filter((l) => l.includes('error TS'));
  const where = (file: string, what: string) => errors.some((l) => l.startsWith(file) && l.includes(what));
  assert.ok(where('renderer/uses-node.ts(1,', `'node:fs'`), `no error for the node: import:\n${bad.out}`);
  assert.ok(where('renderer/uses-node.ts(2,', `'process'`), `no error for process:\n${bad.out}`);
  assert.ok(where('renderer/uses-node.ts(3,', `'Buffer'`), `no error for Buffer:\n${bad.out}`);
  assert.ok(errors.some((l) => l.startsWith('shared/api.ts(') && l.includes(`'Buffer'`)), `no error for Buffer in a shared/ file the renderer imports:\n${bad.out}`);
});
