import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ApiService } from '../../main/api/service';
import { openDatabase } from '../../main/store/db';
import { sweepMembers } from '../../main/store/ab-sweeps';
import type { AbRunSummary, AbSweep } from '../../shared/api';
import { runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * Stored sweeps grouped into their sweep (main/store/ab-sweeps.ts) and served as grids
 * ('ab.list' sweep refs, 'ab.sweep'): two real `memoplan ab --vary` sweeps with a plain A/B
 * between them, a third varying two names at two thread counts (axes and facets), and cells of
 * a database from before sweeps had ids. The workload is a shell script that writes the
 * agent's latency file itself (as test/ab/ab-process.test.ts): no torch, fast.
 */

const dir = tmpDir('memoplan-sweep-groups-');
const db = path.join(dir, 'sweeps.db');
// $1 ms per iteration (5 iterations per serving thread), as the agent would write them.
const fake = path.join(dir, 'fake.sh');
fs.writeFileSync(
  fake,
  `#!/bin/sh
n=\${MEMOPLAN_SERVING_THREADS:-1}
for i in 0 1 2 3 4; do
  t=0
  while [ $t -lt $n ]; do echo "$((t + 11)) $(($1 * 1000000 + i))" >> "$MEMOPLAN_LATENCY_FILE"; t=$((t + 1)); done
done
`,
  { mode: 0o755 },
);

async function ab(args: string[]): Promise<{ sweep?: string; ab_run_id?: number }> {
  const r = await runCli(['ab', '--db', db, '--quiet', '--json', '--allocators', 'glibc', '--runs', '1', '--warmup', '1', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('two sweeps, a plain A/B between them, a faceted sweep and untagged cells: each run in its sweep', async () => {
  const s1 = await ab(['--vary', 'ms=2,3', '--', fake, '{ms}']); // runs 1, 2
  await ab(['--', fake, '4']); // run 3: no sweep
  const s2 = await ab(['--vary', 'ms=2,3,4', '--', fake, '{ms}']); // runs 4, 5, 6
  const s3 = await ab(['--threads', '1,2', '--vary', 'a=1,2,3', '--vary', 'b=5,6', '--', fake, '{a}{b}']); // runs 7..12
  // Two more sweeps of the same shape as s1, their tags removed: cells stored before sweeps had ids.
  await ab(['--vary', 'ms=2,3', '--', fake, '{ms}']); // runs 13, 14
  await ab(['--vary', 'ms=2,3', '--', fake, '{ms}']); // runs 15, 16
  const d = openDatabase(db);
  try {
    d.prepare(`UPDATE ab_runs SET config = json_remove(config, '$.sweep') WHERE id >= 13`).run();
    const m = sweepMembers(d);
    assert.equal(typeof s1.sweep, 'string');
    assert.notEqual(s1.sweep, s2.sweep);
    const groups = new Map<string, number[]>();
    for (const x of m) groups.set(x.sweepId, [...(groups.get(x.sweepId) ?? []), x.abRunId]);
    assert.deepEqual([...groups.entries()], [
      [s1.sweep, [1, 2]],
      [s2.sweep, [4, 5, 6]],
      [s3.sweep, [7, 8, 9, 10, 11, 12]],
      ['untagged-13', [13, 14]], // ms=2 again after ms=3: a new sweep begins
      ['untagged-15', [15, 16]],
    ]);
    assert.deepEqual(m.filter((x) => x.sweepId === s2.sweep).map((x) => [x.index, x.cells, x.cell.ms]), [[0, 3, '2'], [1, 3, '3'], [2, 3, '4']]);
  } finally {
    d.close();
  }

  const service = new ApiService({ dbFile: db });
  try {
    const call = async <T>(method: string, params: unknown): Promise<T> => {
      const r = await service.call(method, params);
      assert.ok(r.ok, JSON.stringify(r));
      return r.result as T;
    };
    const list = await call<AbRunSummary[]>('ab.list', {});
    const ref = (id: number) => list.find((r) => r.id === id)!.sweep;
    assert.deepEqual(ref(2), { id: s1.sweep, cell: { ms: '3' } });
    assert.equal(ref(3), null, 'the plain A/B is no sweep cell');
    assert.deepEqual(ref(6), { id: s2.sweep, cell: { ms: '4' } });
    assert.equal(ref(14)!.id, 'untagged-13');

    // One name at one thread count: one row of cells, in the order given. No plan arm: grey cells.
    const g2 = await call<AbSweep>('ab.sweep', { id: 5 });
    assert.equal(g2.id, s2.sweep);
    assert.deepEqual(g2.runs, [4, 5, 6]);
    assert.deepEqual(g2.dims, [{ key: 'ms', label: 'ms', values: ['2', '3', '4'] }]);
    assert.equal(g2.x, 'ms');
    assert.equal(g2.y, null);
    assert.equal(g2.panels.length, 1);
    assert.deepEqual(g2.points.map((p) => [p.abRunId, p.coords.ms, p.bestAllocator, p.latencyRatio, p.note]), [
      [4, '2', 'glibc', null, 'no plan arm measured'],
      [5, '3', 'glibc', null, 'no plan arm measured'],
      [6, '4', 'glibc', null, 'no plan arm measured'],
    ]);
    assert.deepEqual(g2.points.map((p) => Math.round(p.allocatorMedianMs!)), [2, 3, 4], 'each cell is its own A/B run');
    assert.equal(g2.expected, 3);

    // Three settings vary (a: 3 values, b: 2, threads: 2): a and b are the axes, one heatmap per thread count.
    const g3 = await call<AbSweep>('ab.sweep', { id: 12 });
    assert.deepEqual(g3.dims.map((x) => [x.key, x.values]), [['a', ['1', '2', '3']], ['b', ['5', '6']], ['serving threads', ['1', '2']]]);
    assert.equal(g3.x, 'a');
    assert.equal(g3.y, 'b');
    assert.deepEqual(g3.facets, ['serving threads']);
    assert.deepEqual(g3.panels.map((p) => [p.label, p.points.length]), [['serving threads=1', 6], ['serving threads=2', 6]]);
    assert.match(g3.note ?? '', /3 settings vary: the axes are the two with the most values \(a, b\); one heatmap per serving threads/);
    for (const p of g3.panels) for (const i of p.points) assert.equal(g3.points[i].coords['serving threads'], p.facet['serving threads']);
    const cell = g3.points.find((p) => p.coords.a === '2' && p.coords.b === '6' && p.threads === 2)!;
    assert.equal(cell.abRunId, 10);
    assert.equal(Math.round(cell.allocatorMedianMs!), 26, 'the command of cell a=2 b=6 ran with 26 ms');

    // Untagged cells: names and values from the cells themselves.
    const gu = await call<AbSweep>('ab.sweep', { id: 16 });
    assert.deepEqual([gu.id, gu.runs, gu.dims, gu.expected], ['untagged-15', [15, 16], [{ key: 'ms', label: 'ms', values: ['2', '3'] }], null]);

    // Not a sweep cell; input checked at the edge.
    assert.equal(await call('ab.sweep', { id: 3 }), null);
    const missing = await service.call('ab.sweep', { id: 999 });
    assert.ok(!missing.ok && missing.error.kind === 'user' && /no A\/B run 999/.test(missing.error.message), JSON.stringify(missing));
    for (const bad of [{ id: 0 }, { id: '5' }, {}, { id: 5, extra: 1 }]) {
      const r = await service.call('ab.sweep', bad);
      assert.ok(!r.ok && r.error.kind === 'bad-request', JSON.stringify(bad));
    }
  } finally {
    await service.close();
  }
});
