import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PACKAGE_ROOT } from '../../main/paths';
import { runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';
import { startUi, type UiSession } from './serve-helpers';

/**
 * Plan sets in the Plan view, against a real `memoplan serve` and headless Chromium: a
 * recording of test/fixtures/plan/shapes.py (batch sizes 1, 2, 4); "Plan every shape" plans the
 * set and shows one row per repeating signature, the left-out ones with their reasons; a row's
 * Map button draws that plan in the memory map. The single-plan action still works beside it.
 * Then the set is replayed live from the Replay view: its counters beside hits and misses.
 */

const SHAPES = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'plan', 'shapes.py');
const dir = tmpDir('memoplan-ui-sets-');
const dbFile = path.join(dir, 'sets.db');
let ui: UiSession;

before(async () => {
  const r = await runCli(['record', '--quiet', '--db', dbFile, '--name', 'shapes', '--', 'python3', SHAPES, '--shapes', '1,2,4', '--rounds', '3']);
  assert.equal(r.code, 0, r.stderr);
  ui = await startUi(dbFile, dir);
});

after(async () => {
  await ui?.close();
});

test('Plan every shape: the set is planned and shown as a table, a member opens in the memory map', async () => {
  const { page } = ui;
  await page.goto(ui.url);
  await page.waitForSelector('#sessions-table tbody tr[data-session="1"]');
  await ui.view('plan');
  await page.waitForSelector('#plan-run-set:not([disabled])');
  assert.equal(await page.isVisible('#plan-sets-section'), false, 'no set yet');
  await page.selectOption('#plan-algorithm', 'greedy-size');
  await page.click('#plan-run-set');
  await page.waitForSelector('#plan-sets .plan-set-table tbody tr', { timeout: 60_000 });
  const rows = page.locator('#plan-sets .plan-set[data-set="1"] .plan-set-table tbody tr');
  const n = await rows.count();
  assert.ok(n >= 3, `a row per batch size: ${n}`);
  for (let i = 0; i < n; i++) {
    const cells = (await rows.nth(i).locator('td').allTextContents()).map((c) => c.trim());
    assert.match(cells[0], /^[0-9a-f]+-[0-9a-f]{16}$/, 'signature');
    assert.ok(Number(cells[1]) >= 2, `iterations seen: ${cells[1]}`);
    assert.equal(cells[2], '—', 'no shape key yet');
    assert.match(cells[4], /B$/, 'arena');
    assert.match(cells[6], /^\d+\.\d{4}$/, 'ratio to the bound');
    assert.match(cells[7], /^\d+$/, 'plan id');
  }
  const leftOut = (await page.textContent('#plan-sets .plan-set[data-set="1"] .plan-set-left-out')) ?? '';
  assert.match(leftOut, /seen once/);
  // A member in the single-plan memory map.
  const last = rows.nth(n - 1);
  const planId = (await last.locator('td').nth(7).textContent())!.trim();
  await last.locator('button', { hasText: 'Map' }).click();
  await page.waitForFunction((id) => (document.querySelector('#plan-map-info')?.textContent ?? '') !== '' && document.querySelector(`#plans-table tr[data-plan="${id}"].selected`) !== null, planId);
  await ui.shot('plan-sets');

  // Reloaded: listed from the store, the reasons derived from the recording.
  await page.reload();
  await page.waitForSelector('#sessions-table tbody tr[data-session="1"]');
  await ui.view('plan');
  await page.waitForSelector('#plan-sets .plan-set[data-set="1"] .plan-set-table tbody tr');
  assert.equal(await page.locator('#plan-sets .plan-set[data-set="1"] .plan-set-table tbody tr').count(), n);
  assert.match((await page.textContent('#plan-sets')) ?? '', /reasons derived from the recording/);

  // The single-plan action is unchanged beside it.
  const before = await page.locator('#plans-table tbody tr').count();
  await page.click('#plan-run');
  await page.waitForFunction((k) => document.querySelectorAll('#plans-table tbody tr').length > k, before, { timeout: 60_000 });
  assert.deepEqual(ui.consoleErrors, []);
});

test('Replay view: a plan set replayed live shows signatures served (of k) and iterations unplanned beside hits and misses', async () => {
  const { page } = ui;
  const k = await page.locator('#plan-sets .plan-set[data-set="1"] .plan-set-table tbody tr').count();
  await ui.view('replay');
  await page.waitForSelector('#replay-plan option[value="set:1"]', { state: 'attached' });
  await page.selectOption('#replay-plan', 'set:1');
  await page.waitForFunction(() => /^Plan set 1 of session 1/.test(document.querySelector('#live-plan')?.textContent ?? ''));
  assert.match((await page.textContent('#replay-set-note')) ?? '', /Plan set 1 \(\d+ plans\)/);
  await page.click('#live-run');
  await page.waitForSelector('#live-result:not([style*="display: none"])', { timeout: 120_000 });
  assert.equal((await page.textContent('#live-status'))?.trim(), 'serving');
  assert.ok(Number(((await page.textContent('#live-hits')) ?? '').replace(/,/g, '')) > 0);
  assert.ok(await page.isVisible('#live-signatures-served'));
  const served = ((await page.textContent('#live-signatures-served')) ?? '').trim();
  const m = /^(\d+) of (\d+)$/.exec(served);
  assert.ok(m && Number(m[1]) >= 1 && Number(m[2]) === k, `signatures served: ${served} (k ${k})`);
  assert.match(((await page.textContent('#live-iterations-unplanned')) ?? '').trim(), /^\d+$/);
  assert.match((await page.textContent('#live-served-msg')) ?? '', /^Plan set 1 served/);
  await ui.shot('replay-live-set');
  assert.deepEqual(ui.consoleErrors, []);
});
