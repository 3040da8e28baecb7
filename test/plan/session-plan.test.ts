import { iterationSignature } from '../../shared/signature';
import { RECORD_FLAG_AGENT } from '../../shared/trace-kinds';
import { AMBIGUOUS_SMALL_BYTES } from '../../main/plan/iteration';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { openDatabase } from '../../main/store/db';
import { assertValid, parseInstanceCsv } from '../../main/plan/index';
import { decodePlanFile, encodePlanFile, readPlanFile } from '../../main/plan/plan-file';
import { isOneLineError, runCli, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir();
const dbFile = path.join(dir, 'plan.db');
let sessionId = 0;

before(async () => {
  const r = await runCli(['record', '--quiet', '--db', dbFile, '--name', 'r18', '--', 'python3', WORKLOAD, '--model', 'resnet18', '--iterations', '3', '--warmup', '2']);
  assert.equal(r.code, 0, r.stderr);
  const db = openDatabase(dbFile);
  sessionId = (db.prepare(`SELECT id FROM sessions WHERE name = 'r18'`).get() as { id: number }).id;
  db.close();
});

test('planning a recorded resnet18 iteration: every planner stored, valid, at or above the lower bound', async () => {
  const planFile = path.join(dir, 'r18.plan');
  const offsets = path.join(dir, 'r18-offsets.csv');
  const r = await runCli(['plan', '--db', dbFile, '--session', String(sessionId), '--algorithm', 'all', '--time-limit', '2', '--json', '--out', planFile, '--offsets', offsets]);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Record<string, number | string | boolean>[];
  assert.deepEqual(rows.map((x) => x.algorithm), ['greedy-size', 'greedy-breadth', 'first-fit', 'best-fit', 'exact']);
  for (const row of rows) {
    for (const key of ['plan_id', 'algorithm', 'arena_bytes', 'lower_bound_bytes', 'ratio', 'seconds', 'optimal']) assert.ok(key in row, key);
    assert.ok((row.arena_bytes as number) >= (row.lower_bound_bytes as number));
    assert.equal(row.iteration, 2, 'default: the first iteration whose signature repeats, after the 2 warm-up ones');
  }
  const best = rows.filter((x) => x.best);
  assert.equal(best.length, 1);
  assert.equal(best[0].arena_bytes, Math.min(...rows.map((x) => x.arena_bytes as number)));
  assert.ok((best[0].ratio as number) < 1.01, `best plan within 1% of the lower bound: ${best[0].ratio}`);
  assert.ok((best[0].arena_bytes as number) < (best[0].baseline_span_bytes as number), 'the plan uses less than the system allocator did');

  const db = openDatabase(dbFile);
  for (const row of rows) {
    const bufs = db.prepare(`SELECT ordinal, offset, size, align, start, end FROM plan_buffers WHERE plan_id = ? ORDER BY ordinal`).all(row.plan_id) as {
      ordinal: number; offset: number; size: number; align: number; start: number; end: number;
    }[];
    assert.equal(bufs.length, row.buffers);
    assertValid(bufs.map((b) => ({ id: b.ordinal, start: b.start, end: b.end, size: b.size, align: b.align })), bufs.map((b) => b.offset));
    for (const b of bufs) assert.equal(b.offset % 16, 0, 'at least malloc alignment');
  }
  const it = db.prepare(`SELECT i.id, i.signature FROM plans p JOIN iterations i ON i.id = p.iteration_id WHERE p.id = ?`).get(best[0].plan_id) as { id: number; signature: string };
  // the program's allocations (not the agent's own), in order, as the ingest hashed them
  const allocs = db
    .prepare(`SELECT e.size, e.align FROM allocations a JOIN events e ON e.id = a.alloc_event WHERE a.iteration_id = ? AND (e.flags & ?) = 0 ORDER BY a.seq`)
    .all(it.id, RECORD_FLAG_AGENT) as { size: number; align: number }[];
  db.close();
  assert.equal(iterationSignature(allocs), it.signature, 'shared/signature.ts computes what the ingest stored');

  // Recorded with aten ops: the small allocations (the dispatch mode makes some of its own) are
  // below the plan's size floor; the file lists the others, with their signature.
  const pf = readPlanFile(planFile);
  assert.equal(pf.sizeFloor, AMBIGUOUS_SMALL_BYTES);
  const sig = iterationSignature(allocs.filter((a) => a.size > pf.sizeFloor));
  assert.ok(pf.entries.every((e) => e.size > pf.sizeFloor));
  assert.equal(pf.planId, best[0].plan_id);
  assert.equal(pf.arenaBytes, best[0].arena_bytes);
  assert.equal(pf.signature, sig);
  assert.equal(pf.entries.filter((e) => e.planned).length, best[0].buffers);
  assert.equal(pf.entries.length, (best[0].buffers as number) + (best[0].unplannable_allocs as number));
  assert.equal(pf.entries.length, parseInt(sig.split('-')[0], 16), 'one entry per allocation the signature counts');

  const inst = parseInstanceCsv(fs.readFileSync(offsets, 'utf8'));
  assert.equal(inst.buffers.length, best[0].buffers);
  assertValid(inst.buffers, inst.offsets!);

  // A tampered or truncated plan file is refused.
  const bytes = fs.readFileSync(planFile);
  const tampered = Buffer.from(bytes);
  tampered[tampered.length - 30] ^= 0xff;
  assert.throws(() => decodePlanFile(tampered), /checksum mismatch/);
  assert.throws(() => decodePlanFile(bytes.subarray(0, bytes.length - 5)), /truncated/);
  assert.throws(() => decodePlanFile(Buffer.from('hello world, not a plan'.repeat(10))), /not a memoplan plan file/);
});

for (const model of ['mobilenet_v2', 'transformer']) {
  test(`planning ${model}: best plan within 2% of the lower bound, plan file round-trips`, async () => {
    const rec = await runCli(['record', '--quiet', '--db', dbFile, '--name', model, '--', 'python3', WORKLOAD, '--model', model, '--iterations', '2', '--warmup', '2']);
    assert.equal(rec.code, 0, rec.stderr);
    const db = openDatabase(dbFile);
    const id = (db.prepare(`SELECT id FROM sessions WHERE name = ?`).get(model) as { id: number }).id;
    db.close();
    const planFile = path.join(dir, `${model}.plan`);
    const r = await runCli(['plan', '--db', dbFile, '--session', String(id), '--algorithm', 'all', '--time-limit', '2', '--json', '--out', planFile]);
    assert.equal(r.code, 0, r.stderr);
    const best = (JSON.parse(r.stdout) as { best: boolean; ratio: number; plan_id: number; arena_bytes: number }[]).find((x) => x.best)!;
    assert.ok(best.ratio <= 1.02, `${model}: best plan ${best.ratio} x lower bound`);
    const pf = readPlanFile(planFile);
    assert.equal(pf.planId, best.plan_id);
    assert.equal(pf.arenaBytes, best.arena_bytes);
    assert.deepEqual(decodePlanFile(encodePlanFile(pf)), pf, 'encode(decode(file)) is the file');
  });
}

test('one planner, an explicit iteration, and the human table', async () => {
  const r = await runCli(['plan', '--db', dbFile, '--session', String(sessionId), '--iteration', '3', '--algorithm', 'greedy-size']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /iteration 3 \(iteration 3 as asked\)/);
  assert.match(r.stdout, /greedy-size/);
  assert.match(r.stdout, /outlive the iteration/);
});

test('bad planning input: unknown session, iteration or algorithm, both or neither source, a bad CSV, no iterations', async () => {
  const badCsv = path.join(dir, 'bad.csv');
  fs.writeFileSync(badCsv, 'id,lower,upper,size\na,0,1,8\nb,0,2,ten\n');
  const rec = await runCli(['record', '--quiet', '--db', dbFile, '--name', 'no-iterations', '--', '/usr/bin/python3', '-c', 'print(1)']);
  assert.equal(rec.code, 0, rec.stderr);
  const db = openDatabase(dbFile);
  const noIterations = (db.prepare(`SELECT id FROM sessions WHERE name = 'no-iterations'`).get() as { id: number }).id;
  db.close();
  const cases: [string[], RegExp][] = [
    [['plan', '--db', dbFile, '--session', '999'], /no session 999/],
    [['plan', '--db', dbFile, '--session', String(sessionId), '--iteration', '77'], /no complete iteration 77/],
    [['plan', '--db', dbFile, '--session', String(sessionId), '--algorithm', 'magic'], /unknown --algorithm 'magic'/],
    [['plan', '--db', dbFile], /exactly one of --instance FILE.csv or --session ID/],
    [['plan', '--db', dbFile, '--session', 'abc'], /--session must be a non-negative integer/],
    [['plan', '--db', dbFile, '--session', String(sessionId), '--time-limit', '-1'], /--time-limit must be a positive number/],
    [['plan', '--instance', badCsv], /bad\.csv:3: size must be an integer, got 'ten'/],
    [['plan', '--db', dbFile, '--session', String(noIterations)], /has no complete iteration/],
  ];
  for (const [args, msg] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, msg);
  }
});
