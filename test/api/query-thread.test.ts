import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../../main/store/db';
import { createSession } from '../../main/store/sessions';
import { NativeIngest } from '../../main/record/native-ingest';
import { ApiService } from '../../main/api/service';
import * as q from '../../main/api/queries';
import { NATIVE } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * overview.timeline runs on ApiService's long-lived query thread (main/workers/query-thread.ts):
 * a zoom summed from 100,000 events does not hold up other calls, and its answers are those of
 * the query run directly.
 */

const dir = tmpDir('memoplan-query-thread-');

async function churnSession(): Promise<{ dbFile: string; session: number }> {
  const traceDir = path.join(dir, 'trace');
  fs.mkdirSync(traceDir);
  const r = spawnSync(path.join(NATIVE, 'bench_churn'), ['1', '50000'], {
    env: { ...process.env, LD_PRELOAD: path.join(NATIVE, 'libmemoplan.so'), MEMOPLAN_TRACE_DIR: traceDir },
  });
  assert.equal(r.status, 0, String(r.stderr));
  const dbFile = path.join(dir, 'churn.db');
  const db = openDatabase(dbFile);
  const session = createSession(db, { name: 'churn', command: ['bench_churn'], cwd: '/', python: null, torchVersion: null, host: {} });
  db.prepare(`UPDATE sessions SET clock_base_ns = 0, status = 'complete' WHERE id = ?`).run(session);
  await new NativeIngest({ db, dbFile, sessionId: session, traceDir, clockBaseNs: 0n }).finish();
  db.close();
  return { dbFile, session };
}

test('a zoom summed from 100k events runs on the query thread: other calls are answered meanwhile, the answers are the same', async () => {
  const { dbFile, session } = await churnSession();
  const service = new ApiService({ dbFile });
  try {
    const list = await service.call('sessions.list', {});
    assert.ok(list.ok);
    const direct = openDatabase(dbFile, { create: false });
    const whole = q.timeline(direct, session, {});
    const range = { session, t0: whole.tBegin, t1: whole.tEnd, points: 900 };
    const expected = q.timeline(direct, session, range);
    direct.close();
    assert.equal(expected.source, 'events', 'the whole short session is summed from its events');
    assert.ok((expected.events ?? 0) >= 100_000, String(expected.events));

    const order: string[] = [];
    const zoom = service.call('overview.timeline', range).then((r) => (order.push('timeline'), r));
    const other = service.call('sessions.list', {}).then((r) => (order.push('sessions.list'), r));
    const [z, o] = await Promise.all([zoom, other]);
    assert.deepEqual(order, ['sessions.list', 'timeline'], 'sessions.list is answered while the zoom is summed');
    assert.ok(o.ok);
    assert.ok(z.ok, JSON.stringify(z));
    assert.deepEqual(z.result, expected);

    // Errors keep their kind across the thread.
    const missing = await service.call('overview.timeline', { session: 999 });
    assert.deepEqual(missing, { ok: false, error: { kind: 'user', message: 'no session 999 in this database' } });
  } finally {
    await service.close();
  }
});
