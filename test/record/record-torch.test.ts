import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../../main/store/db';
import type { SessionSummary } from '../../shared/types';
import { runCli, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir();
const dbFile = path.join(dir, 'torch.db');
const WARMUP = 2;
const ITERATIONS = 10;

test('recording resnet18: stable iterations, every event stored, allocations tied to modules and aten ops', async () => {
  const r = await runCli([
    'record', '--quiet', '--db', dbFile, '--name', 'resnet18', '--',
    'python3', WORKLOAD, '--model', 'resnet18', '--batch', '1', '--iterations', String(ITERATIONS), '--warmup', String(WARMUP),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(out.model, 'resnet18');

  const list = await runCli(['sessions', '--db', dbFile, '--json']);
  assert.equal(list.code, 0, list.stderr);
  const sessions = JSON.parse(list.stdout) as SessionSummary[];
  const s = sessions.find((x) => x.name === 'resnet18')!;
  for (const key of ['id', 'name', 'command', 'exit_code', 'events', 'allocations', 'live_at_exit', 'iterations', 'ops']) {
    assert.ok(key in s, `sessions --json has ${key}`);
  }
  assert.equal(s.exit_code, 0);
  assert.equal(s.events, s.events_claimed, 'every event the interposer wrote is a row');
  assert.equal(s.iterations, WARMUP + ITERATIONS);
  assert.ok(s.ops > 20, `ops: ${s.ops}`);

  const db = openDatabase(dbFile);
  const its = db.prepare(`SELECT number, allocs, alloc_bytes, signature, latency_ns FROM iterations WHERE session_id = ? ORDER BY number`).all(s.id) as {
    number: number; allocs: number; alloc_bytes: number; signature: string; latency_ns: number;
  }[];
  assert.equal(its.length, WARMUP + ITERATIONS);
  const steady = its.slice(WARMUP);
  assert.ok(steady[0].allocs > 100, `allocations per iteration: ${steady[0].allocs}`);
  assert.ok(steady[0].alloc_bytes > 10_000_000, 'resnet18 activations are megabytes');
  for (const it of steady) {
    assert.equal(it.signature, steady[0].signature, `iteration ${it.number} has the steady-state signature`);
    assert.ok(it.latency_ns > 0);
  }
  // Attribution: the bytes allocated inside iterations come from aten ops in ResNet modules.
  const attributed = db
    .prepare(
      `SELECT sum(a.size) AS total, sum(CASE WHEN o.op LIKE 'aten::%' THEN a.size ELSE 0 END) AS by_op,
              sum(CASE WHEN o.module LIKE 'ResNet%' THEN a.size ELSE 0 END) AS by_module
       FROM lifetimes a JOIN iterations i ON i.id = a.iteration_id LEFT JOIN ops o ON o.id = a.scope
       WHERE a.session_id = ? AND i.number >= ?`,
    )
    .get(s.id, WARMUP) as { total: number; by_op: number; by_module: number };
  assert.ok(attributed.by_op / attributed.total > 0.95, `bytes attributed to aten ops: ${(attributed.by_op / attributed.total).toFixed(3)}`);
  assert.ok(attributed.by_module / attributed.total > 0.95, `bytes attributed to modules: ${(attributed.by_module / attributed.total).toFixed(3)}`);
  const convs = db
    .prepare(`SELECT count(*) AS n FROM ops WHERE session_id = ? AND op = 'aten::convolution' AND module LIKE 'ResNet.layer%conv%'`)
    .get(s.id) as { n: number };
  assert.ok(convs.n >= 10, `convolutions seen in layer modules: ${convs.n}`);
  const tl = db.prepare(`SELECT count(*) AS n, max(live_bytes_max) AS peak FROM timeline WHERE session_id = ?`).get(s.id) as { n: number; peak: number };
  assert.ok(tl.n > 10);
  assert.ok(tl.peak > 0);
  db.close();
});

test('two serving threads: each thread gets its own iterations', async () => {
  const r = await runCli([
    'record', '--quiet', '--db', dbFile, '--name', 'transformer-2t', '--',
    'python3', WORKLOAD, '--model', 'transformer', '--threads', '2', '--iterations', '3', '--warmup', '1',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const db = openDatabase(dbFile);
  const rows = db
    .prepare(`SELECT thread_id, count(*) AS n FROM iterations WHERE session_id = (SELECT id FROM sessions WHERE name = 'transformer-2t') GROUP BY thread_id`)
    .all() as { thread_id: number; n: number }[];
  assert.equal(rows.length, 2);
  for (const row of rows) assert.equal(row.n, 4);
  db.close();
});
