import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { BIN, isOneLineError, runCli, type CliResult } from '../helpers/cli';
import { PACKAGE_ROOT } from '../../main/paths';
import { tmpDir } from '../helpers/tmp';

/**
 * Issue 17, careless and hostile input: each case gets a one-line message and exit 2, and
 * leaves no file changed or half-written, no plan stored, no session or trace behind.
 */

const dir = tmpDir('memoplan-faults-');
const traceRoot = path.join(dir, 'traces');
const env = { MEMOPLAN_TRACE_ROOT: traceRoot };
const dbFile = path.join(dir, 'b.db');

function refused(r: CliResult, msg: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: exit ${r.code}: ${r.stderr}`);
  assert.ok(isOneLineError(r.stderr), `${what}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error/, what);
  assert.match(r.stderr, msg, what);
}

function rows(file: string, sql: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function strays(): string[] {
  const left = fs.readdirSync(dir).filter((f) => /\.partial-|\.tmp-/.test(f));
  const traces = fs.existsSync(traceRoot) ? fs.readdirSync(traceRoot) : [];
  return [...left, ...traces.map((t) => `traces/${t}`)];
}

test('setup: one recorded session', async () => {
  const r = await runCli(['record', '--quiet', '--db', dbFile, '--name', 'ls', '--', '/bin/ls', '/'], { env });
  assert.equal(r.code, 0, r.stderr);
});

test('rows 1, 2: report and plan never write over their database, whatever the spelling', async () => {
  fs.symlinkSync('b.db', path.join(dir, 'link.db'));
  fs.linkSync(dbFile, path.join(dir, 'hard.db'));
  const before = fs.readFileSync(dbFile);
  const spellings = [dbFile, path.join(dir, '.', 'b.db'), path.join(dir, 'link.db'), path.join(dir, 'hard.db')];
  for (const out of spellings) {
    refused(await runCli(['report', '--db', dbFile, '--session', '1', '--out', out], { env }), /is the input database/, `report --out ${out}`);
    refused(await runCli(['plan', '--db', dbFile, '--session', '1', '--out', out], { env }), /is the input database/, `plan --out ${out}`);
    refused(await runCli(['plan', '--db', dbFile, '--session', '1', '--offsets', out], { env }), /is the input database/, `plan --offsets ${out}`);
  }
  // ./b.db relative to the working directory
  refused(await runCli(['report', '--db', 'b.db', '--session', '1', '--out', './b.db'], { cwd: dir, env }), /is the input database/, './b.db');
  // the -wal file beside it is the database too
  fs.writeFileSync(path.join(dir, 'b.db-wal'), '');
  refused(await runCli(['plan', '--db', dbFile, '--session', '1', '--out', path.join(dir, 'b.db-wal')], { env }), /is the input database/, '-wal');
  assert.deepEqual(fs.readFileSync(dbFile), before, 'the database is unchanged');
  assert.equal(rows(dbFile, 'SELECT count(*) AS n FROM plans'), 0, 'no plan stored');
  // An instance CSV is an input too.
  const csv = path.join(dir, 'inst.csv');
  fs.writeFileSync(csv, 'id,lower,upper,size\na,0,2,64\nb,1,3,32\n');
  refused(await runCli(['plan', '--instance', csv, '--offsets', csv]), /is the input instance CSV/, 'offsets over the instance');
  assert.equal(fs.readFileSync(csv, 'utf8'), 'id,lower,upper,size\na,0,2,64\nb,1,3,32\n');
  const exp = await runCli(['export', '--db', dbFile, '--session', '1', '--out', path.join(dir, 'hard.db'), '--force'], { env });
  refused(exp, /is the input database/, 'export --force over a hard link');
  assert.deepEqual(strays(), []);
});

test('row 3: a device or FIFO as plan file is refused at once, before a session exists', async () => {
  const fifo = path.join(dir, 'fifo');
  spawnSync('mkfifo', [fifo]);
  for (const plan of ['/dev/zero', '/dev/urandom', fifo]) {
    const t0 = Date.now();
    const r = await runCli(['replay', '--db', dbFile, '--plan', plan, '--', '/bin/true'], { env, timeoutMs: 20_000 });
    refused(r, /not a regular file/, plan);
    assert.ok(Date.now() - t0 < 15_000, `${plan}: answered in ${Date.now() - t0} ms`);
  }
  refused(await runCli(['plan', '--instance', '/dev/zero'], { timeoutMs: 20_000 }), /not a regular file/, 'instance /dev/zero');
  assert.equal(rows(dbFile, 'SELECT count(*) AS n FROM sessions'), 1, 'no session added');
});

test('row 9: bad --out, --offsets, --plan, --port, --db: one line each, nothing stored or left', async () => {
  const missing = path.join(dir, 'no-such-folder', 'x');
  const cases: [string[], RegExp][] = [
    [['report', '--db', dbFile, '--session', '1', '--out', dir], /is a folder/],
    [['report', '--db', dbFile, '--session', '1', '--out', missing], /output directory does not exist/],
    [['export', '--db', dbFile, '--session', '1', '--out', dir], /is a folder/],
    [['plan', '--db', dbFile, '--session', '1', '--out', dir], /is a folder/],
    [['plan', '--db', dbFile, '--session', '1', '--out', missing], /output directory does not exist/],
    [['plan', '--db', dbFile, '--session', '1', '--offsets', missing], /output directory does not exist/],
    [['plan', '--db', dbFile, '--session', '1', '--out', path.join(dir, 'same'), '--offsets', path.join(dir, 'same')], /name the same file/],
    [['plan', '--db', dbFile, '--session', '1', '--out', '/dev/null'], /not a regular file/],
    [['replay', '--db', dbFile, '--plan', dir, '--', '/bin/true'], /is a folder, not a plan file/],
    [['serve', '--db', dbFile, '--port', '99999'], /--port must be a port number/],
    [['sessions', '--db', ':memory:'], /:memory: is not supported/],
    [['record', '--db', ':memory:', '--', '/bin/true'], /:memory: is not supported/],
    [['record', '--db', '', '--', '/bin/true'], /--db is empty/],
  ];
  for (const [args, msg] of cases) refused(await runCli(args, { env }), msg, args.join(' '));
  // A port in use.
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as net.AddressInfo).port;
  try {
    refused(await runCli(['serve', '--db', dbFile, '--port', String(port)], { env, timeoutMs: 30_000 }), /is in use/, 'port in use');
  } finally {
    busy.close();
  }
  assert.equal(rows(dbFile, 'SELECT count(*) AS n FROM plans'), 0, 'no plan stored');
  assert.equal(rows(dbFile, 'SELECT count(*) AS n FROM sessions'), 1, 'no session added');
  assert.deepEqual(strays(), [], 'no temporary file, no trace folder');
});

test('row 10: an instance whose sizes overflow exact arithmetic is refused, not called a bug', async () => {
  const csv = path.join(dir, 'huge.csv');
  const max = Number.MAX_SAFE_INTEGER;
  fs.writeFileSync(csv, `id,lower,upper,size\na,0,2,${max}\nb,0,2,${max}\nc,0,2,${max}\n`);
  refused(await runCli(['plan', '--instance', csv, '--algorithm', 'greedy-size']), /more than 2\^53-1 bytes/, 'huge instance');
});

test('row 16: a 0-byte file as --db of a verb that reads is refused and stays 0 bytes', async () => {
  const empty = path.join(dir, 'empty.db');
  fs.writeFileSync(empty, '');
  for (const args of [['sessions'], ['report', '--session', '1', '--out', path.join(dir, 'e.html')], ['export', '--session', '1', '--out', path.join(dir, 'e.db')]]) {
    refused(await runCli([...args, '--db', empty]), /empty \(0 bytes\)/, args[0]);
  }
  assert.equal(fs.statSync(empty).size, 0);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('empty.db')), ['empty.db'], 'no -wal or -shm made');
});

test('row 12: names with escape codes are refused by record, and shown escaped by sessions', async () => {
  for (const name of ['evil\x1b[2J', 'two\nlines', '', 'x'.repeat(100_000)]) {
    refused(await runCli(['record', '--db', dbFile, '--name', name, '--', '/bin/true'], { env }), /--name: the session name/, JSON.stringify(name.slice(0, 20)));
  }
  // A name stored by another program (an older memoplan, sqlite3) is shown escaped.
  const db = new Database(dbFile);
  db.prepare(`UPDATE sessions SET name = ? WHERE id = 1`).run('red\x1b[31m\r\nbell\x07\u202eevil');
  db.close();
  const r = await runCli(['sessions', '--db', dbFile]);
  assert.equal(r.code, 0, r.stderr);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(r.stdout, /[\x00-\x09\x0b-\x1f\x7f\u202e]/, 'no raw control character');
  assert.match(r.stdout, /red\\x1b\[31m\\r\\nbell\\x07\\u202eevil/);
  assert.equal(r.stdout.trim().split('\n').length, 2, 'one line per session');
});

test('row 6: three records starting on a new database at once all store their recording', async () => {
  for (let round = 0; round < 3; round++) {
    const fresh = path.join(dir, `race-${round}.db`);
    const rs = await Promise.all([1, 2, 3].map(() => runCli(['record', '--quiet', '--db', fresh, '--', '/bin/true'], { env })));
    for (const r of rs) assert.equal(r.code, 0, `round ${round}: ${r.stderr}`);
    assert.equal(rows(fresh, `SELECT count(*) AS n FROM sessions WHERE status = 'complete'`), 3, `round ${round}`);
  }
});

test('row 14: a damaged database is refused with a clear message by every verb', async () => {
  const bad = path.join(dir, 'damaged.db');
  fs.copyFileSync(dbFile, bad);
  const probe = new Database(bad, { readonly: true });
  const root = (probe.prepare(`SELECT rootpage FROM sqlite_master WHERE name = 'events'`).get() as { rootpage: number }).rootpage;
  const pageSize = probe.pragma('page_size', { simple: true }) as number;
  probe.close();
  const fd = fs.openSync(bad, 'r+');
  fs.writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, (root - 1) * pageSize); // not a b-tree page any more
  fs.closeSync(fd);
  const cases = [
    ['sessions', '--db', bad],
    ['plan', '--db', bad, '--session', '1'],
    ['report', '--db', bad, '--session', '1', '--out', path.join(dir, 'damaged.html')],
    ['export', '--db', bad, '--session', '1', '--out', path.join(dir, 'damaged-export.db')],
    ['record', '--db', bad, '--', '/bin/true'],
  ];
  for (const args of cases) refused(await runCli(args, { env }), /is damaged/, args[0]);
  // Too big for a quick_check at open (here: any size): SQLite's own report of the damaged page
  // when a verb reads it is the same one line, not an internal error.
  const unchecked = { ...env, MEMOPLAN_QUICK_CHECK_MAX_BYTES: '0' };
  for (const args of cases.slice(2, 4)) refused(await runCli(args, { env: unchecked }), /is damaged/, `${args[0]} without quick_check`);
  assert.deepEqual(strays(), []);
});

test('row 8: a database on read-only media is read by every verb that only reads', async (t) => {
  const ro = fs.mkdtempSync(path.join(os.tmpdir(), 'memoplan-ro-'));
  t.after(() => {
    spawnSync('umount', [ro]);
    fs.rmSync(ro, { recursive: true, force: true });
  });
  fs.copyFileSync(dbFile, path.join(ro, 'ro.db'));
  const mounted =
    spawnSync('mount', ['--bind', ro, ro]).status === 0 && spawnSync('mount', ['-o', 'remount,bind,ro', ro]).status === 0;
  if (!mounted) {
    if (process.getuid?.() === 0) return t.skip('root, and no bind mount here: a read-only file cannot be made');
    fs.chmodSync(path.join(ro, 'ro.db'), 0o444);
    fs.chmodSync(ro, 0o555);
  }
  const roDb = path.join(ro, 'ro.db');
  const list = await runCli(['sessions', '--db', roDb, '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(JSON.parse(list.stdout).length, 1);
  const rep = await runCli(['report', '--db', roDb, '--session', '1', '--out', path.join(dir, 'ro.html')]);
  assert.equal(rep.code, 0, rep.stderr);
  const exp = await runCli(['export', '--db', roDb, '--session', '1', '--out', path.join(dir, 'ro-export.db')]);
  assert.equal(exp.code, 0, exp.stderr);
  assert.equal(rows(path.join(dir, 'ro-export.db'), 'SELECT count(*) AS n FROM sessions'), 1);
  // A verb that writes says why it cannot.
  const plan = await runCli(['plan', '--db', roDb, '--session', '1']);
  assert.notEqual(plan.code, 0);
  assert.doesNotMatch(plan.stderr, /internal error/);
  if (!mounted) {
    fs.chmodSync(ro, 0o755);
  }
});

test('row 11: a low open-files limit is named as the cause, not as a Python without torch', async () => {
  const fresh = path.join(dir, 'ulimit.db');
  const r = spawnSync('/bin/sh', ['-c', `ulimit -n 40 && exec "${process.execPath}" "${BIN}" record --db "${fresh}" -- python3 -c 'print(1)'`], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  refused({ code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }, /open-files limit \(ulimit -n\) is 40/, 'ulimit -n 40');
  assert.doesNotMatch(r.stderr, /no Python interpreter/);
  assert.equal(rows(fresh, 'SELECT count(*) AS n FROM sessions'), 0);
});

test('row 15: a replay with a plan made for another workload says why it ran unplanned', async () => {
  const churn = path.join(dir, 'slow_churn');
  const cc = spawnSync('cc', ['-O2', '-pthread', '-o', churn, path.join(PACKAGE_ROOT, 'test', 'faults', 'slow_churn.c'), '-ldl'], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const db = path.join(dir, 'replay.db');
  const iterEnv = { ...env, CHURN_ITERATIONS: '1' };
  const rec = await runCli(['record', '--quiet', '--db', db, '--', churn, '1', '200', '20'], { env: iterEnv });
  assert.equal(rec.code, 0, rec.stderr);
  const planFile = path.join(dir, 'churn.plan');
  const plan = await runCli(['plan', '--db', db, '--session', '1', '--algorithm', 'greedy-size', '--out', planFile]);
  assert.equal(plan.code, 0, plan.stderr);
  // Another workload: 30 allocations an iteration, not 20. Long enough to be refused...
  const refusedRun = await runCli(['replay', '--db', db, '--plan', planFile, '--', churn, '1', '200', '30'], { env: iterEnv });
  assert.equal(refusedRun.code, 0, refusedRun.stderr);
  assert.match(refusedRun.stderr, /the target ran unplanned: the interposer refused the plan: its iteration signature never matched/);
  // ...or too short for that (fewer than 20 iterations): the interposer says nothing, we do.
  const shortRun = await runCli(['replay', '--db', db, '--plan', planFile, '--', churn, '1', '5', '30'], { env: iterEnv });
  assert.equal(shortRun.code, 0, shortRun.stderr);
  assert.match(shortRun.stderr, /the target ran unplanned: none of the target's \d+ iterations matched the plan's iteration signature/);
  assert.doesNotMatch(shortRun.stderr, /see the interposer's message above/);
  // A target that marks no iteration at all.
  const none = await runCli(['replay', '--db', db, '--plan', planFile, '--', churn, '1', '5', '30'], { env });
  assert.match(none.stderr, /the target ran unplanned: the target marked no iteration/);
});
