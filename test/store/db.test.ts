import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openDatabase } from '../../main/store/db';
import { SCHEMA_VERSION } from '../../main/store/schema';
import { UserError } from '../../shared/errors';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir();

test('a new database gets the current schema, in WAL mode', () => {
  const file = path.join(dir, 'new.db');
  const db = openDatabase(file);
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type='table'`).all() as { name: string }[]).map((r) => r.name);
  for (const t of ['sessions', 'processes', 'threads', 'ops', 'events', 'allocations', 'iterations', 'timeline', 'op_stats']) {
    assert.ok(tables.includes(t), `table ${t}`);
  }
  db.close();
  // reopening is a no-op
  openDatabase(file).close();
});

test('a file that is not SQLite is refused with a clear message', () => {
  const file = path.join(dir, 'text.db');
  fs.writeFileSync(file, 'this is not a database, just some text that is long enough to look like a header'.repeat(20));
  assert.throws(() => openDatabase(file), (e: unknown) => e instanceof UserError && /not a memoplan database/.test(e.message));
});

test('a database from a newer schema is refused, untouched', () => {
  const file = path.join(dir, 'newer.db');
  const raw = new Database(file);
  raw.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
  raw.close();
  const before = fs.readFileSync(file);
  assert.throws(() => openDatabase(file), (e: unknown) => e instanceof UserError && /newer than this memoplan/.test(e.message));
  assert.deepEqual(fs.readFileSync(file), before);
});

test('somebody else\'s SQLite database is refused', () => {
  const file = path.join(dir, 'other.db');
  const raw = new Database(file);
  raw.exec('CREATE TABLE customers (id INTEGER)');
  raw.close();
  assert.throws(() => openDatabase(file), (e: unknown) => e instanceof UserError && /not a memoplan one/.test(e.message));
});

test('a missing database is an error where it must exist', () => {
  assert.throws(() => openDatabase(path.join(dir, 'absent.db'), { create: false }), /database not found/);
  assert.throws(() => openDatabase(path.join(dir, 'no/such/dir/x.db')), /directory does not exist/);
});
