import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCli, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';
import { startUi, type UiSession } from './serve-helpers';

/**
 * The rough edges of issue 13, each driven in Chromium against `memoplan serve` on a real
 * resnet18 recording with plans: the Record view (auto interpreter naming, the live chart), the
 * Plan view (row click, the comparison chart, the arena − bound column), the Replay view (opens
 * at the peak, one y scale, a legend) and the offline report (peak breakdown, no wrapping
 * numbers, seconds on the timeline, the map's legend clear of its axis).
 */

const dir = tmpDir('memoplan-ui-edges-');
const dbFile = path.join(dir, 'edges.db');
let ui: UiSession;

type Chart = { getOption(): any };
/** The ECharts option of the chart in element `id` of the page. */
async function chartOption(id: string): Promise<any> {
  return ui.page.evaluate((el) => {
    const c = (window as unknown as { echarts: { getInstanceByDom(e: HTMLElement): Chart } }).echarts.getInstanceByDom(document.getElementById(el)!);
    return JSON.parse(JSON.stringify(c.getOption(), (_k, v) => (typeof v === 'function' ? undefined : v)));
  }, id);
}

before(async () => {
  const rec = await runCli(['record', '--quiet', '--db', dbFile, '--', 'python3', WORKLOAD, '--model', 'resnet18', '--iterations', '3', '--warmup', '2']);
  assert.equal(rec.code, 0, rec.stderr);
  const plan = await runCli(['plan', '--db', dbFile, '--session', '1', '--algorithm', 'all', '--time-limit', '1']);
  assert.equal(plan.code, 0, plan.stderr);
  ui = await startUi(dbFile, dir);
  await ui.page.goto(ui.url);
});

after(async () => {
  await ui?.close();
});

test('Record view, interpreter on auto: the session is named after the script; the chart starts at 0 and ends on the stored peak', async () => {
  const { page } = ui;
  await ui.view('record');
  await page.waitForFunction(() => (document.getElementById('rec-script') as HTMLInputElement).value !== '');
  await page.fill('#rec-interpreter', '');
  await page.fill('#rec-script', WORKLOAD);
  await page.fill('#rec-args', '--model resnet18 --iterations 1 --warmup 1');
  await page.fill('#rec-name', '');
  await page.click('#rec-start');
  await page.waitForSelector('#rec-open', { timeout: 170_000 });
  await page.waitForFunction(() => document.getElementById('rec-chart')?.dataset.liveSource === 'stored', null, { timeout: 20_000 });
  const sessions = (await ui.call('sessions.list', {})).json.result.sessions as { id: number; name: string; peak_live_bytes: number }[];
  const s = sessions[sessions.length - 1];
  assert.equal(s.name, 'torchvision_infer.py');
  const o = await chartOption('rec-chart');
  const live = o.series[1].data as [number, number][];
  assert.equal(live[0][0], 0, 'the live chart starts at 0 s');
  assert.equal(Math.max(...live.map((p) => p[1])), s.peak_live_bytes, 'the stored peak, not a once-a-second sample');
  assert.equal(o.xAxis[0].nameLocation, 'middle', 'the axis name is clear of the right axis\'s "0 B"');
  assert.match((await page.textContent('#rec-peak')) ?? '', /MiB$/);
  assert.match((await page.textContent('#view-record .cards')) ?? '', /events\/s in the last second/);
});

test('Plan view: a row click draws its map; a chart of plan vs lower bound vs glibc; arena − bound tells equal-looking sizes apart', async () => {
  const { page } = ui;
  await ui.view('plan');
  await page.waitForSelector('#plans-table tbody tr');
  const ids = await page.$$eval('#plans-table tbody tr', (trs) => trs.map((tr) => Number((tr as HTMLElement).dataset.plan)));
  assert.ok(ids.length >= 4);
  const other = ids[ids.length - 1];
  await page.click(`#plans-table tr[data-plan="${other}"] td:nth-child(3)`);
  await page.waitForFunction((id) => document.querySelector(`#plans-table tr[data-plan="${id}"]`)?.classList.contains('selected'), other);
  await page.waitForFunction((id) => JSON.stringify((window as any).echarts.getInstanceByDom(document.getElementById('plan-map')).getOption().title).includes(`Plan ${id} `), other);
  const cmp = await chartOption('plan-compare');
  assert.deepEqual(
    cmp.series.map((x: { name: string }) => x.name),
    ['plan arena', 'lower bound (peak live bytes)', 'system allocator (glibc) span'],
  );
  assert.equal(cmp.series[0].data.length, ids.length);
  const plans = (await ui.call('plan.list', { session: 1 })).json.result as { planId: number; arenaBytes: number; lowerBoundBytes: number }[];
  const cell = await page.textContent(`#plans-table tr[data-plan="${plans[0].planId}"] td.over`);
  const over = plans[0].arenaBytes - plans[0].lowerBoundBytes;
  assert.ok(over === 0 ? /^0 B/.test(cell ?? '') : /^\+/.test(cell ?? ''), `${cell} for ${over} B`);
});

test('Replay view: opens at the iteration\'s peak, both charts on one y scale, with a colour legend', async () => {
  const { page } = ui;
  await ui.view('replay');
  await page.waitForFunction(() => document.getElementById('replay-arena')?.dataset.yMax);
  const plan = Number(await page.inputValue('#replay-plan'));
  const info = (await ui.call('replay.info', { plan })).json.result;
  assert.ok(info.peakEvent > 0);
  await page.waitForFunction((k) => (document.getElementById('replay-slider') as HTMLInputElement).value === String(k), info.peakEvent);
  assert.equal(await page.getAttribute('#replay-arena', 'data-y-max'), await page.getAttribute('#replay-system', 'data-y-max'));
  const state = (await ui.call('replay.at', { plan, k: info.peakEvent })).json.result;
  assert.equal(state.liveBytes, info.peakBytes);
  const legend = await page.$$eval('#replay-legend > span', (xs) => xs.map((x) => x.textContent));
  assert.ok(legend.length >= 3 && legend.includes('the buffer of event k'), JSON.stringify(legend));
});

test('the report: the peak breakdown (icicle and tables), numbers that do not wrap, seconds on the timeline', async () => {
  const out = path.join(dir, 'report.html');
  const r = await runCli(['report', '--db', dbFile, '--session', '1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const { page } = ui;
  await page.goto('file://' + out);
  await page.waitForSelector('#peak');
  const peak = (await ui.call('overview.live', { session: 1, limit: 500 })).json.result;
  const sumOf = (sel: string) =>
    page.$$eval(`${sel} tbody tr`, (trs) => trs.map((tr) => tr.querySelectorAll('td')[1]?.textContent ?? '').filter(Boolean));
  const modules = await sumOf('#peak .cols > div:nth-child(1)');
  assert.ok(modules.length >= 5, JSON.stringify(modules));
  assert.match((await page.textContent('#peak')) ?? '', new RegExp(`${peak.liveBytes.toLocaleString('en-US')} B`));
  // The icicle is the Memory view's (shared/charts/icicle.ts): a bar per frame, its full path in `full`.
  await page.waitForSelector('body[data-charts="ready"]');
  const icicle = (await chartOption('chart-peak')).series[0].data as { full: string }[];
  assert.ok(icicle.length >= 5, `${icicle.length} bars`);
  assert.match(icicle.map((n) => n.full).join('\n'), /resnet\.py:\d+ BasicBlock\.forward/);
  const ws = await page.evaluate(() => ({
    td: getComputedStyle(document.querySelector('td.n')!).whiteSpace,
    th: getComputedStyle(document.querySelector('th')!).whiteSpace,
  }));
  assert.deepEqual(ws, { td: 'nowrap', th: 'nowrap' });
  const tl = await chartOption('chart-timeline');
  assert.equal(tl.xAxis[0].name, 's');
  assert.ok(tl.xAxis[0].min > 0.01, 'seconds since the clock base, as the UI');
  const map = await chartOption('chart-map');
  assert.equal(map.yAxis[0].nameLocation, 'middle', 'the offset axis name is not under the legend');
  assert.ok(map.grid[0].top >= 40);
  await page.goto(ui.url);
});
