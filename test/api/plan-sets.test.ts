import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PACKAGE_ROOT } from '../../main/paths';
import { ApiService } from '../../main/api/service';
import type { PlanSetInfo, PlanSetRunReply, StoredPlanInfo } from '../../shared/api';
import { runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * plan.run with signatures 'all' (a plan set, planned in the worker thread) and plan.sets, on a
 * real recording of test/fixtures/plan/shapes.py (batch sizes 1, 2, 4, three rounds), through
 * ApiService.call as both transports use it; bad input refused at the edge.
 */

const SHAPES = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'plan', 'shapes.py');
const dir = tmpDir('memoplan-api-sets-');
const dbFile = path.join(dir, 'sets.db');
let service: ApiService;

before(async () => {
  const r = await runCli(['record', '--quiet', '--db', dbFile, '--name', 'shapes', '--', 'python3', SHAPES, '--shapes', '1,2,4', '--rounds', '3']);
  assert.equal(r.code, 0, r.stderr);
  service = new ApiService({ dbFile });
});

after(async () => {
  await service?.close();
});

test("plan.run signatures 'all': one plan per repeating shape, stored as a set that plan.sets lists", async () => {
  const reply = await service.call('plan.run', { session: 1, algorithm: 'all', timeLimit: 2, signatures: 'all' });
  assert.equal(reply.ok, true, JSON.stringify(reply));
  const { set } = (reply as { result: PlanSetRunReply }).result;
  assert.ok(set.plans.length >= 3, `a plan per batch size: ${set.plans.length}`);
  assert.ok(set.plans.every((p) => p.iterationsSeen >= 2), 'each seen at least twice');
  assert.equal(set.sizeFloor, 4096);
  assert.equal(set.leftOutFrom, 'planning');
  assert.equal(set.plans.reduce((n, p) => n + p.iterationsSeen, 0) + set.leftOut.reduce((n, l) => n + l.iterations, 0), 9, 'every iteration accounted for');
  for (const p of set.plans) {
    assert.ok(p.arenaBytes >= p.lowerBoundBytes && p.lowerBoundBytes > 0 && p.buffers > 0, JSON.stringify(p));
    assert.equal(p.ratio, p.arenaBytes / p.lowerBoundBytes);
    assert.equal(p.shapeKey, null);
    assert.ok(p.planSignature && p.iterationSignatures.includes(p.signature));
  }
  for (const l of set.leftOut) assert.match(l.reason, /seen once/);

  // The members are ordinary plans of the session (the single-plan views open them).
  const listed = await service.call('plan.list', { session: 1 });
  const ids = new Set(((listed as { result: StoredPlanInfo[] }).result).map((p) => p.planId));
  assert.ok(set.plans.every((p) => ids.has(p.planId)));
  const map = await service.call('plan.map', { plan: set.plans[0].planId });
  assert.equal(map.ok, true);

  const sets = await service.call('plan.sets', { session: 1 });
  assert.equal(sets.ok, true);
  const [s] = (sets as { result: PlanSetInfo[] }).result;
  assert.equal(s.setId, set.setId);
  assert.equal(s.leftOutFrom, 'recording');
  assert.deepEqual(s.plans.map((p) => [p.planId, p.signature, p.iterationsSeen, p.arenaBytes, p.lowerBoundBytes, p.buffers]), set.plans.map((p) => [p.planId, p.signature, p.iterationsSeen, p.arenaBytes, p.lowerBoundBytes, p.buffers]));
  assert.deepEqual(s.leftOut.map((l) => [l.signature, l.iterations, l.reason]).sort(), set.leftOut.map((l) => [l.signature, l.iterations, l.reason]).sort(), 'the seen-once reasons, derived again');
});

test('plan.run, plan.sets and a set replay refuse bad input with a clear message', async () => {
  const bad = async (method: string, body: unknown, kind: string, re: RegExp) => {
    const r = await service.call(method, body);
    assert.equal(r.ok, false, JSON.stringify(r));
    const e = (r as { error: { kind: string; message: string } }).error;
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, re);
  };
  await bad('plan.run', { session: 1, algorithm: 'all', signatures: 'one' }, 'bad-request', /^plan\.run: signatures must be one of all, got the string "one"$/);
  await bad('plan.run', { session: 1, algorithm: 'all', signatures: true }, 'bad-request', /signatures must be one of all/);
  await bad('plan.run', { session: 1, algorithm: 'all', signatures: 'all', iteration: 3 }, 'bad-request', /signatures 'all' .*give no iteration/);
  await bad('plan.run', { session: 99, algorithm: 'all', signatures: 'all' }, 'user', /no session 99/);
  await bad('plan.sets', { session: 99 }, 'user', /no session 99/);
  await bad('plan.sets', { session: 0 }, 'bad-request', /session must be a positive integer id/);
  const form = { interpreter: '', script: SHAPES, args: [], cwd: dir };
  await bad('replay.live.start', { ...form, plan: 1, set: 1 }, 'bad-request', /give either plan or set/);
  await bad('replay.live.start', form, 'bad-request', /give either plan or set/);
  await bad('replay.live.start', { ...form, set: 99 }, 'user', /no plan set 99/);
});
