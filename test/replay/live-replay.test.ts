import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { openDatabase } from '../../main/store/db';
import { readPlanFile, writePlanFile } from '../../main/plan/plan-file';
import type { ReplaySummary } from '../../shared/types';
import { runCli, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * The correctness proof of plan mode: outputs bitwise equal to the system allocator's, and
 * (nearly) every allocation of a steady-state iteration served from the plan.
 */

const dir = tmpDir();
const dbFile = path.join(dir, 'replay.db');
const PY = '/usr/bin/python3';
const plans: Record<string, string> = {};

type Summary = ReplaySummary;

/** The replay CLI's JSON comes after the workload's own stdout line. */
function summaryOf(stdout: string): Summary {
  const at = stdout.lastIndexOf('\n{\n');
  return JSON.parse(stdout.slice(at < 0 ? 0 : at + 1)) as Summary;
}

function plainDigests(args: string[]): string[] {
  const out = path.join(dir, `plain-${Math.random().toString(36).slice(2)}.json`);
  const r = spawnSync(PY, [WORKLOAD, ...args, '--output', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(fs.readFileSync(out, 'utf8')).digests;
}

async function replay(plan: string, args: string[], threads = 1): Promise<{ s: Summary; digests: string[]; stderr: string }> {
  const out = path.join(dir, `plan-${Math.random().toString(36).slice(2)}.json`);
  const r = await runCli(['replay', '--db', dbFile, '--plan', plan, '--threads', String(threads), '--json', '--', 'python3', WORKLOAD, ...args, '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  return { s: summaryOf(r.stdout), digests: JSON.parse(fs.readFileSync(out, 'utf8')).digests, stderr: r.stderr };
}

before(async () => {
  for (const model of ['resnet18', 'mobilenet_v2', 'transformer']) {
    // resnet18 the default way (aten-op attribution, whose dispatch mode allocates), the others
    // with the minimal agent: every replay runs the minimal agent, and every plan serves it
    const ops = model === 'resnet18' ? [] : ['--no-ops'];
    const rec = await runCli(['record', '--quiet', ...ops, '--db', dbFile, '--name', model, '--', 'python3', WORKLOAD, '--model', model, '--iterations', '2', '--warmup', '2']);
    assert.equal(rec.code, 0, rec.stderr);
    const db = openDatabase(dbFile);
    const id = (db.prepare(`SELECT id FROM sessions WHERE name = ?`).get(model) as { id: number }).id;
    db.close();
    plans[model] = path.join(dir, `${model}.plan`);
    const p = await runCli(['plan', '--db', dbFile, '--session', String(id), '--algorithm', 'greedy-size', '--out', plans[model]]);
    assert.equal(p.code, 0, p.stderr);
  }
});

for (const model of ['resnet18', 'mobilenet_v2', 'transformer']) {
  test(`${model} in plan mode: outputs bitwise equal to glibc's, >= 99% of allocations and 99.9% of bytes from the plan`, async () => {
    const args = ['--model', model, '--iterations', '4', '--warmup', '2'];
    const plain = plainDigests(args);
    const { s, digests } = await replay(plans[model], args);
    assert.deepEqual(digests, plain, 'outputs bitwise equal');
    assert.equal(s.status, 'serving');
    // every iteration after the 2 warm-up ones is served (the 1st makes a first run's extra
    // allocations; the 2nd, observed, matches the plan)
    assert.ok(s.iterations_served >= 4, `iterations served: ${s.iterations_served} of 6`);
    assert.ok(s.hit_rate! >= 0.99, `hit rate ${s.hit_rate}`);
    assert.ok(s.byte_hit_rate! >= 0.999, `byte hit rate ${s.byte_hit_rate}`);
    const db = openDatabase(dbFile);
    const row = db.prepare(`SELECT status, hits, misses FROM replays WHERE session_id = ?`).get(s.session);
    db.close();
    assert.deepEqual(row, { status: 2, hits: s.hits, misses: s.misses }, 'the counters reach the database');
  });
}

test('two serving threads: each its own arena, outputs still equal', async () => {
  const args = ['--model', 'resnet18', '--iterations', '3', '--warmup', '2', '--threads', '2'];
  const plain = plainDigests(args);
  const { s, digests } = await replay(plans.resnet18, args, 2);
  assert.deepEqual(digests, plain);
  assert.equal(digests.length, 2);
  assert.equal(s.status, 'serving');
  const arena = readPlanFile(plans.resnet18).arenaBytes;
  assert.ok(s.arena_bytes >= 2 * arena, `two arenas mapped: ${s.arena_bytes} bytes for a ${arena}-byte plan`);
  assert.ok(s.hit_rate! >= 0.99, `hit rate ${s.hit_rate}`);
});

test('bad plans: tampered, for another batch size, an arena that cannot be mapped: a clear message, the target runs unplanned', async () => {
  const args = ['--model', 'resnet18', '--iterations', '2', '--warmup', '1'];
  const plain = plainDigests(args);

  const tampered = path.join(dir, 'tampered.plan');
  const bytes = fs.readFileSync(plans.resnet18);
  bytes[bytes.length - 40] ^= 0x5a;
  fs.writeFileSync(tampered, bytes);
  const t = await replay(tampered, args);
  assert.match(t.stderr, /checksum mismatch/);
  assert.match(t.stderr, /running unplanned/);
  assert.equal(t.s.status, 'refused');
  assert.equal(t.s.hits, 0);
  assert.deepEqual(t.digests, plain);

  const unmappable = path.join(dir, 'unmappable.plan');
  const p = readPlanFile(plans.resnet18);
  const i = p.entries.findIndex((e) => e.planned);
  p.entries[i].offset = 2 ** 38; // a 256 GiB arena under a 16 GiB address-space limit
  p.arenaBytes = 2 ** 38 + p.entries[i].size;
  writePlanFile(unmappable, p);
  const out = path.join(dir, 'unmappable.json');
  const r = await runCli(['replay', '--db', dbFile, '--plan', unmappable, '--', 'prlimit', '--as=17179869184', PY, WORKLOAD, ...args, '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /refused: cannot reserve address space for arenas; running unplanned/);
  assert.match(r.stderr, /the target ran unplanned/);
  assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')).digests, plain);

  const batch2 = ['--model', 'resnet18', '--batch', '2', '--iterations', '20', '--warmup', '1'];
  const b = await replay(plans.resnet18, batch2);
  assert.equal(b.s.status, 'refused');
  assert.equal(b.s.hits, 0);
  assert.match(b.stderr, /signature/);
  assert.deepEqual(b.digests, plainDigests(batch2));
});
