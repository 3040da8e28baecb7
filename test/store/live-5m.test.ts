import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../../main/store/db';
import { liveAt } from '../../main/store/live';
import { NATIVE, runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * SLOW: what is live at an instant of a 5,000,000-event session (native churn, two threads)
 * is answered well under a second, and agrees with a full scan of the lifetimes view.
 */

const dir = tmpDir('memoplan-live5m-');

test('SLOW: live at the peak and at a time of a 5,000,000-event session, each well under a second', async () => {
  const dbFile = path.join(dir, 'churn.db');
  const r = await runCli(['record', '--quiet', '--db', dbFile, '--', path.join(NATIVE, 'mt_churn'), '2', '1250000']);
  assert.equal(r.code, 0, r.stderr);
  const db = openDatabase(dbFile, { create: false });
  try {
    const s = db.prepare(`SELECT events, t_begin, t_end, peak_live_bytes FROM sessions WHERE id = 1`).get() as { events: number; t_begin: number; t_end: number; peak_live_bytes: number };
    assert.ok(s.events >= 5_000_000, String(s.events));
    const timed = (f: () => ReturnType<typeof liveAt>) => {
      const t0 = process.hrtime.bigint();
      const v = f();
      return { v, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
    };
    const peak = timed(() => liveAt(db, 1, { kind: 'peak' }));
    const mid = Math.round((s.t_begin + s.t_end) / 2);
    const at = timed(() => liveAt(db, 1, { kind: 'ns', t: mid }));
    process.stderr.write(`# live at the peak: ${peak.ms.toFixed(0)} ms; at the middle: ${at.ms.toFixed(0)} ms (5M events)\n`);
    assert.equal(peak.v.liveBytes, s.peak_live_bytes);
    assert.ok(peak.ms < 1000 && at.ms < 1000, `${peak.ms} ms, ${at.ms} ms`);
    const brute = db
      .prepare(`SELECT coalesce(sum(size), 0) AS bytes, count(*) AS n FROM lifetimes WHERE session_id = 1 AND t_alloc <= ? AND (t_free IS NULL OR t_free > ?)`)
      .get(mid, mid) as { bytes: number; n: number };
    assert.equal(at.v.liveBytes, brute.bytes);
    assert.equal(at.v.liveCount, brute.n);
  } finally {
    db.close();
  }
});
