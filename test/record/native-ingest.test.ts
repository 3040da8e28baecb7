import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { DB } from '../../main/store/db';
import { SessionIngest } from '../oracle/session-ingest';
import { NativeIngest, startIngest, type IngestResult } from '../../main/record/native-ingest';
import { ingesterPath } from '../../main/paths';
import { Kind } from '../../shared/trace-kinds';
import { FakeTrace } from '../helpers/trace-writer';
import { NATIVE } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';
import { sessionDb } from '../helpers/session-db';

/**
 * memoplan-ingest (native/ingest) against the JS SessionIngest, the reference: the same trace
 * files into two fresh databases must give the same rows in every session table, value for
 * value and type for type (INTEGER vs REAL), and the same finish() result.
 */

const dir = tmpDir('memoplan-native-ingest-');
const LIB = path.join(NATIVE, 'libmemoplan.so');
let n = 0;

/** Every table the ingest writes, with an order that makes the comparison exact. */
const TABLES: [string, string][] = [
  ['processes', 'id'],
  ['threads', 'id'],
  ['ops', 'id'],
  ['stacks', 'id'],
  ['events', 'id'],
  ['allocations', 'id'],
  ['iterations', 'id'],
  ['timeline', 'session_id, bucket'],
  ['op_stats', 'session_id, op_id'],
];
const SESSION_COLUMNS = 'events, markers, events_claimed, allocations, live_at_exit, iterations, ops, first_event, last_event, clock_base_ns, t_begin, t_end, peak_live_bytes';

function freshDb(tag: string, clockBase: bigint): { db: DB; file: string; sessionId: number } {
  return sessionDb(path.join(dir, `${tag}-${n++}.db`), tag, clockBase);
}

function copyDir(from: string, tag: string): string {
  const to = path.join(dir, `${tag}-${n++}`);
  fs.cpSync(from, to, { recursive: true });
  return to;
}

/** Asserts that both databases hold the same rows in every ingest table (streamed, first difference reported). */
function assertSameRows(a: DB, b: DB): void {
  const show = (r: unknown) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
  for (const [table, order] of [...TABLES, ['sessions', 'id'] as [string, string]]) {
    const cols = table === 'sessions' ? SESSION_COLUMNS : '*';
    const sql = `SELECT ${cols} FROM ${table} ORDER BY ${order}`;
    // safeIntegers: INTEGER values come back as BigInt, REAL as number, so types are compared too.
    const ia = a.prepare(sql).safeIntegers(true).raw(true).iterate() as IterableIterator<unknown[]>;
    const ib = b.prepare(sql).safeIntegers(true).raw(true).iterate() as IterableIterator<unknown[]>;
    let row = 0;
    for (;;) {
      const x = ia.next();
      const y = ib.next();
      if (x.done || y.done) {
        assert.equal(!!x.done, !!y.done, `${table}: row counts differ (${row} rows, then one side ends)`);
        break;
      }
      if (show(x.value) !== show(y.value)) {
        ia.return?.();
        ib.return?.();
        assert.fail(`${table} row ${row} differs:\n  js:     ${show(x.value)}\n  native: ${show(y.value)}`);
      }
      row++;
    }
  }
}

async function nativeFinish(db: DB, file: string, sessionId: number, traceDir: string, clockBaseNs: bigint): Promise<IngestResult> {
  return new NativeIngest({ db, dbFile: file, sessionId, traceDir, clockBaseNs }).finish();
}

/**
 * Ingests copies of traceDir both ways (offline: one drain), compares everything; returns the JS
 * result. The native ingest punches the full chunks of its copy out once stored (the JS one
 * never does): the rows must not change.
 */
async function differential(
  traceDir: string,
  clockBase = 0n,
  env: Record<string, string> = {},
): Promise<{ js: IngestResult; js_db: DB; native_db: DB; native_dir: string }> {
  const j = freshDb('js', clockBase);
  const c = freshDb('native', clockBase);
  const js = new SessionIngest(j.db, j.sessionId, copyDir(traceDir, 'js'), clockBase).finish();
  const nativeDir = copyDir(traceDir, 'native');
  const ingest = withEnv(env, () => new NativeIngest({ db: c.db, dbFile: c.file, sessionId: c.sessionId, traceDir: nativeDir, clockBaseNs: clockBase }));
  const native = await ingest.finish();
  assert.deepStrictEqual(native, js);
  assertSameRows(j.db, c.db);
  return { js, js_db: j.db, native_db: c.db, native_dir: nativeDir };
}

/** Allocated and apparent bytes of the trace files in a folder. */
function footprint(d: string): { allocated: number; apparent: number } {
  let allocated = 0;
  let apparent = 0;
  for (const f of fs.readdirSync(d).filter((f) => f.endsWith('.mpt'))) {
    const st = fs.statSync(path.join(d, f));
    allocated += st.blocks * 512;
    apparent += st.size;
  }
  return { allocated, apparent };
}

function traceDirOf(tag: string): string {
  const d = path.join(dir, `${tag}-${n++}`);
  fs.mkdirSync(d);
  return d;
}

test('synthetic edge cases: same rows both ways', async () => {
  const d = traceDirOf('edge');
  const t = new FakeTrace(path.join(d, 'trace-77-5.mpt'), 77);
  const big = 1n << 60n;
  t.names([[1, 'ResNet.layer1\taten::convolution'], [2, 'ResNet\t'], [3, 'no tab here'], [4, Buffer.from([0x61, 0xff, 0xe2, 0x82, 0x09, 0x62, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0, 0x80])]]);
  t.write(1, [
    { ts: 5, kind: Kind.iter_end, addr: 0, size: 1 }, // an end without a begin
    { ts: 10, kind: Kind.iter_begin, size: 1 },
    { ts: 11, kind: Kind.malloc, addr: 0xa000, size: 100, scope: 1, alignLog2: 4 },
    { ts: 12, kind: Kind.malloc, addr: 0xb000, size: 2n ** 40n + 7n, scope: 2, alignLog2: 40 },
    { ts: 12, kind: Kind.posix_memalign, addr: 0xc000, size: 5000, scope: 9, alignLog2: 70 }, // scope 9 never named: placeholder
    { ts: 20, kind: Kind.free, addr: 0xa000 },
    { ts: 21, kind: Kind.realloc_free, addr: 0xb000 },
    { ts: 22, kind: Kind.realloc, addr: 0, size: 1e15, flags: 1 },
    { ts: 22, kind: Kind.realloc_failed, addr: 0xb000, size: 1e15, flags: 1 }, // undoes the realloc_free
    { ts: 23, kind: Kind.realloc_free, addr: 0xb000 },
    { ts: 24, kind: Kind.realloc, addr: 0xd000, size: 64, scope: 3 },
    { ts: 25, kind: Kind.iter_end, addr: 1, size: 12345 },
    { ts: 26, kind: Kind.iter_begin, size: 2 },
    { ts: 27, kind: Kind.iter_begin, size: 3 }, // begins again: the first stays open
    { ts: 28, kind: Kind.calloc, addr: 0xe000, size: 2n ** 64n - 1n, scope: 4 }, // beyond 2^63: clamped
    { ts: 29, kind: Kind.malloc, addr: 0xe000, size: 8 }, // same address again without a free
    { ts: 30, kind: Kind.free, addr: 0xdead }, // never allocated: unmatched
    { ts: 31, kind: Kind.malloc, addr: 0, size: 1n << 62n, flags: 1 }, // failed
    { ts: 32, kind: 20, addr: 0x1234, size: 1 }, // unknown kind
    { ts: 33, kind: Kind.malloc, addr: big + 16n, size: 2n ** 53n + 1n }, // address and size beyond 2^53
    { ts: 34, kind: Kind.malloc, addr: 2n ** 64n - 16n, size: 3 }, // addresses beyond 2^63 clamp to one key
    { ts: 35, kind: Kind.malloc, addr: 2n ** 63n + 32n, size: 4 },
    { ts: 36, kind: Kind.free, addr: big + 16n },
    { ts: 37, kind: Kind.iter_end, addr: 3, size: 999 },
    { ts: 38, kind: Kind.reallocarray, addr: 0, size: 2n ** 64n - 1n, flags: 1 },
    { ts: 39, kind: Kind.thread_exit, size: 30 },
  ]);
  // thread 2 interleaves, with equal stamps (stable order), and reuses thread 1's addresses
  t.write(2, [
    { ts: 12, kind: Kind.malloc, addr: 0x5000, size: 1 },
    { ts: 21, kind: Kind.malloc, addr: 0xa000, size: 200, scope: 2 },
    { ts: 22, kind: Kind.free, addr: 0x5000 },
    { ts: 40, kind: Kind.free, addr: 0xa000 },
    { ts: 41, kind: Kind.realloc_free, addr: 0xa000 }, // already freed: unmatched
    { ts: 2_500_000_000, kind: Kind.malloc, addr: 0xf000, size: 77 }, // 2.5 s: the timeline coarsens
    { ts: 9_000_000_000, kind: Kind.free, addr: 0xf000 },
  ]);
  // many blocks on thread 3 so the address table grows (and its slot order matters at exit)
  const many = [];
  for (let i = 0; i < 70_000; i++) many.push({ ts: 100 + i, kind: Kind.malloc, addr: 0x10_0000_0000 + i * 48, size: 48 + (i % 7) });
  for (let i = 0; i < 70_000; i += 3) many.push({ ts: 200_000 + i, kind: Kind.free, addr: 0x10_0000_0000 + i * 48 });
  t.write(3, many);
  t.write(1, [{ ts: 50, kind: Kind.malloc, addr: 0x9000, size: 9 }], false); // uncommitted tail record
  t.zeroMagicChunk();
  t.write(4, [{ ts: 60, kind: Kind.malloc, addr: 0x9100, size: 10 }]);
  t.rawNames(Buffer.from([5, 0, 0, 0, 20, 0, 0, 0, 0x41])); // a partial trailing names record
  t.setHeader(88, 10n); // plan counters
  t.setHeader(96, 3n);
  t.setHeader(104, 1n << 60n);
  t.setHeader(144, 2n, 4);
  t.setHeader(148, 0n, 4);
  t.setHeader(28, 1n | 4n, 4); // clean exit, stopped early
  t.setHeader(56, 12345n);
  t.phantomChunk(); // counted, beyond EOF
  t.close();

  // a second process: a fork child with its own names, not cleanly exited
  const c = new FakeTrace(path.join(d, 'trace-78-9.mpt'), 78, { forkChild: true, ppid: 77 });
  c.names([[1, 'ResNet.layer1\taten::convolution']]);
  c.write(1, [
    { ts: 15, kind: Kind.malloc, addr: 0xa000, size: 300, scope: 1 }, // same address, other process
    { ts: 16, kind: Kind.fork, addr: 79 },
    { ts: 17, kind: Kind.iter_begin, size: 1 },
    { ts: 18, kind: Kind.malloc, addr: 0xa100, size: 30 },
  ]);
  c.setHeader(144, 3n, 4);
  c.setHeader(148, 10n, 4);
  c.close();
  // a file that does not match the name pattern is ignored
  fs.writeFileSync(path.join(d, 'trace-1-x.mpt'), 'junk');

  const { js } = await differential(d);
  assert.equal(js.claimed, null);
  assert.ok(js.totals.unmatchedFrees >= 2);
  assert.equal(js.notes.length, 1);
  assert.deepEqual(js.plan && { status: js.plan.status, refusal: js.plan.refusal, hits: js.plan.hits }, { status: 3, refusal: 10, hits: 10 });
});

test('clock base: stamps relative to a large base, empty directory, header not written yet', async () => {
  const d = traceDirOf('clock');
  const base = 123_456_789_012_345n;
  const t = new FakeTrace(path.join(d, 'trace-5-1.mpt'), 5);
  t.write(1, [
    { ts: base + 10n, kind: Kind.malloc, addr: 0x100, size: 10 },
    { ts: base - 5n, kind: Kind.malloc, addr: 0x200, size: 20 }, // before the base: negative
    { ts: 2n ** 64n - 1n, kind: Kind.free, addr: 0x200 },
  ]);
  t.cleanExit(3);
  t.close();
  fs.writeFileSync(path.join(d, 'trace-6-1.mpt'), Buffer.alloc(100)); // header not there yet
  await differential(d, base);
  await differential(traceDirOf('empty'));
});

test('Python stacks: stack names go to stacks, a scope\'s third field points its ops row at one', async () => {
  const d = traceDirOf('stacks');
  const t = new FakeTrace(path.join(d, 'trace-4-4.mpt'), 4);
  t.names([
    [1, '@stack\t/w/model.py:10 main\n/w/model.py:5 Net.forward'],
    [2, 'Net.fc\taten::addmm\t1'],
    [3, 'Net\t\t1'],
    [4, 'Net.fc\taten::relu\t99'], // a stack never interned: no stack
    [5, 'Net.x\top\t1x'], // not an id: no stack
    [6, 'Net.y\top'], // an older agent: two fields
    [7, '@stack\t'], // an empty stack
  ]);
  t.write(1, [
    { ts: 1, kind: Kind.malloc, addr: 0x100, size: 10, scope: 2 },
    { ts: 2, kind: Kind.malloc, addr: 0x200, size: 20, scope: 3 },
    { ts: 3, kind: Kind.malloc, addr: 0x300, size: 30, scope: 4 },
  ]);
  t.close();
  const { native_db: db } = await differential(d);
  assert.deepEqual(db.prepare(`SELECT name_id, frames FROM stacks ORDER BY id`).all(), [
    { name_id: 1, frames: '/w/model.py:10 main\n/w/model.py:5 Net.forward' },
    { name_id: 7, frames: '' },
  ]);
  assert.deepEqual(
    db.prepare(`SELECT o.name_id, o.module, o.op, s.name_id AS stack FROM ops o LEFT JOIN stacks s ON s.id = o.stack_id ORDER BY o.id`).all(),
    [
      { name_id: 2, module: 'Net.fc', op: 'aten::addmm', stack: 1 },
      { name_id: 3, module: 'Net', op: '', stack: 1 },
      { name_id: 4, module: 'Net.fc', op: 'aten::relu', stack: null },
      { name_id: 5, module: 'Net.x', op: 'op', stack: null },
      { name_id: 6, module: 'Net.y', op: 'op', stack: null },
    ],
  );
});

test('scope placeholders are named when the names arrive later (two polls each way)', async () => {
  const d = traceDirOf('late-names');
  const t = new FakeTrace(path.join(d, 'trace-3-3.mpt'), 3);
  t.names([[1, 'A\top']]);
  t.write(1, [
    { ts: 1, kind: Kind.malloc, addr: 0x100, size: 10, scope: 1 },
    { ts: 2, kind: Kind.malloc, addr: 0x200, size: 10, scope: 2 },
    { ts: 3, kind: Kind.malloc, addr: 0x300, size: 10, scope: 3 },
  ]);
  const j = freshDb('js', 0n);
  const c = freshDb('native', 0n);
  const js = new SessionIngest(j.db, j.sessionId, d, 0n);
  js.poll();
  const native = new NativeIngest({ db: c.db, dbFile: c.file, sessionId: c.sessionId, traceDir: d, clockBaseNs: 0n, pollMs: 60_000 });
  while (native.polls === 0) await sleep(10);
  assert.equal(native.stats.events, 3);
  t.names([[3, 'C\top3'], [2, 'B\t']]);
  t.write(1, [{ ts: 4, kind: Kind.free, addr: 0x200 }]);
  t.close();
  const rj = js.finish();
  const rn = await native.finish();
  assert.deepStrictEqual(rn, rj);
  assertSameRows(j.db, c.db);
  assert.deepEqual(c.db.prepare(`SELECT name_id, module, op FROM ops ORDER BY id`).all(), [
    { name_id: 1, module: 'A', op: 'op' },
    { name_id: 2, module: 'B', op: '' },
    { name_id: 3, module: 'C', op: 'op3' },
  ]);
});

test('events stamped after the watermark wait for a later poll (two polls each way)', async () => {
  const d = traceDirOf('watermark');
  const base = process.hrtime.bigint() - 10_000_000_000n;
  const now = 10_000_000_000n; // relative to the base: the moment of the test
  const future = now + 3_600_000_000_000n; // an hour ahead: beyond the watermark of any poll now
  const t = new FakeTrace(path.join(d, 'trace-8-8.mpt'), 8);
  const rec = (rel: bigint, kind: number, addr: number, size = 0) => ({ ts: base + rel, kind, addr, size });
  t.write(1, [rec(100n, Kind.malloc, 0x100, 10), rec(200n, Kind.free, 0x100), rec(future, Kind.malloc, 0x100, 11), rec(future + 5n, Kind.free, 0x100)]);
  t.write(2, [rec(150n, Kind.malloc, 0x200, 20), rec(future + 1n, Kind.malloc, 0x300, 30), rec(future + 1n, Kind.iter_begin, 0, 1)]);
  t.write(1, [rec(future + 2n, Kind.malloc, 0x400, 40)]);
  t.close();
  const j = freshDb('js', base);
  const c = freshDb('native', base);
  const js = new SessionIngest(j.db, j.sessionId, d, base);
  js.poll();
  assert.equal(js.stats.liveBytes, 20, 'the first poll fed only the past');
  const native = new NativeIngest({ db: c.db, dbFile: c.file, sessionId: c.sessionId, traceDir: d, clockBaseNs: base, pollMs: 60_000 });
  while (native.polls === 0) await sleep(10);
  assert.equal(native.stats.liveBytes, 20);
  const rj = js.finish();
  const rn = await native.finish();
  assert.deepStrictEqual(rn, rj);
  assertSameRows(j.db, c.db);
});

function traced(program: string, args: string[], traceDir: string): string {
  const r = spawnSync(path.join(NATIVE, program), args, { env: { ...process.env, LD_PRELOAD: LIB, MEMOPLAN_TRACE_DIR: traceDir }, encoding: 'utf8' });
  assert.equal(r.status, 0, `${program}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

test('real traces (mt_churn, fork_test, api_test, edge, bench_churn): same rows both ways', async () => {
  const base = process.hrtime.bigint() - 1_000_000_000n;
  const runs: [string, string[]][] = [['mt_churn', ['2', '100000']], ['fork_test', []], ['api_test', []], ['edge', []], ['bench_churn', ['2', '50000']]];
  for (const [program, args] of runs) {
    const d = traceDirOf(program);
    traced(program, args, d);
    const { js, native_db, native_dir } = await differential(d, base);
    assert.ok(js.totals.events > 0, program);
    if (program === 'mt_churn' || program === 'bench_churn') {
      // most of these traces is full chunks: the native ingest released them
      const f = footprint(native_dir);
      assert.ok(f.allocated * 2 < f.apparent, `${program}: ${f.allocated} bytes allocated of ${f.apparent}`);
    }
    assert.equal(js.claimed, js.totals.events, `${program}: everything the interposer wrote is stored`);
    if (program === 'fork_test') assert.equal((native_db.prepare(`SELECT count(*) AS n FROM processes`).get() as { n: number }).n, 2);
    if (program === 'api_test') assert.ok(js.totals.iterations > 0 && js.totals.ops > 0);
  }
});

test('a backlog read a budget at a time (MEMOPLAN_INGEST_POLL_RECORDS): same rows as the JS reading it at once', async () => {
  const base = process.hrtime.bigint() - 1_000_000_000n;
  // 3000 records: every poll reads one chunk of 32,767 and takes only the stamps of the rest.
  const runs: [string, string[]][] = [['mt_churn', ['3', '60000']], ['fork_test', []], ['bench_churn', ['2', '40000']]];
  for (const [program, args] of runs) {
    const d = traceDirOf(`budget-${program}`);
    traced(program, args, d);
    const { js } = await differential(d, base, { MEMOPLAN_INGEST_POLL_RECORDS: '3000' });
    assert.equal(js.claimed, js.totals.events, program);
  }
  const bad = freshDb('budget-bad', 0n);
  await assert.rejects(
    withEnv({ MEMOPLAN_INGEST_POLL_RECORDS: 'lots' }, () => nativeFinish(bad.db, bad.file, bad.sessionId, traceDirOf('budget-bad'), 0n)),
    /MEMOPLAN_INGEST_POLL_RECORDS must be a positive integer, got lots/,
  );
});

test('a backlog of 5M events is stored in bounded memory', async () => {
  const d = traceDirOf('backlog');
  traced('bench_churn', ['1', '2500000'], d);
  const { db, file, sessionId } = freshDb('backlog', 0n);
  const ingest = new NativeIngest({ db, dbFile: file, sessionId, traceDir: d, clockBaseNs: 0n });
  let peakKiB = 0;
  const status = `/proc/${ingest.pid}/status`;
  const timer = setInterval(() => {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(status, 'utf8'));
      if (hwm) peakKiB = Math.max(peakKiB, Number(hwm[1]));
    } catch {
      /* exited */
    }
  }, 20);
  const r = await ingest.finish();
  clearInterval(timer);
  assert.ok(r.totals.events >= 5_000_000, String(r.totals.events));
  assert.equal(r.claimed, r.totals.events);
  // Read at once, the ingester peaked at 253 MiB here; 250,000 records a poll: 60 MiB.
  assert.ok(peakKiB > 0 && peakKiB < 110 * 1024, `peak RSS of the ingester: ${(peakKiB / 1024).toFixed(0)} MiB`);
});

/** A session's content independent of read order: events by (pid, tid, fields), lifetimes as pairs of such keys. */
function canonical(db: DB): { session: unknown; events: string[]; lifetimes: string[]; ops: unknown[] } {
  const key = `p.pid || '/' || t.tid || '/' || e.ts || '/' || e.kind || '/' || e.addr || '/' || e.size || '/' || e.align || '/' || coalesce(o.module || '|' || o.op, '-') || '/' || e.flags`;
  const from = `FROM events e JOIN threads t ON t.id = e.thread_id JOIN processes p ON p.id = t.process_id LEFT JOIN ops o ON o.id = e.scope`;
  const events = (db.prepare(`SELECT ${key} AS k ${from}`).pluck().all() as string[]).sort();
  const lifetimes = (db
    .prepare(
      `SELECT a.k || ' -> ' || coalesce(f.k, 'live') FROM allocations l
       JOIN (SELECT e.id, ${key} AS k ${from}) a ON a.id = l.alloc_event
       LEFT JOIN (SELECT e.id, ${key} AS k ${from}) f ON f.id = l.free_event`,
    )
    .pluck()
    .all() as string[]).sort();
  const session = db.prepare(`SELECT events, markers, events_claimed, allocations, live_at_exit, iterations, ops, t_begin, t_end FROM sessions`).get();
  const ops = db.prepare(`SELECT p.pid, o.name_id, o.module, o.op FROM ops o JOIN processes p ON p.id = o.process_id ORDER BY p.pid, o.name_id`).all();
  return { session, events, lifetimes, ops };
}

test('live tailing: native ingest while traced processes run and new trace files appear, then JS on the final files', async () => {
  const d = traceDirOf('live');
  const base = process.hrtime.bigint() - 1_000_000_000n;
  const c = freshDb('native', base);
  // The JS ingest reads the same files afterwards: the native one must leave them whole. It
  // polls at full speed (no pacing: native/ingest/pace.h), so that it tails the files as they
  // grow however busy the machine is.
  const native = withEnv({ MEMOPLAN_INGEST_PUNCH: '0', MEMOPLAN_INGEST_PACE: '0' }, () => new NativeIngest({ db: c.db, dbFile: c.file, sessionId: c.sessionId, traceDir: d, clockBaseNs: base, pollMs: 10 }));
  // a traced shell runs mt_churn several times: each run (and the shell, and its forks) a new file
  const script = `for i in 1 2 3 4 5 6 7 8; do ${path.join(NATIVE, 'mt_churn')} 2 30000 >/dev/null; sleep 0.1; done`;
  const child = spawn('/bin/sh', ['-c', script], { env: { ...process.env, LD_PRELOAD: LIB, MEMOPLAN_TRACE_DIR: d }, stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  const pollsWhileRunning = native.polls;
  const rn = await native.finish();
  assert.ok(pollsWhileRunning >= 5, `several polls while the target ran (${pollsWhileRunning})`);
  assert.ok(rn.totals.events >= 8 * 2 * 30000 * 2, `${rn.totals.events} events`);
  const j = freshDb('js', base);
  const rj = new SessionIngest(j.db, j.sessionId, d, base).finish();
  assert.equal(rn.claimed, rj.claimed);
  assert.deepStrictEqual(
    { ...rn.totals, peakLiveBytes: 0 },
    { ...rj.totals, peakLiveBytes: 0 },
  );
  const a = canonical(j.db);
  const b = canonical(c.db);
  assert.deepStrictEqual(b.session, a.session);
  assert.deepStrictEqual(b.ops, a.ops);
  assert.equal(b.events.length, a.events.length);
  assert.ok(b.events.every((e, i) => e === a.events[i]), 'the same events');
  assert.ok(b.lifetimes.every((e, i) => e === a.lifetimes[i]) && b.lifetimes.length === a.lifetimes.length, 'the same lifetimes');
});

test('paced (the default): while the target runs, the ingester still stores at least once a second, however busy the machine', async () => {
  const d = traceDirOf('paced');
  const base = process.hrtime.bigint() - 1_000_000_000n;
  const c = freshDb('native', base);
  const native = new NativeIngest({ db: c.db, dbFile: c.file, sessionId: c.sessionId, traceDir: d, clockBaseNs: base, pollMs: 20 });
  // A small backlog, then a target that runs on without allocating: a poll (one a second when
  // no core is free, at once when one is) stores the backlog before the target ends.
  const script = `${path.join(NATIVE, 'mt_churn')} 2 30000 >/dev/null; sleep 3`;
  const child = spawn('/bin/sh', ['-c', script], { env: { ...process.env, LD_PRELOAD: LIB, MEMOPLAN_TRACE_DIR: d }, stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  const storedWhileRunning = native.stats.events;
  const pollsWhileRunning = native.polls;
  const rn = await native.finish();
  assert.ok(pollsWhileRunning >= 2, `polls while the target ran: ${pollsWhileRunning}`);
  assert.ok(storedWhileRunning >= 2 * 2 * 30000, `${storedWhileRunning} events stored while the target ran`);
  assert.ok(rn.totals.events >= storedWhileRunning, `${rn.totals.events} events in all`);
});

function runIngester(args: string[]): { status: number | null; lines: { type: string; message?: string }[] } {
  const r = spawnSync(ingesterPath(), args, { input: '', encoding: 'utf8' });
  return { status: r.status, lines: r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

test('errors: one error line and exit status 1', async () => {
  const d = traceDirOf('bad');
  const missing = runIngester(['--db', path.join(dir, 'nope.db'), '--session', '1', '--trace-dir', d, '--clock-base', '0']);
  assert.equal(missing.status, 1);
  assert.equal(missing.lines.length, 1);
  assert.equal(missing.lines[0].type, 'error');
  assert.match(missing.lines[0].message!, /database not found: .*nope\.db/);

  const usage = runIngester(['--db', 'x']);
  assert.equal(usage.status, 1);
  assert.match(usage.lines[0].message!, /usage: memoplan-ingest/);

  const c = freshDb('native', 0n);
  const noSession = runIngester(['--db', c.file, '--session', '99', '--trace-dir', d, '--clock-base', '0']);
  assert.equal(noSession.status, 1);
  assert.match(noSession.lines[0].message!, /no session 99/);

  fs.writeFileSync(path.join(d, 'trace-1-1.mpt'), Buffer.alloc(8192, 7));
  const bad = runIngester(['--db', c.file, '--session', String(c.sessionId), '--trace-dir', d, '--clock-base', '0']);
  assert.equal(bad.status, 1);
  assert.equal(bad.lines.at(-1)!.type, 'error');
  assert.match(bad.lines.at(-1)!.message!, /trace-1-1\.mpt: not a memoplan trace file \(bad magic\)/);
  // through NativeIngest: finish() rejects with the same message, and nothing was committed
  await assert.rejects(nativeFinish(c.db, c.file, c.sessionId, d, 0n), /trace-1-1\.mpt: not a memoplan trace file \(bad magic\)/);
  assert.equal((c.db.prepare(`SELECT count(*) AS n FROM processes`).get() as { n: number }).n, 0);
  // the JS reference says the same
  assert.throws(() => new SessionIngest(c.db, c.sessionId, d, 0n).poll(), /trace-1-1\.mpt: not a memoplan trace file \(bad magic\)/);
});

test('a missing ingester binary is a clear error', () => {
  const c = freshDb('native', 0n);
  const d = traceDirOf('sel');
  withEnv({ MEMOPLAN_INGESTER: path.join(dir, 'no-such-ingester') }, () =>
    assert.throws(() => startIngest({ db: c.db, dbFile: c.file, sessionId: c.sessionId, traceDir: d, clockBaseNs: 0n }), /not built .*run npm run build/),
  );
});

/** Runs f with process.env changed (the ingester is spawned with the environment of the moment). */
function withEnv<T>(vars: Record<string, string>, f: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return f();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
