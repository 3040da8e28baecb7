import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCli, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';
import { startUi, type UiSession } from './serve-helpers';

/**
 * The Memory view answers "what holds memory at the peak": on a real resnet18 recording (30
 * iterations) followed by a live replay of a plan of it (a newer session, a replay), in
 * Chromium against `memoplan serve`.
 */

const dir = tmpDir('memoplan-ui-memory-');
const dbFile = path.join(dir, 'mem.db');
let ui: UiSession;
let peak = 0;
let iterations: { number: number; t0: number; t1: number }[] = [];
let tBegin = 0;
let tEnd = 0;

/** Pixel of time t (ns) and bytes y on the timeline chart, in page coordinates. */
async function pixelOf(t: number, y: number): Promise<[number, number]> {
  return ui.page.evaluate(
    ([tt, yy]) => {
      const el = document.getElementById('overview-chart')!;
      const c = (window as unknown as { echarts: { getInstanceByDom(e: HTMLElement): { convertToPixel(f: object, v: number[]): number[] } } }).echarts.getInstanceByDom(el);
      const p = c.convertToPixel({ gridIndex: 0 }, [tt / 1e9, yy]);
      const r = el.getBoundingClientRect();
      return [r.left + p[0], r.top + p[1]] as [number, number];
    },
    [t, y],
  );
}

async function drawnRange(): Promise<[number, number]> {
  const r = (await ui.page.getAttribute('#overview-chart', 'data-range')) ?? '';
  return r.split(',').map(Number) as [number, number];
}

before(async () => {
  const rec = await runCli(['record', '--quiet', '--db', dbFile, '--', 'python3', WORKLOAD, '--model', 'resnet18', '--iterations', '30', '--warmup', '2']);
  assert.equal(rec.code, 0, rec.stderr);
  const plan = await runCli(['plan', '--db', dbFile, '--session', '1', '--algorithm', 'greedy-size']);
  assert.equal(plan.code, 0, plan.stderr);
  const replay = await runCli(['replay', '--db', dbFile, '--plan', '1', '--', 'python3', WORKLOAD, '--model', 'resnet18', '--iterations', '2', '--warmup', '2']);
  assert.equal(replay.code, 0, replay.stderr);
  ui = await startUi(dbFile, dir);
  const t = (await ui.call('overview.timeline', { session: 1 })).json.result;
  iterations = t.iterations;
  tBegin = t.tBegin;
  tEnd = t.tEnd;
  peak = t.peakLiveBytes;
  await ui.page.goto(ui.url);
  await ui.view('overview');
  await ui.page.waitForFunction(() => document.getElementById('live-panel')?.dataset.at === 'peak', null, { timeout: 30_000 });
  await ui.page.waitForFunction(() => document.getElementById('top-range')?.dataset.range, null, { timeout: 30_000 });
});

after(async () => {
  await ui?.close();
});

test('opens on the newest recorded session (not the newer replay) and says which one it shows', async () => {
  const sessions = (await ui.call('sessions.list', {})).json.result;
  assert.deepEqual(sessions.replays, [2]);
  assert.equal(await ui.page.inputValue('#view-overview select'), '1');
  assert.match((await ui.page.textContent('#overview-shown')) ?? '', /Showing session #1 .*the newest recorded session \(newer live-replay sessions/);
  for (const v of ['plan', 'replay']) {
    await ui.view(v);
    await ui.page.waitForFunction((id) => /Showing session #1 /.test(document.getElementById(id)?.textContent ?? ''), `${v}-shown`);
  }
  await ui.view('overview');
});

test('opens on the steady iterations: every iteration in view, the import before them a small part', async () => {
  const [t0, t1] = await drawnRange();
  const first = iterations[0].t0;
  const last = iterations[iterations.length - 1].t1;
  assert.ok(t0 > tBegin && t0 <= first && t1 >= last, `${t0}..${t1} vs iterations ${first}..${last}`);
  assert.ok((first - t0) / (t1 - t0) < 0.3, 'the import is not dominant');
  assert.ok(first - t0 > 0, 'the import is visible');
  // Labels thinned: 32 iterations do not each get one at this width, but some do, at a regular step.
  const labels = ((await ui.page.getAttribute('#overview-chart', 'data-labels')) ?? '').split(',').filter(Boolean).map(Number);
  assert.ok(labels.length > 3, `labels ${labels}`);
  // A narrow window and the whole session: the bands are narrower than their numbers, so only
  // every k-th is labelled, and no two labels overlap.
  await ui.page.setViewportSize({ width: 700, height: 1000 });
  await ui.page.click('#zoom-whole');
  await ui.page.waitForFunction((b) => document.getElementById('overview-chart')?.dataset.range?.startsWith(`${b},`), tBegin);
  const whole = ((await ui.page.getAttribute('#overview-chart', 'data-labels')) ?? '').split(',').filter(Boolean).map(Number);
  assert.ok(whole.length > 1 && whole.length < iterations.length, `labels at the whole session: ${whole.length} of ${iterations.length}`);
  const step = whole[1] - whole[0];
  assert.ok(whole.every((n) => n % step === 0), `every ${step}th: ${whole}`);
  const xs: number[] = [];
  for (const n of whole) xs.push((await pixelOf(iterations.find((it) => it.number === n)!.t0, 0))[0]);
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] - xs[i - 1] >= String(whole[i - 1]).length * 6, `labels ${whole[i - 1]} and ${whole[i]} are ${xs[i] - xs[i - 1]} px apart`);
  await ui.page.setViewportSize({ width: 1400, height: 1000 });
  await ui.page.click('#zoom-steady');
  await ui.page.waitForFunction((b) => !document.getElementById('overview-chart')?.dataset.range?.startsWith(`${b},`), tBegin);
});

test('the live panel shows the peak: the tables add up to it, with values; the icicle is drawn', async () => {
  const { page } = ui;
  assert.equal(Number(await page.getAttribute('#live-panel', 'data-live-bytes')), peak);
  assert.match((await page.textContent('#live-title')) ?? '', /session's peak.*MiB in [\d,]+ allocations/);
  const rows = await page.$$eval('#live-modules tr', (trs) => trs.slice(1).map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')));
  assert.ok(rows.length >= 5);
  assert.ok(rows.some((r) => /^ResNet\.layer\d/.test(r[0]) && /iB|B$/.test(r[1]) && /%$/.test(r[2])), JSON.stringify(rows.slice(0, 4)));
  const ops = await page.textContent('#live-ops');
  assert.match(ops ?? '', /aten::convolution/);
  assert.match(ops ?? '', /\(outside any op(, before the first iteration)?\)/);
  assert.doesNotMatch((await page.textContent('#view-overview')) ?? '', /no aten op/);
  await page.waitForSelector('#live-flame canvas');
  const api = (await ui.call('overview.live', { session: 1 })).json.result;
  assert.equal(api.byModule.reduce((n: number, g: { bytes: number }) => n + g.bytes, 0) + api.omitted.module[1], peak);
  assert.ok(api.byStack.some((g: { key: string }) => /resnet\.py:\d+ BasicBlock\.forward/.test(g.key)));
});

test('a click on an iteration band zooms to it; the allocated bars follow and say they are totals', async () => {
  const { page } = ui;
  const it = iterations[10];
  const [x] = await pixelOf((it.t0 + it.t1) / 2, 0);
  const top = (await page.locator('#overview-chart').boundingBox())!.y + 40 + 8; // the strip: grid top + 8 px
  await page.mouse.click(x, top);
  await page.waitForFunction(
    ([a, b]) => {
      const r = (document.getElementById('overview-chart')?.dataset.range ?? '').split(',').map(Number);
      return r[0] >= a && r[1] <= b;
    },
    [it.t0 - (it.t1 - it.t0) * 0.1, it.t1 + (it.t1 - it.t0) * 0.1],
  );
  const [t0, t1] = await drawnRange();
  assert.ok(t0 <= it.t0 + 1 && t1 >= it.t1 - 1, `iteration ${it.t0}..${it.t1} in view ${t0}..${t1}`);
  await page.waitForFunction((r) => document.getElementById('top-range')?.dataset.range === r, `${t0},${t1}`);
  assert.match((await page.textContent('#top-range')) ?? '', /totals, not live bytes/);
  const allocated = (await ui.call('overview.top', { session: 1, by: 'op', t0, t1 })).json.result;
  const whole = (await ui.call('overview.top', { session: 1, by: 'op' })).json.result;
  assert.ok(allocated.totalBytes > 0 && allocated.totalBytes < whole.totalBytes / 5, `${allocated.totalBytes} vs ${whole.totalBytes}`);

  // The tooltip: readable time, the iteration, module and op (zoomed in: event resolution). A
  // point of frees only has no allocation to name: hover across the iteration.
  const tips: string[] = [];
  for (let i = 1; i <= 9; i++) {
    const [px, py] = await pixelOf(it.t0 + ((it.t1 - it.t0) * i) / 10, 0);
    await page.mouse.move(px, py - 120);
    await page.waitForFunction(() => /iteration \d+, \+[\d.]+ (ms|µs)/.test(document.querySelector('#overview-chart')?.textContent ?? ''), null, { timeout: 5000 });
    tips.push((await page.textContent('#overview-chart')) ?? '');
  }
  for (const tip of tips) {
    assert.match(tip, new RegExp(`iteration ${it.number}, \\+`));
    assert.doesNotMatch(tip, /\d\.\d{7,} s/, 'no long decimals');
  }
  const named = tips.filter((tip) => /module (ResNet|\(outside any module\))/.test(tip));
  assert.ok(named.length >= 3, tips.join('\n'));
  for (const tip of named) assert.match(tip, /op (aten::|\(outside any op\))/);
});

test('a click on the chart shows what is live at that instant, the same as memoplan top --at NS', async () => {
  const { page } = ui;
  const [t0, t1] = await drawnRange();
  const tClick = t0 + (t1 - t0) * 0.4;
  const [x, y] = await pixelOf(tClick, peak / 3);
  await page.mouse.click(x, y);
  await page.waitForFunction(() => /^\d+$/.test(document.getElementById('live-panel')?.dataset.at ?? ''));
  const t = Number(await page.getAttribute('#live-panel', 'data-t'));
  assert.ok(Math.abs(t - tClick) < (t1 - t0) / 50, `${t} near ${tClick}`);
  const shownBytes = Number(await page.getAttribute('#live-panel', 'data-live-bytes'));
  const cli = await runCli(['top', '--db', dbFile, '--session', '1', '--at', String(t), '--by', 'op', '--json']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(JSON.parse(cli.stdout).reduce((n: number, g: { bytes: number }) => n + g.bytes, 0), shownBytes);
  assert.match((await page.textContent('#live-title')) ?? '', /the instant clicked/);
  await page.click('#live-iter-peak');
  await page.waitForFunction(() => (document.getElementById('live-panel')?.dataset.at ?? '').startsWith('iteration:'));
  await page.click('#live-peak');
  await page.waitForFunction(() => document.getElementById('live-panel')?.dataset.at === 'peak');
  await ui.shot('memory-peak');
  assert.deepEqual(ui.consoleErrors, []);
});

test('overview.live and overview.top input is checked in main', async () => {
  const bad = async (method: string, body: unknown, status: number, message: RegExp) => {
    const r = await ui.call(method, body);
    assert.equal(r.status, status, `${method} ${JSON.stringify(body)} -> ${JSON.stringify(r.json)}`);
    assert.match(r.json.error.message, message);
  };
  await bad('overview.live', { session: 1, t: tBegin, iteration: 1 }, 400, /give t or iteration, not both/);
  await bad('overview.live', { session: 1, t: 'soon' }, 400, /t must be an integer/);
  await bad('overview.live', { session: 1, iteration: 999 }, 422, /no iteration 999/);
  await bad('overview.live', { session: 1, t: tEnd + 1e12 }, 422, /outside session 1/);
  await bad('overview.live', { session: 9 }, 422, /no session 9/);
  await bad('overview.live', { session: 1, limit: 100_000 }, 400, /limit must be an integer/);
  await bad('overview.top', { session: 1, by: 'op', t0: 5, t1: 4 }, 400, /t1 must not be before t0/);
});
