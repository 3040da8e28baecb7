import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { openDatabase, type DB } from '../../main/store/db';
import { record } from '../../main/record/record';
import { Kind } from '../../shared/trace-kinds';
import { NATIVE, runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir();
const dbFile = path.join(dir, 'native.db');

function count(db: DB, sql: string, ...args: unknown[]): number {
  return (db.prepare(sql).get(...args) as { n: number }).n;
}

test('8 threads x 1,000,000 malloc/free pairs: every event lands, every pair matched', async () => {
  const r = await runCli(['record', '--quiet', '--db', dbFile, '--name', 'churn', '--', path.join(NATIVE, 'mt_churn'), '8', '1000000']);
  assert.equal(r.code, 0, r.stderr);
  const db = openDatabase(dbFile);
  const s = db.prepare(`SELECT * FROM sessions WHERE name = 'churn'`).get() as { id: number; events: number; events_claimed: number };
  assert.equal(s.events, s.events_claimed, 'rows stored == events the interposer says it wrote');
  assert.equal(count(db, `SELECT count(*) AS n FROM events e JOIN threads t ON t.id = e.thread_id WHERE t.session_id = ? AND kind = ${Kind.malloc} AND size = 4097`, s.id), 8_000_000);
  assert.equal(count(db, `SELECT count(*) AS n FROM lifetimes WHERE session_id = ? AND size = 4097 AND free_event IS NOT NULL`, s.id), 8_000_000);
  // each block freed by the thread that allocated it (the program never hands blocks over)
  assert.equal(
    count(db, `SELECT count(*) AS n FROM lifetimes WHERE session_id = ? AND size = 4097 AND free_thread_id != thread_id`, s.id),
    0,
  );
  assert.equal(count(db, `SELECT count(DISTINCT thread_id) AS n FROM lifetimes WHERE session_id = ? AND size = 4097`, s.id), 8);
  db.close();
});

test('SIGKILL of the target mid-run: everything it wrote before the kill is stored', async () => {
  const db = openDatabase(dbFile);
  let lastCount = 0;
  const r = await record({
    db,
    dbFile,
    command: [path.join(NATIVE, 'kill_test')],
    name: 'killed',
    stdio: 'pipe',
    onStart: (child) => {
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const nums = buf.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
        if (nums.length) lastCount = nums[nums.length - 1];
        if (lastCount >= 200_000 && !child.killed) child.kill('SIGKILL');
      });
    },
  });
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(r.exitCode, 137);
  assert.ok(lastCount >= 200_000);
  const stored = count(db, `SELECT count(*) AS n FROM events e JOIN threads t ON t.id = e.thread_id WHERE t.session_id = ? AND kind = ${Kind.malloc} AND size = 7777`, r.sessionId);
  assert.ok(stored >= lastCount, `stored ${stored} mallocs, the target had reported ${lastCount}`);
  const s = db.prepare(`SELECT status, exit_code, events_claimed FROM sessions WHERE id = ?`).get(r.sessionId);
  assert.deepEqual(s, { status: 'killed', exit_code: 137, events_claimed: null });
  db.close();
});

test('fork: the child is traced to its own file and lands as its own process', async () => {
  const db = openDatabase(dbFile);
  const r = await record({ db, dbFile, command: [path.join(NATIVE, 'fork_test')], name: 'fork', stdio: 'pipe' });
  assert.equal(r.exitCode, 0, r.stderr);
  const m = /parent=(\d+) child=(\d+) status=0/.exec(r.stdout);
  assert.ok(m, r.stdout);
  const procs = db.prepare(`SELECT id, pid, ppid, is_fork_child FROM processes WHERE session_id = ? ORDER BY pid = ? DESC`).all(r.sessionId, Number(m[1])) as {
    id: number; pid: number; ppid: number; is_fork_child: number;
  }[];
  assert.equal(procs.length, 2);
  assert.equal(procs[0].pid, Number(m[1]));
  assert.equal(procs[1].pid, Number(m[2]));
  assert.equal(procs[1].ppid, Number(m[1]));
  assert.equal(procs[1].is_fork_child, 1);
  const bySize = (size: number, proc: number) =>
    count(db, `SELECT count(*) AS n FROM lifetimes a JOIN threads t ON t.id = a.thread_id WHERE a.session_id = ? AND a.size = ? AND t.process_id = ?`, r.sessionId, size, proc);
  assert.equal(bySize(1111, procs[0].id), 100);
  assert.equal(bySize(3333, procs[0].id), 50);
  assert.equal(bySize(2222, procs[0].id), 0);
  assert.equal(bySize(2222, procs[1].id), 100);
  assert.equal(bySize(1111, procs[1].id), 0);
  // the parent's fork marker names the child
  assert.equal(count(db, `SELECT count(*) AS n FROM events e JOIN threads t ON t.id = e.thread_id WHERE t.session_id = ? AND kind = ${Kind.fork} AND addr = ?`, r.sessionId, Number(m[2])), 1);
  db.close();
});

test('the interposer is transparent: edge cases behave exactly as without it', async () => {
  const plain = spawnSync(path.join(NATIVE, 'edge'), { encoding: 'utf8' });
  assert.equal(plain.status, 0, plain.stdout + plain.stderr);
  const db = openDatabase(dbFile);
  const r = await record({ db, dbFile, command: [path.join(NATIVE, 'edge')], name: 'edge', stdio: 'pipe' });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, plain.stdout);
  assert.doesNotMatch(r.stdout, /FAIL/);
  for (const what of ['realloc(NULL', 'free(NULL', 'posix_memalign', 'SIZE_MAX']) assert.match(r.stdout, new RegExp(what.replace(/[()]/g, '\\$&')));
  db.close();
});
