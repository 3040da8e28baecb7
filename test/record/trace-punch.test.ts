import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { DB } from '../../main/store/db';
import { NativeIngest } from '../../main/record/native-ingest';
import { Kind } from '../../shared/trace-kinds';
import { NATIVE } from '../helpers/cli';
import { PACKAGE_ROOT } from '../../main/paths';
import { tmpDir } from '../helpers/tmp';
import { sessionDb } from '../helpers/session-db';

/**
 * memoplan-ingest releases the pages of trace chunks it has stored (fallocate PUNCH_HOLE once
 * the transaction holding their rows has committed; docs/TRACE_FORMAT.md), so a long recording
 * holds about one chunk per thread in the trace folder instead of its whole trace. The tests
 * drive the ingester directly, so the trace files are still there to be looked at afterwards.
 */

const dir = tmpDir('memoplan-trace-punch-');
const LIB = path.join(NATIVE, 'libmemoplan.so');
const MIB = 1024 * 1024;
const SLOTS = MIB / 32 - 1; // records per chunk
let n = 0;

function freshDb(tag: string, clockBase: bigint): { db: DB; file: string; sessionId: number } {
  return sessionDb(path.join(dir, `${tag}-${n++}.db`), tag, clockBase);
}

function traceDirOf(tag: string): string {
  const d = path.join(dir, `${tag}-${n++}`);
  fs.mkdirSync(d);
  return d;
}

function traceFiles(d: string): string[] {
  return fs
    .readdirSync(d)
    .filter((f) => /^trace-\d+-\d+\.mpt$/.test(f))
    .map((f) => path.join(d, f));
}

/** Bytes the trace files occupy (allocated blocks) and their apparent size. */
function footprint(d: string): { allocated: number; apparent: number; files: number } {
  let allocated = 0;
  let apparent = 0;
  const files = traceFiles(d);
  for (const f of files) {
    const st = fs.statSync(f);
    allocated += st.blocks * 512;
    apparent += st.size;
  }
  return { allocated, apparent, files: files.length };
}

/** What the headers of the (cleanly exited) trace files claim: allocation events and markers. */
function claimed(d: string): { events: number; markers: number } {
  let events = 0;
  let markers = 0;
  for (const f of traceFiles(d)) {
    const fd = fs.openSync(f, 'r');
    const h = Buffer.alloc(72);
    fs.readSync(fd, h, 0, 72, 0);
    fs.closeSync(fd);
    assert.equal(h.readUInt32LE(28) & 1, 1, `${f}: clean exit`);
    events += Number(h.readBigUInt64LE(56));
    markers += Number(h.readBigUInt64LE(64));
  }
  return { events, markers };
}

function traced(program: string, args: string[], traceDir: string): void {
  const r = spawnSync(path.join(NATIVE, program), args, { env: { ...process.env, LD_PRELOAD: LIB, MEMOPLAN_TRACE_DIR: traceDir }, encoding: 'utf8' });
  assert.equal(r.status, 0, `${program}: ${r.stdout}${r.stderr}`);
}

/** The ingester's process, killed when the test ends (a failed assertion must not leave it running). */
function killOnFailure(t: TestContext, native: NativeIngest): ChildProcess {
  const child = (native as unknown as { child: ChildProcess }).child;
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

async function waitFor(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Looks at every chunk of a trace file: chunk 0 (the header) must be intact, every other chunk
 * either punched (all zeros), still holding its records (chunk magic set), or a copy left
 * unfinished by a killed ingester (not counted). Returns the
 * punched chunks, the chunks kept, the records in those, and how many of them are full.
 */
function auditChunks(file: string): { punched: number; kept: number; keptRecords: number; keptFull: number } {
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  const chunk = Buffer.alloc(MIB);
  const zero = Buffer.alloc(MIB);
  let punched = 0;
  let kept = 0;
  let keptRecords = 0;
  let keptFull = 0;
  try {
    fs.readSync(fd, chunk, 0, MIB, 0);
    assert.equal(chunk.toString('latin1', 0, 7), 'MPTRACE', `${file}: header intact`);
    for (let off = MIB; off + MIB <= size; off += MIB) {
      fs.readSync(fd, chunk, 0, MIB, off);
      if (chunk.equals(zero)) {
        punched++;
        continue;
      }
      // A copy the ingester was making when it was killed: magic 0 under a copy's flags (bit2),
      // skipped by every reader (docs/TRACE_FORMAT.md "Copies"); its original was not handed back.
      if (chunk.readUInt32LE(24) === 0 && (chunk.readUInt32LE(28) & 4) !== 0) continue;
      kept++;
      assert.equal(chunk.readUInt32LE(24), 0x4b43504d, `${file} chunk ${off / MIB}: magic`);
      let k = 0;
      while (k < SLOTS && chunk[32 + k * 32 + 28] !== 0) k++;
      if (k === SLOTS) keptFull++;
      keptRecords += k;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { punched, kept, keptRecords, keptFull };
}

/** Header counters of a trace file: chunks taken (less the header) and chunks written again (docs/TRACE_FORMAT.md). */
function chunkCounts(file: string): { used: number; reused: number } {
  const h = Buffer.alloc(184);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, h, 0, 184, 0);
  fs.closeSync(fd);
  return { used: Number(h.readBigUInt64LE(48)) - 1, reused: Number(h.readBigUInt64LE(176)) };
}

/** Every event the interposer claims is stored once, paired exactly, and no full chunk is left in the file. */
function assertStoredOnce(rn: Awaited<ReturnType<NativeIngest['finish']>>, want: { events: number; markers: number }, db: DB, file: string): void {
  assert.equal(rn.claimed, want.events);
  assert.equal(rn.totals.events, want.events);
  assert.equal(rn.totals.markers, want.markers);
  assert.equal(rn.totals.unmatchedFrees, 0);
  assert.equal((db.prepare(`SELECT count(*) AS n FROM events`).get() as { n: number }).n, want.events + want.markers);
  assert.equal(auditChunks(file).keptFull, 0);
}

/** A live native ingest (polling every 10 ms) of a fresh trace folder into a fresh database. */
function liveIngest(t: TestContext, tag: string, pollMs = 10) {
  const d = traceDirOf(tag);
  const base = process.hrtime.bigint() - 1_000_000_000n;
  const c = freshDb(tag, base);
  const native = new NativeIngest({ db: c.db, dbFile: c.file, sessionId: c.sessionId, traceDir: d, clockBaseNs: base, pollMs });
  return { d, base, c, native, child: killOnFailure(t, native) };
}

test('live ingest: full chunks are released once stored, the trace folder stays small, every event lands', async (t) => {
  const { d, c, native } = liveIngest(t, 'live');
  const RUNS = 4;
  const THREADS = 2;
  const PAIRS = 300_000; // 600k records a thread: 18 full chunks each, one with room left
  let peakApparent = 0;
  for (let run = 0; run < RUNS; run++) {
    traced('bench_churn', [String(THREADS), String(PAIRS)], d);
    // Once the ingester has stored everything the files claim, their full chunks are gone.
    const want = claimed(d);
    await waitFor(`run ${run} stored`, () => native.stats.events === want.events && native.stats.markers === want.markers);
    const f = footprint(d);
    peakApparent = Math.max(peakApparent, f.apparent);
    // per file: the header, the main thread's chunk, per worker its last chunk and perhaps one
    // more for events after its thread_exit marker (docs/TRACE_FORMAT.md)
    const bound = f.files * (2 + 2 * THREADS) * MIB;
    assert.ok(f.allocated <= bound, `run ${run}: ${f.allocated} bytes allocated in ${f.files} files (at most ${bound}), apparent ${f.apparent}`);
    assert.ok(f.allocated * 4 < f.apparent, `run ${run}: allocated ${f.allocated} far below apparent ${f.apparent}`);
  }
  const rn = await native.finish();
  // Every event landed: the rows are exactly what the interposer claims.
  const want = claimed(d);
  assert.equal(rn.claimed, want.events);
  assert.equal(rn.totals.events, want.events);
  assert.equal(rn.totals.markers, want.markers);
  assert.equal((c.db.prepare(`SELECT count(*) AS n FROM events`).get() as { n: number }).n, want.events + want.markers);
  // Exact pairing: every 32-byte block of the workers is freed, on its thread, by the next
  // event of that thread; nothing is freed that was not allocated.
  assert.equal(rn.totals.unmatchedFrees, 0);
  const pairs = c.db
    .prepare(
      `SELECT count(*) AS n, sum(f.thread_id = a.thread_id AND f.kind = ${Kind.free} AND f.addr = a.addr) AS paired
       FROM allocations l JOIN events a ON a.id = l.alloc_event LEFT JOIN events f ON f.id = l.free_event
       WHERE a.kind = ${Kind.malloc} AND a.size = 32`,
    )
    .get() as { n: number; paired: number };
  assert.equal(pairs.n, RUNS * THREADS * (PAIRS + 1000)); // 1000 warm-up pairs a thread
  assert.equal(pairs.paired, pairs.n);
  // The files: the header and every chunk with room kept, every full chunk punched; the
  // records of the punched chunks and those kept add up to what was claimed.
  let punched = 0;
  let keptRecords = 0;
  for (const f of traceFiles(d)) {
    const a = auditChunks(f);
    assert.equal(a.keptFull, 0, `${f}: every full chunk punched`);
    assert.ok(a.kept > 0, `${f}: chunks with room kept`);
    punched += a.punched;
    keptRecords += a.keptRecords;
  }
  // Punched chunks held at most SLOTS records each (fewer when their thread ended first).
  assert.ok(punched * SLOTS + keptRecords >= want.events + want.markers, `${punched} punched, ${keptRecords} records kept`);
  const f = footprint(d);
  assert.ok(f.allocated * 8 < f.apparent, `after finish: allocated ${f.allocated}, apparent ${f.apparent}`);
  assert.equal(f.apparent, peakApparent, 'files keep their size');
});

test('a writer the ingester keeps up with writes its kept chunks again: few chunks taken, every event lands', async (t) => {
  const { d, c, native } = liveIngest(t, 'reuse');
  const churn = path.join(dir, 'slow_churn');
  const cc = spawnSync('cc', ['-O2', '-pthread', '-o', churn, path.join(PACKAGE_ROOT, 'test', 'faults', 'slow_churn.c'), '-ldl'], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  // 2 threads, 3 s, 60 pairs a millisecond: about 360k records a thread (11 chunks' worth), at a
  // pace the ingester (polling every 10 ms) keeps up with, so it hands chunks back in time.
  const r = spawnSync(churn, ['2', '3000', '60'], { env: { ...process.env, LD_PRELOAD: LIB, MEMOPLAN_TRACE_DIR: d }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const want = claimed(d);
  const [file] = traceFiles(d);
  const { used, reused } = chunkCounts(file);
  const worth = Math.ceil((want.events + want.markers) / SLOTS);
  assert.ok(reused > 0, `chunks written again: ${reused} (${used} taken for ${worth} chunks of records)`);
  assert.ok(used + reused >= worth, `${used} taken + ${reused} reused hold ${worth} chunks of records`);
  assertStoredOnce(await native.finish(), want, c.db, file);
});

/**
 * One thread writing millions of records a second (the ingest stores one or two million) under
 * a live ingest polling every pollMs: the chunks written again, of how many, once every event
 * is checked stored once (copies are punched once stored, the originals once the process has
 * exited).
 */
async function churnUnderIngest(t: TestContext, tag: string, pollMs?: number): Promise<{ reused: number; worth: number }> {
  const { d, c, native } = liveIngest(t, tag, pollMs);
  traced('bench_churn', ['1', '1500000'], d);
  const want = claimed(d);
  const [file] = traceFiles(d);
  const { reused } = chunkCounts(file);
  assertStoredOnce(await native.finish(), want, c.db, file);
  return { reused, worth: Math.ceil((want.events + want.markers) / SLOTS) };
}

test('a writer faster than the ingest: full kept chunks are copied out and handed back at once, every event lands once', async (t) => {
  const { reused, worth } = await churnUnderIngest(t, 'spill');
  // Without copies the ingest hands back only the first few (measured: 4 of 92; with: 60).
  assert.ok(reused >= 10, `chunks written again while the ingest lagged: ${reused} of ${worth}`);
});

test('a trace file is taken up when it appears, not at the next poll: its spill thread hands chunks back from the start', async (t) => {
  // A poll a minute: the ingest's first poll ran before the file existed and the next comes
  // after the target is done, so chunks come back only if the file was found on its own.
  const { reused, worth } = await churnUnderIngest(t, 'discover', 60_000);
  // Found at the first poll instead: no chunk written again (measured: 0 of 92; found at once: 86 and 89).
  assert.ok(reused >= 10, `chunks written again with no poll during the run: ${reused} of ${worth}`);
});

test('SIGKILL of the ingester loses nothing: what it committed is in the database, the rest still in the files', async (t) => {
  const { d, base, c: first, native, child } = liveIngest(t, 'killed');
  // Traced runs one after another (the shell itself is not traced); the ingester is killed
  // after the first ones are stored, the others are written with no ingester.
  const RUNS = 8;
  const cmd = `${path.join(NATIVE, 'bench_churn')} 1 200000 >/dev/null`;
  const script = `for i in $(seq ${RUNS}); do LD_PRELOAD='${LIB}' MEMOPLAN_TRACE_DIR='${d}' ${cmd} || exit 1; sleep 0.1; done`;
  const shell = spawn('/bin/sh', ['-c', script], { stdio: 'ignore' });
  const shellDone = new Promise<number | null>((resolve) => shell.on('close', resolve));
  await waitFor('some events stored', () => native.stats.events > 600_000);
  child.kill('SIGKILL');
  await assert.rejects(native.finish(), /SIGKILL/);
  assert.equal(await shellDone, 0);
  const want = claimed(d);
  assert.equal(traceFiles(d).length, RUNS);
  const stored = (first.db.prepare(`SELECT count(*) AS n FROM events`).get() as { n: number }).n;
  assert.ok(stored > 0 && stored < want.events + want.markers, `part stored before the kill (${stored} of ${want.events + want.markers})`);
  const audits = traceFiles(d).map(auditChunks);
  assert.ok(audits.some((a) => a.punched > 0), 'chunks were punched before the kill');
  assert.ok(audits.some((a) => a.keptFull > 0), 'full chunks were left for a later ingest');
  // A second ingest of the same folder (into another database) gets what is left in the files:
  // punched chunks read as zeros and are skipped.
  const second = freshDb('rest', base);
  await new NativeIngest({ db: second.db, dbFile: second.file, sessionId: second.sessionId, traceDir: d, clockBaseNs: base }).finish();
  // Together (duplicates removed: chunks stored but not punched yet at the kill, and chunks
  // with room) they hold every record the interposer wrote.
  const key = (db: string) =>
    `SELECT p.pid, t.tid, e.ts, e.kind, e.addr, e.size FROM ${db}.events e JOIN ${db}.threads t ON t.id = e.thread_id JOIN ${db}.processes p ON p.id = t.process_id`;
  first.db.exec(`ATTACH DATABASE '${second.file.replace(/'/g, "''")}' AS rest`);
  const count = (sql: string) => (first.db.prepare(`SELECT count(*) AS n FROM (${sql})`).get() as { n: number }).n;
  assert.equal(count(`SELECT DISTINCT * FROM (${key('main')})`), stored, 'event keys are unique');
  assert.equal(count(`${key('main')} UNION ${key('rest')}`), want.events + want.markers);
  first.db.exec(`DETACH DATABASE rest`);
});

test('the chunks of threads that ended are released while the process runs on', async (t) => {
  const { d, c, native } = liveIngest(t, 'threads');
  // Twelve short-lived threads, one after another (each leaves a chunk with room, and perhaps
  // one more for the frees after its thread_exit marker), then the main thread waits.
  const THREADS = 12;
  const go = path.join(d, '..', `go-${n++}`);
  const py = spawn(
    '/usr/bin/python3',
    ['-c', `import os, sys, threading, time
def work():
    x = [bytearray(2000) for _ in range(300)]
for i in range(${THREADS}):
    t = threading.Thread(target=work); t.start(); t.join()
print("done", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
`, go],
    { env: { ...process.env, LD_PRELOAD: LIB, MEMOPLAN_TRACE_DIR: d }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => py.kill('SIGKILL'));
  let out = '';
  py.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => py.on('close', r));
  await waitFor('the threads ran', () => out.includes('done'));
  const [file] = traceFiles(d);
  // The ingester looks up idle chunks' threads at most every 500 ms.
  await waitFor('the ended threads released', () => auditChunks(file).punched >= THREADS, 20_000);
  const a = auditChunks(file);
  assert.ok(a.kept <= 3, `${a.kept} chunks kept while the process waits (the main thread's, at most two)`);
  fs.writeFileSync(go, '');
  assert.equal(await exited, 0);
  const r = await native.finish();
  const want = claimed(d);
  assert.equal(r.claimed, want.events);
  assert.equal(r.totals.events, want.events);
  assert.equal((c.db.prepare(`SELECT count(*) AS n FROM events`).get() as { n: number }).n, want.events + want.markers);
  assert.equal(
    (c.db.prepare(`SELECT count(*) AS n FROM events WHERE kind = ${Kind.thread_exit}`).get() as { n: number }).n,
    THREADS,
    'every thread_exit marker stored',
  );
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
