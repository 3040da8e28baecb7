import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { isOneLineError, runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir();
const dbFile = path.join(dir, 'bad.db');

test('--help works on every verb', async () => {
  for (const verb of ['record', 'sessions', 'plan', 'serve']) {
    const r = await runCli([verb, '--help']);
    assert.equal(r.code, 0, `${verb}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`Usage: memoplan ${verb}`));
  }
});

test('a command that does not exist: one line, non-zero, no session left behind', async () => {
  const r = await runCli(['record', '--db', dbFile, '--', 'no-such-command-xyz', '--flag']);
  assert.equal(r.code, 2);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /command not found: no-such-command-xyz/);
  const list = await runCli(['sessions', '--db', dbFile, '--json']);
  assert.deepEqual(JSON.parse(list.stdout), []);
});

test('a Python without torch is refused with the way out', async () => {
  const venv = path.join(dir, 'venv');
  const made = spawnSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', venv], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const py = path.join(venv, 'bin', 'python3');
  const r = await runCli(['record', '--db', dbFile, '--python', py, '--', 'python3', '-c', 'print(1)']);
  assert.equal(r.code, 2);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /cannot import torch/);
  const env = await runCli(['record', '--db', dbFile, '--', 'python3', '-c', 'print(1)'], { env: { MEMOPLAN_PYTHON: py } });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /cannot import torch \(given by --python or MEMOPLAN_PYTHON\)/);
});

test('a database that is not SQLite, or from a newer schema: one line, non-zero, file untouched', async () => {
  const text = path.join(dir, 'notes.db');
  fs.writeFileSync(text, 'just some notes\n'.repeat(100));
  for (const args of [['sessions', '--db', text], ['record', '--db', text, '--', 'true']]) {
    const r = await runCli(args);
    assert.equal(r.code, 2);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, /not a memoplan database/);
  }
  assert.equal(fs.readFileSync(text, 'utf8'), 'just some notes\n'.repeat(100));
  const newer = path.join(dir, 'newer.db');
  const raw = new Database(newer);
  raw.pragma('user_version = 999');
  raw.close();
  const r = await runCli(['sessions', '--db', newer]);
  assert.equal(r.code, 2);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /schema version 999, newer than this memoplan supports/);
});

test('a target that exits at once with an error: its exit code, a clear note, the session kept', async () => {
  const r = await runCli(['record', '--quiet', '--db', dbFile, '--name', 'quick', '--', '/usr/bin/python3', '-c', 'import sys; sys.exit(3)']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /the target exited with code 3/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const list = await runCli(['sessions', '--db', dbFile, '--json']);
  const s = JSON.parse(list.stdout).find((x: { name: string }) => x.name === 'quick');
  assert.equal(s.exit_code, 3);
  assert.ok(s.events > 0, 'the interpreter start-up was recorded');
});

test('usage errors: no command, unknown option, missing database', async () => {
  const none = await runCli(['record', '--db', dbFile]);
  assert.equal(none.code, 2);
  const unknown = await runCli(['sessions', '--frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown option '--frobnicate'/);
  const missing = await runCli(['sessions', '--db', path.join(dir, 'absent.db')]);
  assert.equal(missing.code, 2);
  assert.ok(isOneLineError(missing.stderr), missing.stderr);
  assert.match(missing.stderr, /database not found/);
});
