import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { DB } from '../../main/store/db';
import { SessionIngest } from '../oracle/session-ingest';
import { NativeIngest } from '../../main/record/native-ingest';
import { timeline } from '../../main/api/queries';
import { parseRanges } from '../../main/store/id-ranges';
import { mulberry32 as rng } from '../../main/ab/stats';
import { Kind } from '../../shared/trace-kinds';
import { FakeTrace } from '../helpers/trace-writer';
import { tmpDir } from '../helpers/tmp';
import { sessionDb } from '../helpers/session-db';

/**
 * Zoomed timeline ranges at event resolution (main/store/timeline-detail.ts) on a session whose
 * rows are stored far out of time order: a quiet thread fills one trace chunk over the whole
 * run and is read (and numbered) before the busy thread's hundreds of chunks, as an offline
 * ingest or one that lagged behind the target does. Every answer is checked against the truth
 * computed from the trace as generated.
 */

const dir = tmpDir('memoplan-detail-');
let n = 0;

interface Delta {
  ts: number;
  delta: number;
}

const SPAN_NS = 2_000_000_000;

/** Writes the trace; returns every alloc (+size) and free (-size) with its time, in time order. */
function writeTrace(traceDir: string): Delta[] {
  const t = new FakeTrace(path.join(traceDir, 'trace-9-9.mpt'), 9);
  const random = rng(7);
  const deltas: Delta[] = [];
  const thread = (index: number, count: number, parity: number, base: number) => {
    const live: { addr: number; size: number }[] = [];
    const recs = [];
    let next = base;
    for (let k = 0; k < count; k++) {
      // Distinct stamps: thread 1 odd, thread 2 even, so time order is never a tie.
      const ts = 2 * Math.floor((k * SPAN_NS) / count / 2) + parity;
      if (live.length && (random() < 0.5 || live.length > 200)) {
        const [b] = live.splice(Math.floor(random() * live.length), 1);
        recs.push({ ts, kind: Kind.free, addr: b.addr });
        deltas.push({ ts, delta: -b.size });
      } else {
        const size = 16 + Math.floor(random() * 4000);
        const addr = (next += 0x10000);
        live.push({ addr, size });
        recs.push({ ts, kind: Kind.malloc, addr, size });
        deltas.push({ ts, delta: size });
      }
    }
    t.write(index, recs);
  };
  thread(1, 127, 1, 0x1000_0000); // exactly one chunk (4 KiB chunks of 32-byte slots, one for the header)
  thread(2, 60_000, 0, 0x9000_0000);
  t.cleanExit(60_127);
  t.close();
  return deltas.sort((a, b) => a.ts - b.ts);
}

async function ingest(kind: 'js' | 'native', traceDir: string): Promise<{ db: DB; sessionId: number }> {
  const { db, file, sessionId } = sessionDb(path.join(dir, `${kind}-${n++}.db`), kind, 0n);
  if (kind === 'js') new SessionIngest(db, sessionId, traceDir, 0n).finish();
  else await new NativeIngest({ db, dbFile: file, sessionId, traceDir, clockBaseNs: 0n }).finish();
  return { db, sessionId };
}

/** The number of deltas with ts <= t. */
function upTo(deltas: Delta[], t: number): number {
  let lo = 0;
  let hi = deltas.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (deltas[m].ts <= t) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** Live bytes after every delta with ts <= t. */
function liveAt(deltas: Delta[], cumulative: number[], t: number): number {
  const i = upTo(deltas, t);
  return i === 0 ? 0 : cumulative[i - 1];
}

const traceDir = path.join(dir, 'trace');
fs.mkdirSync(traceDir);
const deltas = writeTrace(traceDir);
const cumulative: number[] = [];
deltas.reduce((live, d, i) => (cumulative[i] = live + d.delta), 0);

for (const kind of ['js', 'native'] as const) {
  test(`${kind} ingest: zoomed ranges of a session stored out of time order are summed from exactly their rows`, async () => {
    const { db, sessionId } = await ingest(kind, traceDir);
    // The case this is about: a bucket whose allocations lie in id ranges far apart.
    const ranges = (db.prepare(`SELECT event_ranges FROM timeline WHERE session_id = ? AND event_ranges IS NOT NULL`).pluck().all(sessionId) as string[]).map(
      (r) => parseRanges(r)!,
    );
    assert.ok(ranges.length > 1000, `${ranges.length} buckets with ranges`);
    assert.ok(
      ranges.some((r) => r.length === 2 && r[1][0] - r[0][1] > 50_000),
      'some bucket holds a quiet-thread row numbered long before the busy thread rows of the same moment',
    );

    const full = timeline(db, sessionId, {});
    const buckets = timeline(db, sessionId, { points: 2048 }).buckets;
    const w = (full.tEnd - full.tBegin) / buckets;
    const random = rng(11);
    for (let trial = 0; trial < 40; trial++) {
      const k = 1 + Math.floor(random() * (buckets - 6));
      const t0 = Math.round(full.tBegin + k * w + random() * w);
      const t1 = Math.round(full.tBegin + (k + 3) * w);
      const fine = timeline(db, sessionId, { t0, t1, points: 300 });
      assert.equal(fine.source, 'events', `trial ${trial}: ${t0}..${t1}`);
      assert.equal(fine.points[0].t, t0);
      assert.equal(fine.points[0].live, liveAt(deltas, cumulative, t0 - 1), 'it starts from the live bytes before t0');
      let prev = t0 - 1;
      let counted = 0;
      for (const p of fine.points.slice(1)) {
        assert.ok(p.t >= t0 && p.t < t1, `point at ${p.t} outside ${t0}..${t1}`);
        assert.equal(p.live, liveAt(deltas, cumulative, p.t), `live bytes at ${p.t}`);
        const from = upTo(deltas, prev);
        const to = upTo(deltas, p.t);
        assert.ok(to > from, `the group ending at ${p.t} has events`);
        assert.equal(p.max, Math.max(...cumulative.slice(from, to)), `the maximum of the group ending at ${p.t}`);
        assert.equal(p.allocs, deltas.slice(from, to).filter((d) => d.delta > 0).length);
        assert.equal(p.frees, deltas.slice(from, to).filter((d) => d.delta < 0).length);
        counted += to - from;
        prev = p.t;
      }
      assert.equal(counted, deltas.filter((d) => d.ts >= t0 && d.ts < t1).length, 'every event of the range is in a point');
    }
    db.close();
  });
}

test('a session without id ranges (recorded before schema version 5) zooms at bucket resolution', async () => {
  const { db, sessionId } = await ingest('native', traceDir);
  db.prepare(`UPDATE timeline SET event_ranges = NULL, free_first = NULL, free_last = NULL WHERE session_id = ?`).run(sessionId);
  const full = timeline(db, sessionId, {});
  const w = (full.tEnd - full.tBegin) / full.buckets;
  const fine = timeline(db, sessionId, { t0: Math.round(full.tBegin + 100 * w), t1: Math.round(full.tBegin + 103 * w), points: 300 });
  assert.equal(fine.source, 'timeline');
  assert.equal(fine.events, null);
  assert.ok(fine.points.length >= 1 && fine.points.length <= 4, String(fine.points.length));
  // Damaged ranges are treated the same way, never trusted.
  db.prepare(`UPDATE timeline SET event_ranges = '[[5,"x"]]', free_first = 1, free_last = 1 WHERE session_id = ?`).run(sessionId);
  assert.equal(timeline(db, sessionId, { t0: Math.round(full.tBegin + 100 * w), t1: Math.round(full.tBegin + 103 * w), points: 300 }).source, 'timeline');
  db.close();
});
