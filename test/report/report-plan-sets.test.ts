import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { PACKAGE_ROOT } from '../../main/paths';
import { runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * The report's "Plan sets" section and a set replay's counters: test/fixtures/plan/shapes.py
 * recorded, planned with --signatures all, replayed with --plan set:ID (all through the CLI),
 * then `memoplan report` of the recorded session.
 */

const SHAPES = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'plan', 'shapes.py');
const ARGS = ['--shapes', '1,2,4', '--rounds', '3'];
const dir = tmpDir('memoplan-report-sets-');
const dbFile = path.join(dir, 'sets.db');

interface SetJson {
  set_id: number;
  plans: { plan_id: number; iterations_seen: number }[];
  left_out: { signature: string }[];
}
let set: SetJson;

before(async () => {
  const rec = await runCli(['record', '--quiet', '--db', dbFile, '--name', 'shapes', '--', 'python3', SHAPES, ...ARGS]);
  assert.equal(rec.code, 0, rec.stderr);
  const p = await runCli(['plan', '--db', dbFile, '--session', '1', '--signatures', 'all', '--algorithm', 'greedy-size', '--json']);
  assert.equal(p.code, 0, p.stderr);
  set = JSON.parse(p.stdout) as SetJson;
  const rp = await runCli(['replay', '--db', dbFile, '--plan', `set:${set.set_id}`, '--', 'python3', SHAPES, ...ARGS]);
  assert.equal(rp.code, 0, rp.stderr);
});

/** The text of one element (by id) of the report, tags dropped. */
function section(html: string, id: string): string {
  const i = html.indexOf(`<section id="${id}">`);
  assert.ok(i >= 0, `section ${id}`);
  return html.slice(i, html.indexOf('</section>', i)).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
}

test('report: a Plan sets section with the set as planned, and the set replay with its counters', async () => {
  const out = path.join(dir, 'report.html');
  const r = await runCli(['report', '--db', dbFile, '--session', '1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const html = fs.readFileSync(out, 'utf8');
  assert.match(html, /<a href="#plan-sets">Plan sets<\/a>/);
  const sets = section(html, 'plan-sets');
  assert.match(sets, new RegExp(`Set ${set.set_id}: ${set.plans.length} plans \\(greedy-size\\)`));
  const table = html.slice(html.indexOf(`<h3 id="plan-set-${set.set_id}">`), html.indexOf('</table>', html.indexOf(`<h3 id="plan-set-${set.set_id}">`)));
  const rows = table.split('<tr>').slice(2); // the header row, then one per plan
  assert.equal(rows.length, set.plans.length);
  assert.ok(rows.length >= 3);
  set.plans.forEach((p, i) => {
    const cells = [...rows[i].matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1].replace(/<[^>]+>/g, ''));
    assert.equal(cells[1], String(p.iterations_seen));
    assert.equal(cells[2], '—');
    assert.equal(cells[7], String(p.plan_id));
  });
  for (const l of set.left_out) assert.ok(sets.includes(l.signature), `left out ${l.signature} listed`);

  const replay = section(html, 'replay');
  assert.match(replay, /signatures served/);
  assert.match(replay, /iterations unplanned/);
  // replay session 2, set N, 1 thread, status, hits, misses, then "x of k"
  assert.match(replay, new RegExp(`2 — replay of plan set ${set.set_id} set ${set.set_id} 1 serving [\\d,]+ [\\d,]+ [1-9]\\d* of ${set.plans.length} \\d+ `));
});
