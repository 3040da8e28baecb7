import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { cellsOf, commandFor, parseVary } from '../../main/ab/sweep';
import { openDatabase } from '../../main/store/db';
import { UserError } from '../../shared/errors';
import { isOneLineError, runCli, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/** `memoplan ab --vary NAME=...` and `--plan auto`: one A/B per cell, and the grid's summary. */

const dir = tmpDir('memoplan-sweep-');

test('--vary: names, values, the grid of cells and the command of each', () => {
  const v = parseVary(['batch=1,32', 'workers=1,2,4']);
  assert.deepEqual(cellsOf(v).map((c) => `${c.batch}x${c.workers}`), ['1x1', '1x2', '1x4', '32x1', '32x2', '32x4']);
  assert.deepEqual(commandFor(['py', 'w.py', '--batch', '{batch}', '--tag=b{batch}-w{workers}', '{other}'], v, { batch: '32', workers: '2' }), [
    'py', 'w.py', '--batch', '32', '--tag=b32-w2', '{other}',
  ]);
  for (const bad of [['batch'], ['batch='], ['batch=1,,2'], ['batch=1,1'], ['1x=2'], ['a=1', 'a=2'], ['a=1', 'b=1', 'c=1']]) {
    assert.throws(() => parseVary(bad), UserError, bad.join(' '));
  }
  assert.throws(() => commandFor(['w.py', '--batch', '8'], v, { batch: '1', workers: '1' }), /no \{batch\} to replace/);
});

// Writes 5 latency samples of N ms (N = its first argument) per serving thread, as the agent would.
const fake = path.join(dir, 'fake.sh');
fs.writeFileSync(fake, `#!/bin/sh\nfor i in 0 1 2 3 4; do echo "11 $(($1 * 1000000 + i))" >> "$MEMOPLAN_LATENCY_FILE"; done\n`, { mode: 0o755 });

test('a sweep runs one stored A/B per cell and prints the grid', async () => {
  const db = path.join(dir, 'fake.db');
  const r = await runCli(['ab', '--db', db, '--quiet', '--json', '--allocators', 'glibc', '--runs', '1', '--warmup', '1', '--vary', 'ms=2,3', '--', fake, '{ms}']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { cells: { cell: Record<string, string>; ab_run_id: number; arms: { median_ms: number }[] }[]; grid: { cell: Record<string, string>; best_allocator: string; best_plan: string | null }[] };
  assert.deepEqual(out.cells.map((c) => c.cell.ms), ['2', '3']);
  assert.deepEqual(out.cells.map((c) => Math.round(c.arms[0].median_ms)), [2, 3], 'each cell ran its own command');
  assert.deepEqual(out.grid.map((p) => [p.cell.ms, p.best_allocator, p.best_plan]), [['2', 'glibc', null], ['3', 'glibc', null]]);
  const d = openDatabase(db);
  const cfgs = (d.prepare(`SELECT config FROM ab_runs ORDER BY id`).all() as { config: string }[]).map((x) => JSON.parse(x.config).sweep_cell);
  d.close();
  assert.deepEqual(cfgs, [{ ms: '2' }, { ms: '3' }]);

  const human = await runCli(['ab', '--db', db, '--quiet', '--allocators', 'glibc', '--runs', '1', '--warmup', '1', '--vary', 'ms=2', '--', fake, '{ms}']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /== ms=2: .*fake\.sh 2/);
  assert.match(human.stdout, /^sweep: the fastest plan arm/m);

  const bad = await runCli(['ab', '--db', db, '--vary', 'ms=1', '--', fake, '5']);
  assert.equal(bad.code, 2);
  assert.ok(isOneLineError(bad.stderr), bad.stderr);
  assert.match(bad.stderr, /no \{ms\} to replace/);
});

test('--plan auto: each cell recorded with the minimal agent, planned, and its plan arm served', async () => {
  const db = path.join(dir, 'torch.db');
  const r = await runCli([
    'ab', '--db', db, '--quiet', '--json', '--allocators', 'glibc,plan,plan+tcmalloc', '--plan', 'auto', '--runs', '1', '--warmup', '2',
    '--vary', 'batch=1,2', '--', 'python3', WORKLOAD, '--model', 'transformer', '--batch', '{batch}', '--iterations', '3', '--warmup', '2',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { cells: { cell: Record<string, string>; auto_plan: { session: number; plan_id: number }; arms: { allocator: string; plan_status: string | null; plan_hit_rate: number | null }[] }[]; grid: { best_plan: string | null; latency_ratio: number | null }[] };
  assert.equal(out.cells.length, 2);
  const plans = out.cells.map((c) => c.auto_plan.plan_id);
  assert.notEqual(plans[0], plans[1], 'a plan per cell');
  for (const c of out.cells) {
    // over glibc and over tcmalloc (whose own operator new would bypass the interposer if
    // libmemoplan did not define it: the plan would miss the C++ allocations and never serve)
    for (const name of ['plan', 'plan+tcmalloc']) {
      const arm = c.arms.find((a) => a.allocator === name)!;
      assert.equal(arm.plan_status, 'serving', `${name}, batch ${c.cell.batch}`);
      assert.ok(arm.plan_hit_rate! >= 0.99, `${name}, batch ${c.cell.batch}: hit rate ${arm.plan_hit_rate}`);
    }
  }
  for (const p of out.grid) {
    assert.match(p.best_plan!, /^plan(\+tcmalloc)?$/);
    assert.ok(p.latency_ratio! > 0);
  }
  const d = openDatabase(db);
  const sessions = d.prepare(`SELECT name, agent_ops FROM sessions ORDER BY id`).all();
  d.close();
  assert.deepEqual(sessions, [{ name: 'plan auto: batch=1', agent_ops: 0 }, { name: 'plan auto: batch=2', agent_ops: 0 }]);
});
