import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCli, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';
import { startUi, type UiSession } from './serve-helpers';

/**
 * Live replay and A/B from the UI, against a real `memoplan serve` and headless Chromium: a
 * resnet18 session recorded with --no-ops, planned, replayed live in plan mode from the Replay
 * view (status serving, hit rate shown; then a run the plan does not fit: refused, unplanned);
 * an A/B (glibc vs jemalloc) started from the A/B view shows its ratio table and charts, and the
 * past run reopens from the list.
 */

const dir = tmpDir('memoplan-ui-ab-');
const dbFile = path.join(dir, 'ab.db');
let ui: UiSession;

before(async () => {
  const rec = await runCli(['record', '--quiet', '--no-ops', '--db', dbFile, '--', 'python3', WORKLOAD, '--model', 'resnet18', '--iterations', '3', '--warmup', '2']);
  assert.equal(rec.code, 0, rec.stderr);
  const plan = await runCli(['plan', '--db', dbFile, '--session', '1', '--algorithm', 'greedy-size']);
  assert.equal(plan.code, 0, plan.stderr);
  ui = await startUi(dbFile, dir);
});

after(async () => {
  await ui?.close();
});

test('replay live from the Replay view: the plan serves, hits and hit rate are shown', async () => {
  const { page } = ui;
  await page.goto(ui.url);
  await page.waitForSelector('#sessions-table tbody tr[data-session="1"]');
  await ui.view('replay');
  // The form is prefilled from the session's recorded command.
  await page.waitForFunction(() => /torchvision_infer\.py$/.test((document.querySelector('#live-script') as HTMLInputElement)?.value ?? ''));
  assert.match(await page.inputValue('#live-args'), /--model resnet18/);
  await page.fill('#live-args', '--model resnet18 --iterations 3 --warmup 1');
  const t0 = Date.now();
  await page.click('#live-run');
  await page.waitForSelector('#live-result:not([style*="display: none"])', { timeout: 120_000 });
  console.log(`# live replay from the UI: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal((await page.textContent('#live-status'))?.trim(), 'serving');
  assert.match((await page.textContent('#live-hit-rate')) ?? '', /^\d+\.\d+%$/);
  const hits = Number(((await page.textContent('#live-hits')) ?? '').replace(/,/g, ''));
  assert.ok(hits > 0, `hits ${hits}`);
  assert.match((await page.textContent('#live-served')) ?? '', /^[1-9]/);
  assert.ok(await page.$('#live-latency canvas'), 'per-iteration latency chart');
  assert.ok(await page.$('#live-served-msg'));
  assert.equal(await page.$('#live-unplanned'), null);
  await ui.shot('replay-live');
  const sessions = (await ui.call('sessions.list', {})).json.result.sessions as { id: number; name: string }[];
  assert.ok(sessions.some((s) => /replay of plan 1/.test(s.name)), 'the replay is stored as a session');
});

test('replay live with a workload the plan does not fit: refused, and the page says the target ran unplanned', async () => {
  const { page } = ui;
  await page.fill('#live-args', '--model resnet18 --batch 2 --iterations 20 --warmup 1');
  await page.click('#live-run');
  await page.waitForSelector('#live-unplanned', { timeout: 150_000 });
  const msg = (await page.textContent('#live-unplanned')) ?? '';
  assert.match(msg, /refused/);
  assert.match(msg, /ran unplanned/);
  assert.equal((await page.textContent('#live-hits'))?.trim(), '0');
  await ui.shot('replay-live-refused');
});

test('replay live input is checked in main', async () => {
  const bad = async (body: unknown, status: number, re: RegExp) => {
    const r = await ui.call('replay.live.start', body);
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.match(r.json.error.message, re);
  };
  await bad({ plan: 1, interpreter: '', script: '/etc/passwd', args: [], cwd: dir }, 400, /must be a Python file/);
  await bad({ plan: 1, interpreter: 'bash', script: WORKLOAD, args: [], cwd: dir }, 400, /must be a Python interpreter/);
  await bad({ plan: 1, interpreter: '', script: WORKLOAD, args: [], cwd: 'rel' }, 400, /absolute path/);
  await bad({ plan: 1, interpreter: '', script: WORKLOAD, args: [], cwd: dir, threads: 0 }, 400, /threads must be an integer in 1\.\./);
  await bad({ plan: 999, interpreter: '', script: WORKLOAD, args: [], cwd: dir }, 422, /no plan 999/);
  await bad({ plan: 1, interpreter: '', script: WORKLOAD, args: [], cwd: dir, env: {} }, 400, /unknown field 'env'/);
  await bad({ plan: 1, jobId: 1 }, 400, /unknown field|required/);
  const stop = await ui.call('replay.live.stop', { jobId: 77, signal: 'SIGKILL' });
  assert.equal(stop.status, 400);
});

test('A/B from the A/B view: glibc vs jemalloc, progress, ratio table with intervals, distributions and CDFs', async () => {
  const { page } = ui;
  const progress: string[] = [];
  await ui.view('ab');
  await page.waitForSelector('#ab-arm-glibc');
  assert.equal(await page.isEnabled('#ab-arm-jemalloc'), true, 'jemalloc is installed here');
  // The session has a plan: the plan arm starts ticked (issue 13).
  await page.waitForFunction(() => (document.getElementById('ab-plan') as HTMLSelectElement | null)?.value !== '');
  assert.equal(await page.isChecked('#ab-arm-plan'), true, 'the plan arm is ticked when a plan exists');
  for (const a of ['glibc', 'jemalloc', 'tcmalloc', 'mimalloc', 'plan']) {
    const box = page.locator(`#ab-arm-${a}`);
    if (await box.isEnabled()) await box.setChecked(a === 'glibc' || a === 'jemalloc');
  }
  await page.selectOption('#ab-baseline', 'glibc');
  await page.fill('#ab-threads', '1');
  await page.fill('#ab-runs', '2');
  await page.fill('#ab-warmup', '1');
  await page.fill('#ab-iterations', '');
  await page.fill('#ab-args', '--model resnet18 --iterations 4 --warmup 1');
  const t0 = Date.now();
  await page.click('#ab-start');
  await page.waitForFunction(() => /run \d\/2 \(process \d of 4\)/.test(document.querySelector('#ab-progress')?.textContent ?? ''), undefined, { timeout: 60_000 });
  progress.push((await page.textContent('#ab-progress')) ?? '');
  await page.waitForSelector('#ab-detail:not([style*="display: none"])', { timeout: 170_000 });
  console.log(`# A/B from the UI (4 processes): ${((Date.now() - t0) / 1000).toFixed(1)} s; progress seen: ${progress.join(' | ')}`);
  await page.waitForSelector('#ab-ratio-table tbody tr[data-arm="jemalloc-1"]');
  const jem = (await page.textContent('#ab-ratio-table tbody tr[data-arm="jemalloc-1"]')) ?? '';
  assert.match(jem, /\[\d+\.\d+, \d+\.\d+\]/, 'the ratio carries its interval');
  assert.match(jem, /faster|slower|no detectable difference/);
  const base = (await page.textContent('#ab-ratio-table tbody tr[data-arm="glibc-1"]')) ?? '';
  assert.match(base, /baseline/);
  assert.match(base, /2\/0/, 'two runs, none failed');
  const res = (await page.textContent('#ab-resources-table')) ?? '';
  assert.match(res, /MiB/, 'peak RSS');
  assert.ok(await page.$('#ab-box canvas'));
  assert.ok(await page.$('#ab-cdf canvas'));
  assert.match((await page.textContent('#ab-detail-note')) ?? '', /bootstrap|resamples/);
  assert.match((await page.textContent('#ab-headline')) ?? '', /^Median latency against glibc: jemalloc \d+\.\d{3}× \((faster|slower|no detectable difference)(; memory \d+\.\d{3}×)?\)$/);
  await page.waitForSelector('#ab-runs-table tbody tr[data-ab="1"]');
  await page.waitForTimeout(300);
  await ui.shot('ab');

  // The stored run reopens from the list, and the API gives the same arms.
  const detail = (await ui.call('ab.get', { id: 1 })).json.result;
  assert.deepEqual(detail.arms.map((a: { allocator: string }) => a.allocator), ['glibc', 'jemalloc']);
  for (const d of detail.distributions) {
    assert.ok(d.cdf.length > 0 && d.cdf.length <= 256);
    assert.equal(d.runMedians.length, 2);
    assert.ok(d.box[0] <= d.box[2] && d.box[2] <= d.box[4]);
  }
  await page.reload();
  await ui.view('ab');
  await page.click('#ab-runs-table tbody tr[data-ab="1"] button');
  await page.waitForSelector('#ab-ratio-table tbody tr[data-arm="jemalloc-1"]');
});

test('A/B input is checked in main', async () => {
  const w = { interpreter: '', script: WORKLOAD, args: ['--iterations', '2'], cwd: dir };
  const bad = async (body: unknown, status: number, re: RegExp) => {
    const r = await ui.call('ab.start', body);
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.match(r.json.error.message, re);
  };
  const ok = { ...w, allocators: ['glibc', 'jemalloc'], threads: [1], runs: 2, warmup: 1, baseline: 'glibc' };
  await bad({ ...ok, allocators: ['glibc', 'hoard'] }, 400, /allocators\[1\] must be one of/);
  await bad({ ...ok, allocators: ['glibc', 'glibc'] }, 400, /lists a value twice/);
  await bad({ ...ok, allocators: [] }, 400, /at least 1 item/);
  await bad({ ...ok, threads: [0] }, 400, /threads\[0\] must be an integer/);
  await bad({ ...ok, threads: [1, 1] }, 400, /lists a value twice/);
  await bad({ ...ok, runs: 0 }, 400, /runs must be an integer in 1\.\./);
  await bad({ ...ok, baseline: 'tcmalloc' }, 400, /baseline tcmalloc is not one of the arms/);
  await bad({ ...ok, allocators: ['glibc', 'plan'] }, 400, /plan arm needs a plan/);
  await bad({ ...ok, allocators: ['glibc', 'plan'], plan: 999 }, 422, /no plan 999/);
  await bad({ ...ok, script: '/bin/ls' }, 400, /must be a Python file/);
  await bad({ ...ok, command: ['rm', '-rf', '/'] }, 400, /unknown field 'command'/);
  assert.equal((await ui.call('ab.get', { id: 999 })).status, 422);
  assert.equal((await ui.call('ab.stop', { jobId: 5 })).status, 422);
  const list = (await ui.call('ab.list', {})).json.result;
  assert.equal(list.length, 1, 'refused requests store nothing');
});

test('no console errors in the page', () => {
  assert.deepEqual(ui.consoleErrors, []);
});
