import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { ApiService } from '../../main/api/service';
import { BIN, isOneLineError, runCli, type CliResult } from '../helpers/cli';
import { PACKAGE_ROOT } from '../../main/paths';
import { tmpDir } from '../helpers/tmp';
import { sessionDb } from '../helpers/session-db';

/**
 * Issue 17: a recording is never lost to our own failure. When storing fails (the ingester
 * killed, the database's disk full, the trace folder full) the target runs on untouched, the
 * session ends incomplete (never stuck in "recording"), the trace is kept with its path
 * printed, and `memoplan ingest` stores it later, resuming after what was stored. A session
 * being recorded cannot be deleted.
 */

const dir = tmpDir('memoplan-faults-rec-');
const traceRoot = path.join(dir, 'traces');
const env = { MEMOPLAN_TRACE_ROOT: traceRoot };
const churn = path.join(dir, 'slow_churn');

function q<T>(file: string, sql: string, ...args: unknown[]): T {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).get(...args) as T;
  } finally {
    db.close();
  }
}

/** A session's counts, and whether every claimed event is stored once (no duplicate, no orphan). */
function audit(file: string, id: number) {
  const s = q<{ status: string; events: number; markers: number; events_claimed: number | null; exit_code: number | null }>(
    file, `SELECT status, events, markers, events_claimed, exit_code FROM sessions WHERE id = ?`, id,
  );
  const rows = q<{ n: number }>(file, `SELECT count(*) AS n FROM events WHERE thread_id IN (SELECT id FROM threads WHERE session_id = ?)`, id).n;
  const orphans = q<{ n: number }>(file, `SELECT count(*) AS n FROM events WHERE thread_id NOT IN (SELECT id FROM threads)`).n;
  const db = new Database(file, { readonly: true });
  const integrity = db.pragma('integrity_check', { simple: true });
  db.close();
  return { ...s, rows, orphans, integrity };
}

/** memoplan record of slow_churn as a child process we can watch. */
function startRecord(dbFile: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [BIN, 'record', '--quiet', '--db', dbFile, '--', churn, ...args], {
    env: { ...process.env, ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** The pid of a process whose parent is `parent` and whose name is `comm`, waiting for it. */
async function childNamed(parent: number, comm: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === parent && comm.startsWith(name)) return Number(p);
      } catch {
        /* gone */
      }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no child ${comm} of ${parent}`);
}

async function untilEvents(dbFile: string, min: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try {
      if (q<{ n: number }>(dbFile, `SELECT count(*) AS n FROM events`).n >= min) return;
    } catch {
      /* not created yet */
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no events stored');
}

function tryMount(target: string, size: string): boolean {
  fs.mkdirSync(target, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', target]).status === 0;
}

test('setup: the churn program', () => {
  const r = spawnSync('cc', ['-O2', '-pthread', '-o', churn, path.join(PACKAGE_ROOT, 'test', 'faults', 'slow_churn.c'), '-ldl'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('row 13: kill -9 of the ingester: the target runs on, the rest is stored from the trace, nothing lost', async () => {
  const dbFile = path.join(dir, 'killed-ingester.db');
  const rec = startRecord(dbFile, ['2', '2500', '40']);
  const ingester = await childNamed(rec.child.pid!, 'memoplan-ingest');
  await untilEvents(dbFile, 50_000); // it stored some (and punched their chunks out of the trace)
  process.kill(ingester, 'SIGKILL');
  const r = await rec.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /storing the trace failed.*the target runs on/);
  assert.match(r.stderr, /the rest was stored from the kept trace/);
  const pairs = r.stdout.trim().split('\n').map(Number).reduce((a, b) => a + b, 0);
  assert.ok(pairs > 50_000, `the target ran to its end (${pairs} pairs)`);
  const a = audit(dbFile, 1);
  assert.equal(a.status, 'complete');
  assert.equal(a.exit_code, 0);
  assert.equal(a.events, a.events_claimed, 'every claimed event stored');
  assert.ok(a.events >= 2 * pairs, `${a.events} events for ${pairs} pairs`);
  assert.equal(a.rows, a.events + a.markers, 'each stored once');
  assert.equal(a.orphans, 0);
  assert.equal(a.integrity, 'ok');
  assert.deepEqual(fs.readdirSync(traceRoot), [], 'no trace left');
  // The lifetimes were built again from every event: every malloc of the churn is paired.
  const live = q<{ n: number }>(dbFile, `SELECT live_at_exit AS n FROM sessions WHERE id = 1`).n;
  assert.ok(live < 10, `${live} live at exit`);
});

test('kill -9 of the recorder as soon as the target starts: its ingester stores the recording to the end', async () => {
  const dbFile = path.join(dir, 'killed-recorder.db');
  const rec = startRecord(dbFile, ['1', '800', '20']);
  await childNamed(rec.child.pid!, 'slow_churn'); // before its interposer has made the trace file
  rec.child.kill('SIGKILL');
  const r = await rec.done;
  const pairs = r.stdout.trim().split('\n').map(Number).reduce((a, b) => a + b, 0); // the target's stdout outlives us
  for (let i = 0; i < 200; i++) {
    if (q<{ status: string }>(dbFile, `SELECT status FROM sessions WHERE id = 1`).status !== 'recording') break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const a = audit(dbFile, 1);
  assert.equal(a.status, 'complete');
  assert.ok(pairs > 0 && a.events >= 2 * pairs, `${a.events} events for ${pairs} pairs`);
  assert.equal(a.events, a.events_claimed);
  assert.equal(a.rows, a.events + a.markers);
  assert.deepEqual(fs.readdirSync(traceRoot), [], 'no trace left');
});

test('kill -9 of the recorder and its ingester, then of memoplan ingest itself: the next ingest stores everything once', async () => {
  const dbFile = path.join(dir, 'all-killed.db');
  const rec = startRecord(dbFile, ['2', '1500', '40']);
  const ingester = await childNamed(rec.child.pid!, 'memoplan-ingest');
  await untilEvents(dbFile, 30_000);
  process.kill(ingester, 'SIGKILL');
  rec.child.kill('SIGKILL');
  const r = await rec.done; // the target runs on, its stdout still ours
  const pairs = r.stdout.trim().split('\n').map(Number).reduce((a, b) => a + b, 0);
  assert.equal(q<{ status: string }>(dbFile, `SELECT status FROM sessions WHERE id = 1`).status, 'recording');
  const kept = path.join(traceRoot, fs.readdirSync(traceRoot)[0]);
  // A session whose trace awaits ingest is not deleted.
  const service = new ApiService({ dbFile });
  try {
    assert.equal((await service.call('sessions.delete', { id: 1 })).ok, false);
  } finally {
    await service.close();
  }
  // memoplan ingest, killed part-way (twice), then run to its end.
  for (const ms of [150, 400]) {
    const child = spawn(process.execPath, [BIN, 'ingest', kept, '--db', dbFile], { stdio: 'ignore' });
    await new Promise((res) => setTimeout(res, ms));
    child.kill('SIGKILL');
    await new Promise((res) => child.on('close', res));
  }
  const ing = await runCli(['ingest', kept, '--db', dbFile]);
  assert.equal(ing.code, 0, ing.stderr);
  const a = audit(dbFile, 1);
  assert.equal(a.status, 'complete');
  assert.equal(a.events, a.events_claimed, 'every claimed event, once');
  assert.ok(a.events >= 2 * pairs, `${a.events} events for ${pairs} pairs`);
  assert.equal(a.rows, a.events + a.markers);
  assert.equal(a.orphans, 0);
  assert.equal(a.integrity, 'ok');
  assert.ok(!fs.existsSync(kept));
});

test('row 7: a session being recorded cannot be deleted; it is stored whole', async () => {
  const dbFile = path.join(dir, 'delete.db');
  const rec = startRecord(dbFile, ['1', '1500', '20']);
  await untilEvents(dbFile, 1000);
  const service = new ApiService({ dbFile });
  try {
    const reply = await service.call('sessions.delete', { id: 1 });
    assert.equal(reply.ok, false, 'refused');
    assert.match(JSON.stringify(reply), /being recorded/);
  } finally {
    await service.close();
  }
  const r = await rec.done;
  assert.equal(r.code, 0, r.stderr);
  const a = audit(dbFile, 1);
  assert.equal(a.status, 'complete');
  assert.equal(a.events, a.events_claimed);
  assert.equal(a.orphans, 0);
  // Once it has ended, it can be.
  const service2 = new ApiService({ dbFile });
  try {
    const reply = await service2.call('sessions.delete', { id: 1 });
    assert.equal(reply.ok, true, JSON.stringify(reply));
  } finally {
    await service2.close();
  }
  assert.equal(q<{ n: number }>(dbFile, `SELECT count(*) AS n FROM events`).n, 0);
});

test('row 5: the database disk fills up: exit 75, trace kept and named; memoplan ingest stores the rest later', async (t) => {
  const full = path.join(dir, 'full');
  if (!tryMount(full, '3m')) return t.skip('no tmpfs mount here (needs root)');
  t.after(() => spawnSync('umount', [full]));
  const dbFile = path.join(full, 'x.db');
  const r = await startRecord(dbFile, ['2', '1500', '40']).done;
  assert.equal(r.code, 75, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error/);
  const m = /the trace is kept in (\S+): once the cause is fixed, memoplan ingest \S+ --db \S+ stores the rest/.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.match(r.stderr, /the target exited with code 0/);
  const kept = m[1];
  assert.ok(fs.existsSync(kept));
  const pairs = r.stdout.trim().split('\n').map(Number).reduce((a, b) => a + b, 0);
  // Room again: ingest what was not stored.
  assert.equal(spawnSync('mount', ['-o', 'remount,size=256m', full]).status, 0);
  const ing = await runCli(['ingest', kept, '--db', dbFile]);
  assert.equal(ing.code, 0, ing.stderr);
  assert.match(ing.stderr, /status complete/);
  const a = audit(dbFile, 1);
  assert.equal(a.status, 'complete');
  assert.equal(a.exit_code, 0, 'the exit code kept in the trace folder');
  assert.equal(a.events, a.events_claimed);
  assert.ok(a.events >= 2 * pairs);
  assert.equal(a.rows, a.events + a.markers);
  assert.equal(a.integrity, 'ok');
  assert.ok(!fs.existsSync(kept), 'the trace is removed once stored');
  // Nothing left to ingest, and a second ingest of the same folder is refused cleanly.
  const again = await runCli(['ingest', kept, '--db', dbFile]);
  assert.equal(again.code, 2);
  assert.ok(isOneLineError(again.stderr), again.stderr);
});

test('row 4: the trace folder fills up: the session is incomplete, exit 75, with a warning', async (t) => {
  const small = path.join(dir, 'small');
  if (!tryMount(small, '4m')) return t.skip('no tmpfs mount here (needs root)');
  t.after(() => spawnSync('umount', [small]));
  const dbFile = path.join(dir, 'small-trace.db');
  const r = await startRecord(dbFile, ['2', '800', '40'], { MEMOPLAN_TRACE_ROOT: small }).done;
  assert.equal(r.code, 75, r.stderr);
  assert.match(r.stderr, /the recording is incomplete \(an unknown number of events missing\).*stopped recording early/);
  assert.equal(q<{ status: string }>(dbFile, `SELECT status FROM sessions WHERE id = 1`).status, 'incomplete');
  const list = await runCli(['sessions', '--db', dbFile]);
  assert.match(list.stdout, /incomplete/);
  assert.deepEqual(fs.readdirSync(small).filter((f) => f.startsWith('session-')), [], 'stored, then removed');
  // The same with the recorder killed: its orphaned ingester ends the session incomplete too.
  const rec = startRecord(dbFile, ['2', '800', '40'], { MEMOPLAN_TRACE_ROOT: small });
  await childNamed(rec.child.pid!, 'slow_churn');
  rec.child.kill('SIGKILL');
  await rec.done;
  let status = 'recording';
  for (let i = 0; i < 200 && status === 'recording'; i++) {
    await new Promise((res) => setTimeout(res, 50));
    status = q<{ status: string }>(dbFile, `SELECT status FROM sessions WHERE id = 2`).status;
  }
  assert.equal(status, 'incomplete');
});

test('the database removed while recording: exit 75, the trace kept; ingest makes the session again elsewhere', async () => {
  const dbFile = path.join(dir, 'removed.db');
  const rec = startRecord(dbFile, ['2', '2500', '40']);
  await untilEvents(dbFile, 100_000); // full chunks stored, and punched out of the trace
  for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) fs.rmSync(f, { force: true });
  const r = await rec.done;
  assert.equal(r.code, 75, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error/);
  const m = /was removed or replaced while recording.*the rest of the recording is kept in (\S+): memoplan ingest/.exec(r.stderr);
  assert.ok(m, r.stderr);
  const pairs = r.stdout.trim().split('\n').map(Number).reduce((a, b) => a + b, 0);
  const other = path.join(dir, 'elsewhere.db');
  const ing = await runCli(['ingest', m[1], '--db', other]);
  assert.equal(ing.code, 75, ing.stderr); // incomplete: the part stored went with the removed file
  assert.match(ing.stderr, /made again here as session 1/);
  const a = audit(other, 1);
  assert.equal(a.status, 'incomplete');
  assert.equal(a.exit_code, 0);
  assert.ok(a.events_claimed !== null && a.events_claimed >= 2 * pairs);
  assert.ok(a.events > 0 && a.events < a.events_claimed, `${a.events} of ${a.events_claimed}`);
  assert.equal(a.rows, a.events + a.markers);
  assert.equal(a.integrity, 'ok');
  assert.ok(!fs.existsSync(m[1]));
  const list = await runCli(['sessions', '--db', other]);
  assert.match(list.stdout, /incomplete \([\d,]+ missing\)/);
});

test('a session left "recording" by a recorder killed before its target ran is ended by ingest of its empty folder', async () => {
  const { db, sessionId } = sessionDb(path.join(dir, 'empty-start.db'), 'never-ran', 1n);
  db.close();
  const folder = path.join(dir, `session-${sessionId}-zzzzzz`);
  fs.mkdirSync(folder);
  const r = await runCli(['ingest', folder, '--db', path.join(dir, 'empty-start.db')]);
  assert.equal(r.code, 75, r.stderr);
  assert.match(r.stderr, /recorded nothing.*marked failed/);
  assert.equal(q<{ status: string }>(path.join(dir, 'empty-start.db'), `SELECT status FROM sessions WHERE id = ?`, sessionId).status, 'failed');
  assert.ok(!fs.existsSync(folder));
});

test('memoplan ingest: bad input is one line', async () => {
  const dbFile = path.join(dir, 'killed-ingester.db');
  const notTrace = path.join(dir, 'session-1-abcdef');
  fs.mkdirSync(notTrace);
  const cases: [string[], RegExp][] = [
    [['ingest', path.join(dir, 'nope'), '--db', dbFile], /trace folder not found/],
    [['ingest', churn, '--db', dbFile], /not a folder/],
    [['ingest', notTrace, '--db', dbFile], /holds no trace files/],
    [['ingest', dir, '--db', dbFile], /cannot tell the session/],
  ];
  for (const [args, msg] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, msg);
  }
});
