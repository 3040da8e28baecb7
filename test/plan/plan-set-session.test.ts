import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { PACKAGE_ROOT } from '../../main/paths';
import { assertValid } from '../../main/plan/index';
import { planSetFileFromDb } from '../../main/plan/plan-export';
import { decodePlanSet, encodePlanSet, readPlanAny } from '../../main/plan/plan-file';
import { resolvePlanArg } from '../../main/plan/plan-source';
import { openDatabase } from '../../main/store/db';
import type { ArmReport, ReplaySummary } from '../../shared/types';
import { isOneLineError, runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * `memoplan plan --signatures all` on a recording whose iterations have three shapes (batch
 * sizes 1, 2, 4): one plan per signature, grouped as a plan set, written as a version-3 file.
 */

const SHAPES = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'plan', 'shapes.py');
const ARGS = ['--shapes', '1,2,4', '--rounds', '3'];
const dir = tmpDir();
const dbFile = path.join(dir, 'sets.db');
let sessionId = 0;

async function recordSession(name: string, args: string[]): Promise<number> {
  const r = await runCli(['record', '--quiet', '--db', dbFile, '--name', name, '--', 'python3', SHAPES, ...args]);
  assert.equal(r.code, 0, r.stderr);
  const db = openDatabase(dbFile);
  const id = (db.prepare(`SELECT id FROM sessions WHERE name = ?`).get(name) as { id: number }).id;
  db.close();
  return id;
}

before(async () => {
  sessionId = await recordSession('shapes', ARGS);
});

interface SetJson {
  session: number;
  set_id: number;
  size_floor: number;
  plans: { plan_id: number; signature: string; iterations_seen: number; buffers: number; arena_bytes: number; lower_bound_bytes: number; ratio: number }[];
  left_out: { signature: string; iterations: number; reason: string }[];
  out: string | null;
}

test('plan --signatures all: one valid plan per shape, stored as one set, written as a version-3 file', async () => {
  const out = path.join(dir, 'shapes.plan');
  const r = await runCli(['plan', '--db', dbFile, '--session', String(sessionId), '--signatures', 'all', '--algorithm', 'all', '--time-limit', '3', '--json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as SetJson;
  assert.equal(j.session, sessionId);
  assert.ok(j.plans.length >= 3, `a plan for each of the 3 batch sizes: ${j.plans.length}`);
  assert.equal(new Set(j.plans.map((p) => p.signature)).size, j.plans.length, 'signatures distinct');
  assert.equal(j.size_floor, 4096, 'recorded with aten ops: the floor');
  for (const p of j.plans) assert.ok(p.arena_bytes >= p.lower_bound_bytes && p.buffers > 0 && p.ratio >= 1);
  // the three shapes are each seen 3 times; a shape's first time may add a signature of its own
  assert.equal(j.plans.reduce((n, p) => n + p.iterations_seen, 0) + j.left_out.reduce((n, l) => n + l.iterations, 0), 9, 'every iteration accounted for');
  assert.ok(j.plans.length >= 3 && j.plans.every((p) => p.iterations_seen >= 2), 'steady-state signatures only: each seen at least twice');

  const set = readPlanAny(out);
  assert.equal(set.version, 3);
  assert.equal(set.setId, j.set_id);
  assert.equal(set.sizeFloor, 4096);
  assert.ok(set.plans.length >= 3);
  assert.deepEqual(set.plans.map((m) => m.plan.planId), j.plans.map((p) => p.plan_id), 'directory order = the printed order');
  assert.deepEqual(set.plans.map((m) => m.seen), j.plans.map((p) => p.iterations_seen));
  assert.deepEqual(set.plans.map((m) => m.plan.signature), j.plans.map((p) => p.signature));
  for (const m of set.plans) {
    assert.equal(m.key, 0n);
    assert.equal(m.plan.entries.length, parseInt(m.plan.signature.split('-')[0], 16), 'one entry per allocation the signature counts');
    assert.ok(m.plan.entries.every((e) => e.size > 4096));
  }

  // The store: one plan_sets row, its plans valid (the validator's check, from the stored rows).
  const db = openDatabase(dbFile);
  try {
    const setRow = db.prepare(`SELECT session_id, algorithm FROM plan_sets WHERE id = ?`).get(j.set_id);
    assert.deepEqual(setRow, { session_id: sessionId, algorithm: 'all' });
    const members = db.prepare(`SELECT id, set_seen, is_best FROM plans WHERE set_id = ? ORDER BY id`).all(j.set_id) as { id: number; set_seen: number; is_best: number }[];
    assert.deepEqual(members.map((m) => m.id), j.plans.map((p) => p.plan_id));
    assert.ok(members.every((m) => m.is_best === 1));
    for (const p of j.plans) {
      const bufs = db.prepare(`SELECT ordinal, offset, size, align, start, end FROM plan_buffers WHERE plan_id = ? ORDER BY ordinal`).all(p.plan_id) as {
        ordinal: number; offset: number; size: number; align: number; start: number; end: number;
      }[];
      assert.equal(bufs.length, p.buffers);
      assertValid(bufs.map((b) => ({ id: b.ordinal, start: b.start, end: b.end, size: b.size, align: b.align })), bufs.map((b) => b.offset));
    }
    // The same set from the database (replay --plan set:ID) is the same file, byte for byte.
    const bytes = fs.readFileSync(out);
    const fromDb = planSetFileFromDb(db, j.set_id);
    assert.equal(fromDb.sessionId, sessionId);
    assert.ok(encodePlanSet(fromDb).equals(bytes), 'set:ID exports the file --out wrote');
    const src = resolvePlanArg(db, dbFile, `set:${j.set_id}`);
    try {
      assert.equal(src.setId, j.set_id);
      assert.equal(src.planId, null);
      assert.equal(src.plans, set.plans.length);
      assert.ok(fs.readFileSync(src.file).equals(bytes));
    } finally {
      fs.rmSync(src.tmpDir!, { recursive: true, force: true });
    }
    const fileSrc = resolvePlanArg(db, dbFile, out);
    assert.deepEqual({ ...fileSrc, file: path.basename(fileSrc.file) }, { file: 'shapes.plan', planId: null, setId: j.set_id, plans: set.plans.length, tmpDir: null, invalid: null });
    assert.throws(() => resolvePlanArg(db, dbFile, 'set:999999'), /no plan set 999999/);
  } finally {
    db.close();
  }
  assert.deepEqual(decodePlanSet(fs.readFileSync(out)), { setId: set.setId, sizeFloor: set.sizeFloor, plans: set.plans });
});

test('the human table, and a replay of the set from the database: outputs bitwise equal, set counters reported', async () => {
  const r = await runCli(['plan', '--db', dbFile, '--session', String(sessionId), '--signatures', 'all', '--algorithm', 'greedy-size']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /signatures? planned as plan set (\d+) \(greedy-size/);
  assert.match(r.stdout, /signature\s+iterations seen\s+buffers\s+arena bytes\s+lower bound\s+ratio\s+plan id/);
  const setId = Number(/plan set (\d+)/.exec(r.stdout)![1]);

  // Replayed with a fourth batch size the recording never saw, after each recorded one: it runs
  // unplanned, and the recorded shapes after it are served again.
  const replayArgs = ['--shapes', '1,2,4,3', '--rounds', '4'];
  const plain = spawnSync('/usr/bin/python3', [SHAPES, ...replayArgs], { encoding: 'utf8' });
  assert.equal(plain.status, 0, plain.stderr);
  const rep = await runCli(['replay', '--db', dbFile, '--plan', `set:${setId}`, '--json', '--', 'python3', SHAPES, ...replayArgs]);
  assert.equal(rep.code, 0, rep.stderr);
  const outLines = (s: string) => s.split('\n').filter((l) => l.startsWith('out '));
  assert.equal(outLines(plain.stdout).length, 16);
  assert.deepEqual(outLines(rep.stdout), outLines(plain.stdout), 'outputs bitwise equal');
  const s = JSON.parse(rep.stdout.slice(rep.stdout.indexOf('\n{\n') + 1)) as ReplaySummary;
  assert.equal(s.set_id, setId);
  assert.equal(s.plan_id, null);
  assert.ok(s.plans! >= 3);
  assert.equal(s.status, 'serving');
  assert.ok(s.signatures_served >= 3, `every recorded shape served: ${s.signatures_served} signatures`);
  assert.ok(s.iterations_unplanned >= 4, `batch 3, never recorded, runs unplanned each round: ${s.iterations_unplanned}`);
  // 16 iterations: the unplanned ones, and one observed iteration per plan before it serves
  assert.ok(s.iterations_served >= 16 - s.iterations_unplanned - s.plans!, `served ${s.iterations_served}, unplanned ${s.iterations_unplanned}`);
  assert.ok(s.hit_rate! >= 0.99, `hit rate ${s.hit_rate}`);
  // hits per signature, in set order: every plan served, and they add up to the totals
  assert.equal(s.signatures!.length, s.plans);
  assert.ok(s.signatures!.every((x) => x.iterations_served > 0 && x.hits > 0), JSON.stringify(s.signatures));
  assert.equal(s.signatures!.reduce((n, x) => n + x.hits, 0), s.hits);
  assert.equal(s.signatures!.reduce((n, x) => n + x.iterations_served, 0), s.iterations_served);
  const db = openDatabase(dbFile);
  const row = db.prepare(`SELECT set_id, plan_id, signatures_served, iterations_unplanned FROM replays WHERE session_id = ?`).get(s.session);
  db.close();
  assert.deepEqual(row, { set_id: setId, plan_id: null, signatures_served: s.signatures_served, iterations_unplanned: s.iterations_unplanned });
});

test('bad --signatures use: a clear one-line error each, and nothing to plan', async () => {
  const cases: [string[], RegExp][] = [
    [['--session', String(sessionId), '--signatures', 'some'], /--signatures takes only 'all'/],
    [['--session', String(sessionId), '--signatures', 'all', '--iteration', '2'], /either --signatures all .* or --iteration N/],
    [['--signatures', 'all'], /--signatures goes with --session/],
    [['--session', String(sessionId), '--signatures', 'all', '--offsets', path.join(dir, 'o.csv')], /with --signatures use --out/],
    [['--session', '9999', '--signatures', 'all'], /no session 9999/],
    [['--session', String(sessionId), '--add-to', 'set:1'], /--add-to goes with --signatures all/],
    [['--session', String(sessionId), '--signatures', 'all', '--add-to', 'set:x'], /--add-to takes a plan set id/],
    [['--session', String(sessionId), '--signatures', 'all', '--add-to', '999999'], /no plan set 999999/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(['plan', '--db', dbFile, ...args]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, re);
  }
  // One forward only: its thread's first iteration, with one-off caches, is not planned.
  const once = await recordSession('once', ['--shapes', '2', '--rounds', '1']);
  const r = await runCli(['plan', '--db', dbFile, '--session', String(once), '--signatures', 'all']);
  assert.notEqual(r.code, 0);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /nothing to plan in session \d+: [0-9a-f]+-[0-9a-f]{16} \(1 iteration\): seen once, as its thread's first iteration/);
});

test('growing the memo: a replay\'s unplanned shape is planned into the set, and the grown set serves it', async () => {
  // A set made of batch sizes 1 and 2; a replay that also runs batch 4 runs those unplanned.
  const small = await recordSession('small', ['--shapes', '1,2', '--rounds', '3']);
  const made = await runCli(['plan', '--db', dbFile, '--session', String(small), '--signatures', 'all', '--json']);
  assert.equal(made.code, 0, made.stderr);
  const setId = (JSON.parse(made.stdout) as SetJson).set_id;
  const runArgs = ['--shapes', '1,2,4', '--rounds', '3'];
  const replayed = async () => {
    const rep = await runCli(['replay', '--db', dbFile, '--plan', `set:${setId}`, '--json', '--', 'python3', SHAPES, ...runArgs]);
    assert.equal(rep.code, 0, rep.stderr);
    return JSON.parse(rep.stdout.slice(rep.stdout.indexOf('\n{\n') + 1)) as ReplaySummary;
  };
  const before = await replayed();
  assert.equal(before.plans, 2);
  assert.ok(before.iterations_unplanned >= 3, `batch 4 unplanned: ${before.iterations_unplanned}`);
  const grown = await runCli(['plan', '--db', dbFile, '--session', String(before.session), '--signatures', 'all', '--add-to', `set:${setId}`, '--json']);
  assert.equal(grown.code, 0, grown.stderr);
  const g = JSON.parse(grown.stdout) as SetJson & { grown_from: number };
  assert.equal(g.set_id, setId);
  assert.equal(g.grown_from, 2);
  assert.equal(g.plans.length, 1, 'batch 4 added, batches 1 and 2 already planned');
  assert.ok(g.left_out.some((l) => /plan set \d+ has a plan for it already/.test(l.reason)));
  const after = await replayed();
  assert.equal(after.plans, 3);
  assert.equal(after.signatures_served, 3, 'the grown set serves batch 4 too');
  assert.ok(after.iterations_unplanned < before.iterations_unplanned);
  // Nothing new in a session whose shapes the set has: a clear error.
  const again = await runCli(['plan', '--db', dbFile, '--session', String(after.session), '--signatures', 'all', '--add-to', String(setId)]);
  assert.notEqual(again.code, 0);
  assert.ok(isOneLineError(again.stderr), again.stderr);
  assert.match(again.stderr, new RegExp(`nothing to add to plan set ${setId} from session \\d+: .*has a plan for it already`));
});

test('A/B with a plan set: the plan arm reports hits per signature and the set counters', async () => {
  const made = await runCli(['plan', '--db', dbFile, '--session', String(sessionId), '--signatures', 'all', '--algorithm', 'best-fit', '--json']);
  assert.equal(made.code, 0, made.stderr);
  const setId = (JSON.parse(made.stdout) as SetJson).set_id;
  const r = await runCli(['ab', '--db', dbFile, '--allocators', 'glibc,plan', '--plan', `set:${setId}`, '--runs', '2', '--json', '--quiet', '--', 'python3', SHAPES, ...ARGS]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { threads: { arms: ArmReport[] }[] } & { arms?: ArmReport[] };
  const arms: ArmReport[] = j.arms ?? j.threads.flatMap((t) => t.arms);
  const plan = arms.find((a) => a.allocator === 'plan')!;
  assert.ok(plan, JSON.stringify(arms.map((a) => a.allocator)));
  assert.equal(plan.plan_status, 'serving');
  assert.ok(plan.plan_signatures && plan.plan_signatures.length >= 3, JSON.stringify(plan.plan_signatures));
  assert.equal(plan.plan_signatures_served, plan.plan_signatures.length, 'every plan of the set served in some run');
  assert.ok(plan.plan_signatures.every((x) => x.hits > 0 && x.iterations_served > 0));
  assert.equal(plan.plan_signatures.reduce((n, x) => n + x.hits, 0), plan.plan_hits);
  // each run's first iteration of a shape carries one-off caches (not planned): at most 3 per run
  assert.ok(typeof plan.plan_iterations_unplanned === 'number' && plan.plan_iterations_unplanned <= 2 * 3, `unplanned ${plan.plan_iterations_unplanned}`);
});
