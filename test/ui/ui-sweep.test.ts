import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { AbSweep } from '../../shared/api';
import { runCli, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';
import { startUi, type UiSession } from './serve-helpers';

/**
 * A sweep in the A/B view, against a real `memoplan serve` and headless Chromium: a transformer
 * recorded at batch 1 (--no-ops) and planned, then `memoplan ab --plan 1 --vary batch=1,2
 * --threads 1,2`: the batch-1 cells serve the plan (a ratio), the batch-2 cells refuse it (grey,
 * no verdict). Opening a cell's run draws the 2 × 2 heatmap; clicking a cell opens its run.
 */

const dir = tmpDir('memoplan-ui-sweep-');
const dbFile = path.join(dir, 'sweep.db');
let ui: UiSession;

before(async () => {
  const t0 = Date.now();
  const rec = await runCli(['record', '--quiet', '--no-ops', '--db', dbFile, '--', 'python3', WORKLOAD, '--model', 'transformer', '--batch', '1', '--iterations', '3', '--warmup', '2']);
  assert.equal(rec.code, 0, rec.stderr);
  const plan = await runCli(['plan', '--db', dbFile, '--session', '1', '--algorithm', 'greedy-size']);
  assert.equal(plan.code, 0, plan.stderr);
  const sweep = await runCli([
    'ab', '--db', dbFile, '--quiet', '--allocators', 'glibc,plan', '--plan', '1', '--runs', '1', '--warmup', '2', '--threads', '1,2', '--vary', 'batch=1,2',
    '--', 'python3', WORKLOAD, '--model', 'transformer', '--batch', '{batch}', '--iterations', '3', '--warmup', '2',
  ]);
  assert.equal(sweep.code, 0, sweep.stderr);
  console.log(`# recording, plan and a 2 x 2 sweep: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  ui = await startUi(dbFile, dir);
});

after(async () => {
  await ui?.close();
});

/** The heatmap's cells as ECharts holds them: [series, x, y, run] per data item. */
async function heatmapCells(): Promise<[number, number, number, number][]> {
  return ui.page.evaluate(() => {
    const chart = (window as any).echarts.getInstanceByDom(document.getElementById('ab-sweep-chart-0'));
    const series = chart.getOption().series as { data: { value: number[]; run: number }[] }[];
    return series.flatMap((s, i) => s.data.map((d) => [i, d.value[0], d.value[1], d.run] as [number, number, number, number]));
  });
}

test('a sweep cell opens under its sweep heatmap; clicking another cell opens that run', async () => {
  const { page } = ui;
  const grid = (await ui.call('ab.sweep', { id: 1 })).json.result as AbSweep;
  assert.deepEqual(grid.runs, [1, 2]);
  assert.deepEqual([grid.x, grid.y], ['batch', 'serving threads']);
  assert.equal(grid.points.length, 4);

  await page.goto(ui.url);
  await ui.view('ab');
  await page.waitForSelector('#ab-runs-table tbody tr[data-ab="1"]');
  assert.match((await page.textContent('#ab-runs-table tbody tr[data-ab="2"]')) ?? '', /batch=2/, 'the list names the cell');
  await page.click('#ab-runs-table tbody tr[data-ab="1"] button');
  await page.waitForSelector('#ab-sweep:not([style*="display: none"]) #ab-sweep-chart-0 canvas');
  assert.match((await page.textContent('#ab-sweep-title')) ?? '', /batch \(1, 2\) × serving threads \(1, 2\)/);
  assert.match((await page.textContent('#ab-detail-title')) ?? '', /^A\/B 1 /);

  // Four cells: the verdicts coloured (series 0), the cells without one grey (series 1), as the API says.
  const cells = await heatmapCells();
  assert.equal(cells.length, 4);
  assert.equal(await page.getAttribute('#ab-sweep-chart-0', 'data-cells'), '4');
  const judged = grid.points.filter((p) => p.latencyRatio !== null).length;
  assert.equal(cells.filter((c) => c[0] === 0).length, judged);
  assert.equal(cells.filter((c) => c[0] === 1).length, 4 - judged);
  for (const p of grid.points) {
    if (p.latencyRatio === null) assert.match(p.note ?? '', /not planned|no /, `cell ${JSON.stringify(p.coords)} says why it has no verdict`);
  }
  assert.ok(grid.points.filter((p) => p.coords.batch === '2').every((p) => p.latencyRatio === null), 'the batch-1 plan is refused at batch 2: no verdict');
  await ui.shot('ab-sweep');

  // Click the cell batch=2, 2 serving threads (A/B run 2) where ECharts drew it.
  const target = cells.find((c) => c[1] === 1 && c[2] === 1)!;
  assert.equal(target[3], 2);
  const xy = await page.evaluate(([s, x, y]) => {
    const el = document.getElementById('ab-sweep-chart-0')!;
    const [px, py] = (window as any).echarts.getInstanceByDom(el).convertToPixel({ seriesIndex: s }, [x, y]);
    const r = el.getBoundingClientRect();
    return [r.left + px, r.top + py];
  }, target);
  await page.mouse.click(xy[0], xy[1]);
  await page.waitForFunction(() => /^A\/B 2 /.test(document.getElementById('ab-detail-title')?.textContent ?? ''));
  assert.equal(await page.getAttribute('#ab-runs-table tbody tr[data-ab="2"]', 'class'), 'selected');
  await page.waitForSelector('#ab-ratio-table tbody tr[data-arm="plan-2"]');
  assert.match((await page.textContent('#ab-ratio-table tbody tr[data-arm="plan-2"]')) ?? '', /plan/);
  // Still the same sweep above it, with four cells.
  assert.equal((await heatmapCells()).length, 4);
});

test('a run that is no sweep cell shows no heatmap', async () => {
  const { page } = ui;
  const r = await runCli(['ab', '--db', dbFile, '--quiet', '--allocators', 'glibc', '--runs', '1', '--warmup', '2', '--', 'python3', WORKLOAD, '--model', 'transformer', '--iterations', '3', '--warmup', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await ui.call('ab.sweep', { id: 3 })).json.result, null);
  await page.reload();
  await ui.view('ab');
  await page.waitForSelector('#ab-runs-table tbody tr[data-ab="3"]');
  await page.click('#ab-runs-table tbody tr[data-ab="3"] button');
  await page.waitForFunction(() => /^A\/B 3 /.test(document.getElementById('ab-detail-title')?.textContent ?? ''));
  assert.equal(await page.isVisible('#ab-sweep'), false);
  assert.equal((await ui.call('ab.sweep', { id: 0 })).status, 400);
  assert.equal((await ui.call('ab.sweep', { id: 99 })).status, 422);
});

test('no console errors in the page', () => {
  assert.deepEqual(ui.consoleErrors, []);
});
