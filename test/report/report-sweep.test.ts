import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import type { AbSweep } from '../../shared/api';
import { runCli, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * A sweep in the offline report: a transformer recorded at batch 1 (--no-ops) and planned, then
 * `memoplan ab --plan 1 --vary batch=1,2` (the plan serves batch 1 and is refused at batch 2).
 * The report of the session whose plan the sweep ran carries the sweep's grid, draws it as a
 * heatmap from the inlined ECharts with the network refused, and lists the cells in a table.
 */

const CHROMIUM = process.env.MEMOPLAN_CHROMIUM ?? '/usr/bin/chromium';
const dir = tmpDir('memoplan-report-sweep-');
const dbFile = path.join(dir, 'sweep.db');
let browser: Browser;

before(async () => {
  const rec = await runCli(['record', '--quiet', '--no-ops', '--db', dbFile, '--', 'python3', WORKLOAD, '--model', 'transformer', '--batch', '1', '--iterations', '3', '--warmup', '2']);
  assert.equal(rec.code, 0, rec.stderr);
  const plan = await runCli(['plan', '--db', dbFile, '--session', '1', '--algorithm', 'greedy-size']);
  assert.equal(plan.code, 0, plan.stderr);
  const sweep = await runCli([
    'ab', '--db', dbFile, '--quiet', '--allocators', 'glibc,plan', '--plan', '1', '--runs', '1', '--warmup', '2', '--vary', 'batch=1,2',
    '--', 'python3', WORKLOAD, '--model', 'transformer', '--batch', '{batch}', '--iterations', '3', '--warmup', '2',
  ]);
  assert.equal(sweep.code, 0, sweep.stderr);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
});

function reportData(html: string): { sweeps: AbSweep[]; ab: unknown } {
  const m = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html);
  assert.ok(m, 'the data block');
  return JSON.parse(m[1]);
}

test('the report of the session whose plan a sweep ran has the sweep heatmap and its table', async () => {
  const out = path.join(dir, 'report.html');
  const r = await runCli(['report', '--db', dbFile, '--session', '1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const html = fs.readFileSync(out, 'utf8');
  const d = reportData(html);
  assert.equal(d.ab, null);
  assert.equal(d.sweeps.length, 1);
  const s = d.sweeps[0];
  assert.deepEqual(s.runs, [1, 2]);
  assert.deepEqual(s.dims, [{ key: 'batch', label: 'batch', values: ['1', '2'] }]);
  assert.deepEqual(s.points.map((p) => [p.abRunId, p.coords.batch, p.bestAllocator]), [[1, '1', 'glibc'], [2, '2', 'glibc']]);
  const [b1, b2] = s.points;
  assert.equal(b1.bestPlan, 'plan', 'batch 1: the plan served');
  assert.ok(b1.latencyRatio! > 0 && b1.rssRatio! > 0);
  assert.ok(Math.abs(b1.latencyRatio! - b1.planMedianMs! / b1.allocatorMedianMs!) < 1e-9);
  assert.equal(b2.latencyRatio, null, 'batch 2: the batch-1 plan is refused, no verdict');
  assert.match(b2.note ?? '', /^not planned: plan: /);
  assert.match(html, /<a href="#sweep">Sweep<\/a>/);
  assert.match(html, /<div class="chart" id="chart-sweep-0-0" data-chart="sweep" data-cells="2"/);
  assert.match(html, /<tr data-run="1">.*?<\/tr><tr data-run="2">.*?no verdict: not planned/);

  // Drawn offline: the inlined ECharts and option builder, no request leaves the page.
  const context = await browser.newContext({ offline: true });
  const page = await context.newPage();
  const fileUrl = 'file://' + out;
  const foreign: string[] = [];
  const errors: string[] = [];
  await page.route('**/*', (route) => (route.request().url() === fileUrl ? route.continue() : (foreign.push(route.request().url()), route.abort())));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(fileUrl);
  await page.waitForSelector('body[data-charts]', { timeout: 20_000 });
  assert.equal(await page.getAttribute('body', 'data-charts'), 'ready');
  const cells = await page.evaluate(() => {
    const chart = (window as any).echarts.getInstanceByDom(document.getElementById('chart-sweep-0-0'));
    return (chart.getOption().series as { data: { run: number }[] }[]).map((x) => x.data.map((y) => y.run));
  });
  assert.deepEqual(cells, [[1], [2]], 'one coloured cell (batch 1), one grey (batch 2)');
  assert.ok(await page.$('#chart-sweep-0-0 canvas'));
  assert.deepEqual(errors, []);
  assert.deepEqual(foreign, []);
  await context.close();
});

test('--ab naming a sweep cell: the A/B section and its sweep, once', async () => {
  const out = path.join(dir, 'report-ab.html');
  const r = await runCli(['report', '--db', dbFile, '--session', '1', '--ab', '2', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const d = reportData(fs.readFileSync(out, 'utf8'));
  assert.ok(d.ab);
  assert.deepEqual(d.sweeps.map((s) => s.runs), [[1, 2]]);
});
