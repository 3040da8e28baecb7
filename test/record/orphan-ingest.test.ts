import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../../main/store/db';
import { ingesterPath } from '../../main/paths';
import { NATIVE } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';
import { sessionDb } from '../helpers/session-db';

/**
 * memoplan-ingest whose parent dies (its stdin reaches EOF, or its terminal hangs up) while the
 * traced process still runs: it goes on storing until the process is done writing, then ends
 * the session itself and removes the trace directory (native/ingest/main.cpp).
 */

const dir = tmpDir('memoplan-orphan-');
const LIB = path.join(NATIVE, 'libmemoplan.so');
const PY = '/usr/bin/python3';
let n = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
const closed = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.on('close', r)));

// Allocates, then waits for a file to appear (the test's go-ahead), allocates again, exits.
const TARGET = `
import os, sys, time
a = [bytearray(2000) for _ in range(5000)]
print("first", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
b = [bytearray(700) for _ in range(20000)]
print("second", flush=True)
`;

/** A folder with an empty trace directory and a database holding one new session. */
function freshSession(name: string, clockBase: bigint): { base: string; traceDir: string; dbFile: string; sessionId: number } {
  const base = path.join(dir, `s${n++}`);
  const traceDir = path.join(base, 'trace');
  fs.mkdirSync(traceDir, { recursive: true });
  const { db, file: dbFile, sessionId } = sessionDb(path.join(base, 'db.sqlite'), name, clockBase);
  db.close();
  return { base, traceDir, dbFile, sessionId };
}

for (const how of ['stdin EOF', 'SIGHUP'] as const) {
  test(`an orphaned ingester (${how}) stores the rest of the recording, then ends the session`, async () => {
    const clockBase = process.hrtime.bigint() - 1_000_000_000n;
    const { base, traceDir, dbFile, sessionId } = freshSession('orphan', clockBase);

    const go = path.join(base, 'go');
    const target = spawn(PY, ['-c', TARGET, go], { env: { ...process.env, LD_PRELOAD: LIB, MEMOPLAN_TRACE_DIR: traceDir }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    target.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const targetDone = closed(target);
    await until('the target allocated', () => out.includes('first'));

    const ingester = spawn(ingesterPath(), ['--db', dbFile, '--session', String(sessionId), '--trace-dir', traceDir, '--clock-base', String(clockBase), '--poll-ms', '20'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let lines = '';
    let stderr = '';
    ingester.stdout!.on('data', (d: Buffer) => (lines += d.toString()));
    ingester.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const ingesterDone = closed(ingester);
    await until('the first events stored', () => lines.split('\n').some((l) => l.includes('"progress"') && JSON.parse(l).events > 5000));

    // The parent goes away.
    if (how === 'stdin EOF') ingester.stdin!.end();
    else ingester.kill('SIGHUP');
    await sleep(300);
    assert.equal(ingester.exitCode, null, `it keeps going while the target runs: ${stderr}`);
    fs.writeFileSync(go, '');
    assert.equal(await targetDone, 0);
    assert.ok(out.includes('second'));
    assert.equal(await ingesterDone, 0, stderr);
    const done = lines.split('\n').filter(Boolean).map((l) => JSON.parse(l)).pop();
    assert.equal(done.type, 'done');

    const check = openDatabase(dbFile);
    const s = check.prepare(`SELECT * FROM sessions WHERE id = ?`).get(sessionId) as Record<string, number | string | null>;
    const rows = check
      .prepare(`SELECT count(*) AS n FROM events WHERE kind < 32 AND thread_id IN (SELECT id FROM threads WHERE session_id = ?)`)
      .get(sessionId) as { n: number };
    check.close();
    assert.equal(s.status, 'complete');
    assert.ok(s.ended_at, 'end time stored');
    assert.equal(s.detached_at, null, 'a launched session has no detach time');
    assert.ok((s.events as number) > 25_000, `both phases stored: ${s.events}`);
    assert.equal(s.events, s.events_claimed, 'every event the interposer wrote');
    assert.equal(rows.n, s.events);
    assert.equal(fs.existsSync(traceDir), false, 'the trace directory is removed once stored');
  });
}

test('an orphaned ingester with no traced process ends the session as failed at once', async () => {
  const { traceDir, dbFile, sessionId } = freshSession('none', 0n);
  const ingester = spawn(ingesterPath(), ['--db', dbFile, '--session', String(sessionId), '--trace-dir', traceDir, '--clock-base', '0'], { stdio: ['pipe', 'ignore', 'pipe'] });
  ingester.stdin!.end();
  assert.equal(await closed(ingester), 0);
  const check = openDatabase(dbFile);
  assert.equal((check.prepare(`SELECT status FROM sessions WHERE id = ?`).get(sessionId) as { status: string }).status, 'failed');
  check.close();
});
