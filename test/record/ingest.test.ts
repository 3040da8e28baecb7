import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { openDatabase, type DB } from '../../main/store/db';
import { createSession } from '../../main/store/sessions';
import { SessionIngest } from '../oracle/session-ingest';
import { TraceReader } from '../oracle/trace-tail';
import { Kind } from '../../shared/trace-kinds';
import { FakeTrace, CHUNK } from '../helpers/trace-writer';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir();
let n = 0;

function setup(): { db: DB; sessionId: number; traceDir: string; ingest: SessionIngest } {
  const base = path.join(dir, `s${n++}`);
  fs.mkdirSync(base);
  const db = openDatabase(path.join(base, 'db.sqlite'));
  const sessionId = createSession(db, { name: 't', command: ['x'], cwd: '/', python: null, torchVersion: null, host: {} });
  const traceDir = path.join(base, 'traces');
  fs.mkdirSync(traceDir);
  return { db, sessionId, traceDir, ingest: new SessionIngest(db, sessionId, traceDir) };
}

test('the reader returns committed records once, and stops at an uncommitted one', () => {
  const { traceDir } = setup();
  const file = path.join(traceDir, 'trace-1-1.mpt');
  const t = new FakeTrace(file);
  t.write(1, [{ ts: 10, kind: Kind.malloc, addr: 0x1000, size: 64 }, { ts: 11, kind: Kind.free, addr: 0x1000 }]);
  t.write(1, [{ ts: 12, kind: Kind.malloc, addr: 0x2000, size: 8 }], false);
  const r = new TraceReader(file, file.replace('.mpt', '.names'));
  const first = r.readRecords()!;
  assert.equal(first.reduce((s, b) => s + b.count, 0), 2);
  assert.equal(r.readRecords()!.reduce((s, b) => s + b.count, 0), 0, 'nothing new, nothing twice');
  t.commitLast(1, Kind.malloc);
  const second = r.readRecords()!;
  assert.equal(second[0].count, 1);
  assert.equal(second[0].addr[0], 0x2000);
  assert.equal(second[0].size[0], 8);
  r.close();
  t.close();
});

test('records across chunk boundaries and threads all arrive; sizes beyond 2^53 are clamped, not wrapped', () => {
  const { traceDir } = setup();
  const file = path.join(traceDir, 'trace-1-1.mpt');
  const t = new FakeTrace(file);
  const per = CHUNK / 32 * 3; // three chunks per thread
  for (let i = 0; i < per; i++) {
    t.write(1, [{ ts: 100 + 2 * i, kind: Kind.malloc, addr: 0x10000 + i * 16, size: 16 }]);
    t.write(2, [{ ts: 101 + 2 * i, kind: Kind.malloc, addr: 0x900000 + i * 16, size: 32 }]);
  }
  t.write(1, [{ ts: 1e6, kind: Kind.malloc, addr: 0, size: Number.MAX_SAFE_INTEGER, flags: 1 }]);
  const r = new TraceReader(file, file.replace('.mpt', '.names'));
  const batches = r.readRecords()!;
  assert.equal(batches.reduce((s, b) => s + b.count, 0), 2 * per + 1);
  r.close();
  t.close();
});

test('ingest and lifetimes: frees pair with the right allocation even when another thread reuses the address', () => {
  const { db, sessionId, traceDir, ingest } = setup();
  const t = new FakeTrace(path.join(traceDir, 'trace-77-5.mpt'), 77);
  t.names([[1, 'ResNet.layer1\taten::convolution'], [2, 'ResNet\t']]);
  // thread 1 allocates A, frees it; thread 2 is handed the same address later.
  t.write(1, [
    { ts: 10, kind: Kind.iter_begin, size: 1 },
    { ts: 11, kind: Kind.malloc, addr: 0xa000, size: 100, scope: 1 },
    { ts: 20, kind: Kind.free, addr: 0xa000 },
    { ts: 30, kind: Kind.iter_end, addr: 1, size: 12345 },
  ]);
  t.write(2, [
    { ts: 21, kind: Kind.malloc, addr: 0xa000, size: 200, scope: 2 },
    { ts: 40, kind: Kind.free, addr: 0xa000 },
    { ts: 41, kind: Kind.free, addr: 0xdead }, // allocated before tracing: not paired
  ]);
  t.cleanExit(5);
  const { claimed, totals: s } = ingest.finish();
  assert.equal(claimed, 5);
  assert.equal(s.events, 5);
  assert.equal(s.markers, 2);
  assert.equal(s.allocations, 2);
  assert.equal(s.liveAtExit, 0);
  assert.equal(s.unmatchedFrees, 1);
  assert.equal(s.iterations, 1);
  assert.equal(s.peakLiveBytes, 200);
  const allocs = db.prepare(`SELECT a.size, a.t_alloc, a.t_free, o.module, o.op, a.iteration_id FROM lifetimes a LEFT JOIN ops o ON o.id = a.scope ORDER BY a.t_alloc`).all();
  assert.deepEqual(allocs, [
    { size: 100, t_alloc: 11, t_free: 20, module: 'ResNet.layer1', op: 'aten::convolution', iteration_id: 1 },
    { size: 200, t_alloc: 21, t_free: 40, module: 'ResNet', op: '', iteration_id: null },
  ]);
  const it = db.prepare(`SELECT number, latency_ns, allocs, alloc_bytes FROM iterations`).get();
  assert.deepEqual(it, { number: 1, latency_ns: 12345, allocs: 1, alloc_bytes: 100 });
  const tl = db.prepare(`SELECT sum(allocs) AS a, sum(frees) AS f, max(live_bytes_max) AS m FROM timeline WHERE session_id = ?`).get(sessionId);
  assert.deepEqual(tl, { a: 2, f: 2, m: 200 });
});

test('realloc: a failed realloc keeps the old block; a successful one ends it and starts the new one', () => {
  const { db, traceDir, ingest } = setup();
  const t = new FakeTrace(path.join(traceDir, 'trace-5-5.mpt'), 5);
  t.write(1, [
    { ts: 1, kind: Kind.malloc, addr: 0x100, size: 10 },
    { ts: 2, kind: Kind.realloc_free, addr: 0x100 },
    { ts: 3, kind: Kind.realloc, addr: 0, size: 1e15, flags: 1 },
    { ts: 3, kind: Kind.realloc_failed, addr: 0x100, size: 1e15 },
    { ts: 4, kind: Kind.realloc_free, addr: 0x100 },
    { ts: 5, kind: Kind.realloc, addr: 0x200, size: 20 },
    { ts: 6, kind: Kind.realloc, addr: 0x300, size: 30 }, // realloc(NULL, 30)
  ]);
  const s = ingest.finish().totals;
  assert.equal(s.allocations, 3);
  assert.equal(s.liveAtExit, 2);
  const rows = db.prepare(`SELECT addr, size, t_alloc, t_free FROM lifetimes ORDER BY t_alloc`).all();
  assert.deepEqual(rows, [
    { addr: 0x100, size: 10, t_alloc: 1, t_free: 4 },
    { addr: 0x200, size: 20, t_alloc: 5, t_free: null },
    { addr: 0x300, size: 30, t_alloc: 6, t_free: null },
  ]);
});

test('a trace file with a bad magic is reported with its path', () => {
  const { traceDir, ingest } = setup();
  fs.writeFileSync(path.join(traceDir, 'trace-9-9.mpt'), Buffer.alloc(8192, 7));
  assert.throws(() => ingest.poll(), /trace-9-9\.mpt: not a memoplan trace file/);
});
