import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { runCli, BIN, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * The UI end to end: a real `memoplan serve` on a database recorded from a real torch run,
 * driven by headless Chromium (playwright-core, /usr/bin/chromium). Screenshots of each view go
 * to a temporary folder and are copied to /tmp/memoplan-ui-shots/.
 */

const CHROMIUM = process.env.MEMOPLAN_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS_COPY = '/tmp/memoplan-ui-shots';
const dir = tmpDir('memoplan-ui-');
const shots = path.join(dir, 'shots');
const dbFile = path.join(dir, 'ui.db');
let serveProc: ChildProcess | null = null;
let url = '';
let origin = '';
let token = '';
let browser: Browser | null = null;
let page: Page;
const consoleErrors: string[] = [];

async function call(method: string, body: unknown, opts: { token?: string; contentType?: string; httpMethod?: string } = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(`${origin}/api/${method}?token=${encodeURIComponent(opts.token ?? token)}`, {
    method: opts.httpMethod ?? 'POST',
    headers: { 'content-type': opts.contentType ?? 'application/json' },
    body: opts.httpMethod === 'GET' ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

async function shot(name: string): Promise<void> {
  fs.mkdirSync(shots, { recursive: true });
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  fs.mkdirSync(SHOTS_COPY, { recursive: true });
  fs.copyFileSync(file, path.join(SHOTS_COPY, `${name}.png`));
}

async function view(name: string): Promise<void> {
  await page.click(`nav button[data-view=${name}]`);
  await page.waitForSelector(`#view-${name}.active`);
}

before(async () => {
  const rec = await runCli(['record', '--quiet', '--db', dbFile, '--', 'python3', WORKLOAD, '--model', 'resnet18', '--iterations', '3', '--warmup', '2']);
  assert.equal(rec.code, 0, rec.stderr);
  const plan = await runCli(['plan', '--db', dbFile, '--session', '1', '--algorithm', 'greedy-size']);
  assert.equal(plan.code, 0, plan.stderr);

  serveProc = spawn(process.execPath, [BIN, 'serve', '--db', dbFile, '--port', '0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  serveProc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    serveProc!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    serveProc!.on('close', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  origin = new URL(url).origin;
  token = new URL(url).searchParams.get('token')!;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
});

after(async () => {
  await browser?.close();
  if (serveProc && serveProc.exitCode === null) {
    const closed = new Promise((r) => serveProc!.once('close', r));
    serveProc.kill('SIGINT');
    await closed;
  }
});

test('every HTTP request and WebSocket needs the token', async () => {
  for (const p of ['/', '/app.js', '/echarts.min.js', '/style.css', '/?token=wrong']) assert.equal((await fetch(origin + p)).status, 403, p);
  assert.equal((await call('sessions.list', {}, { token: 'x'.repeat(token.length) })).status, 403);
  assert.equal((await call('sessions.list', {}, { token: '' })).status, 403);
  const page0 = await fetch(url);
  assert.equal(page0.status, 200);
  assert.match(page0.headers.get('content-security-policy') ?? '', /script-src 'self'/);

  const wsStatus = (u: string, headers: Record<string, string> = {}) =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(u, { headers });
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
  const wsBase = origin.replace('http', 'ws') + '/ws';
  assert.equal(await wsStatus(wsBase), 403);
  assert.equal(await wsStatus(`${wsBase}?token=wrong`), 403);
  assert.equal(await wsStatus(`${wsBase}?token=${token}`, { origin: 'http://evil.example' }), 403, 'a foreign Origin is refused');
  assert.equal(await wsStatus(`${wsBase}?token=${token}`), 101);
});

test('invalid API input is refused with a clear message', async () => {
  const bad = async (method: string, body: unknown, status: number, message: RegExp) => {
    const r = await call(method, body);
    assert.equal(r.status, status, `${method} ${JSON.stringify(body)} -> ${JSON.stringify(r.json)}`);
    assert.equal(r.json.ok, false);
    assert.match(r.json.error.message, message);
  };
  await bad('sessions.rename', { id: '1', name: 'x' }, 400, /id must be a positive integer id, got the string "1"/);
  await bad('sessions.rename', { id: 1, name: '' }, 400, /name must not be empty/);
  await bad('sessions.delete', { id: 999 }, 422, /no session 999/);
  await bad('overview.timeline', { session: 1, points: 'many' }, 400, /points must be an integer/);
  await bad('overview.timeline', { session: 1, extra: 1 }, 400, /unknown field 'extra'/);
  await bad('plan.run', { session: 1, algorithm: 'rm -rf' }, 400, /algorithm must be one of/);
  await bad('replay.at', { plan: 1, k: 10_000_000 }, 400, /k must be in 0\.\./);
  await bad('record.start', { interpreter: '', script: '/etc/passwd', args: [], cwd: dir }, 400, /must be a Python file/);
  await bad('record.start', { interpreter: '/bin/sh', script: WORKLOAD, args: [], cwd: dir }, 400, /must be a Python interpreter/);
  await bad('record.start', { interpreter: '', script: WORKLOAD, args: [], cwd: 'relative/dir' }, 400, /absolute path/);
  await bad('record.start', { interpreter: '', script: WORKLOAD, args: [1], cwd: dir }, 400, /args\[0\] must be a string/);
  await bad('db.open', {}, 501, /needs the desktop app/);
  // An interpreter that cannot import torch: the message says so, and no session is created.
  const fake = path.join(dir, 'fakebin', 'python3');
  fs.mkdirSync(path.dirname(fake), { recursive: true });
  fs.writeFileSync(fake, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  await bad('record.start', { interpreter: fake, script: WORKLOAD, args: [], cwd: dir }, 422, /cannot import torch/);
  const list = await call('sessions.list', {});
  assert.equal(list.json.result.sessions.length, 1);

  assert.equal((await call('no.such.method', {})).status, 404);
  assert.equal((await call('sessions.list', null, { httpMethod: 'GET' })).status, 405);
  assert.equal((await call('sessions.list', {}, { contentType: 'text/plain' })).status, 415);
  const notJson = await fetch(`${origin}/api/sessions.list?token=${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
  assert.equal(notJson.status, 400);
});

test('the timeline is grouped in SQL to the requested range and points', async () => {
  const full = (await call('overview.timeline', { session: 1, points: 50 })).json.result;
  assert.ok(full.points.length > 0 && full.points.length <= 50, String(full.points.length));
  const mid = (full.tBegin + full.tEnd) / 2;
  const part = (await call('overview.timeline', { session: 1, t0: full.tBegin, t1: mid, points: 20 })).json.result;
  assert.ok(part.points.length <= 20);
  assert.ok(part.buckets < full.buckets, 'a narrower range covers fewer buckets');
  for (const p of part.points) assert.ok(p.t <= mid + (full.tEnd - full.tBegin) / 1000, 'points lie in the range');
});

test('a range narrower than a few timeline buckets is aggregated from the events, consistent with the buckets', async () => {
  const full = (await call('overview.timeline', { session: 1 })).json.result;
  assert.equal(full.source, 'timeline');
  assert.equal(full.events, null);
  // Bucket width: the session's buckets split its extent evenly (main/store/lifetimes.ts).
  const n = (await call('overview.timeline', { session: 1, points: 2000 })).json.result.buckets as number;
  const w = (full.tEnd - full.tBegin) / n;
  const edge = (k: number) => Math.round(full.tBegin + k * w);
  // Around the bucket of the session's peak (a busy one: a quiet stretch of the run, such as
  // model construction, may have buckets without a single event).
  const all = (await call('overview.timeline', { session: 1, points: 2000 })).json.result;
  const peak = all.points.reduce((a: { max: number }, p: { max: number }) => (p.max > a.max ? p : a));
  const k = Math.min(n - 3, Math.max(1, Math.floor((peak.t - full.tBegin) / w)));
  const b = Math.max(0, k - 10);
  // Twenty buckets with a point each: the live bytes at each bucket's end.
  const coarse = (await call('overview.timeline', { session: 1, t0: edge(b), t1: edge(b + 20), points: 40 })).json.result;
  assert.equal(coarse.source, 'timeline');
  // Three of them, at event resolution.
  const t0 = edge(k - 1);
  const t1 = edge(k + 2);
  const fine = (await call('overview.timeline', { session: 1, t0, t1, points: 500 })).json.result;
  assert.equal(fine.source, 'events', JSON.stringify({ ...fine, points: fine.points.length }));
  assert.ok(fine.events > 0, 'it says how many events it aggregated');
  assert.ok(fine.points.length > 3 && fine.points.length <= 500, String(fine.points.length));
  for (const p of fine.points) {
    assert.ok(p.t >= t0 && p.t < t1, `point at ${p.t} outside ${t0}..${t1}`);
    assert.ok(p.max >= p.live, 'the maximum of a group is not below its end');
    assert.ok(p.max <= full.peakLiveBytes, 'never above the session peak');
  }
  const endOf = (t: number) => coarse.points.filter((p: { t: number }) => p.t <= t).pop();
  assert.equal(fine.points[0].live, endOf(t0).live, 'it starts from the live bytes the timeline has at the range start');
  assert.equal(fine.points[fine.points.length - 1].live, endOf(t1).live, 'and ends where the timeline ends the range');
  const maxFine = Math.max(...fine.points.map((p: { max: number }) => p.max));
  const maxCoarse = Math.max(...coarse.points.filter((p: { t: number }) => p.t > t0 && p.t <= t1).map((p: { max: number }) => p.max));
  assert.equal(maxFine, maxCoarse, 'the same peak in the range');
});

test('sessions view lists the recorded session', async () => {
  await page.goto(url);
  await page.waitForSelector('#sessions-table tbody tr[data-session="1"]');
  const row = await page.textContent('#sessions-table tbody tr[data-session="1"]');
  assert.match(row ?? '', /torchvision_infer\.py/);
  assert.match(row ?? '', /complete/);
  assert.match((await page.textContent('#db-path')) ?? '', new RegExp(path.basename(dbFile)));
  await shot('sessions');
});

test('memory overview draws the timeline and re-queries the visible range on zoom', async () => {
  const timelineCalls: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/overview.timeline')) timelineCalls.push(r.postData() ?? '');
  });
  await view('overview');
  await page.waitForSelector('#overview-chart canvas');
  await page.waitForSelector('#top-ops canvas');
  await page.waitForFunction(() => /points drawn/.test(document.querySelector('#overview-info')?.textContent ?? ''));
  const before = timelineCalls.length;
  const box = (await page.locator('#overview-chart').boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < 4; i++) await page.mouse.wheel(0, -300);
  await page.waitForResponse((r) => r.url().includes('/api/overview.timeline'), { timeout: 10_000 });
  assert.ok(timelineCalls.length > before, 'zooming asks main for the visible range');
  const last = JSON.parse(timelineCalls[timelineCalls.length - 1]);
  assert.ok(typeof last.t0 === 'number' && typeof last.t1 === 'number', 'the request names the range');
  await page.waitForTimeout(300);
  await shot('overview');
});

test('plan view: planners table, running a planner, the memory map', async () => {
  await view('plan');
  await page.waitForSelector('#plans-table tbody tr[data-plan]');
  await page.waitForFunction(() => /buffers/.test(document.querySelector('#plan-map-info')?.textContent ?? ''));
  assert.ok(await page.$('#plan-map canvas'));
  const rowsBefore = await page.locator('#plans-table tbody tr').count();
  await page.selectOption('#plan-algorithm', 'best-fit');
  await page.click('#plan-run');
  await page.waitForFunction((n) => document.querySelectorAll('#plans-table tbody tr').length > n, rowsBefore, { timeout: 60_000 });
  const table = (await page.textContent('#plans-table')) ?? '';
  assert.match(table, /greedy-size/);
  assert.match(table, /best-fit/);
  assert.match((await page.textContent('#plan-map-info')) ?? '', /largest of [\d,]+ buffers|All [\d,]+ buffers/);
  await shot('plan');
});

test('replay scrubber steps through the iteration and the live count changes', async () => {
  await view('replay');
  // It opens where the most planned bytes are live (issue 13), not at event 0.
  await page.waitForFunction(() => /event [1-9][\d,]* of/.test(document.querySelector('#replay-k')?.textContent ?? ''));
  await page.click('#replay-first');
  await page.waitForFunction(() => /event 0 of/.test(document.querySelector('#replay-k')?.textContent ?? ''));
  const live0 = await page.textContent('#replay-live');
  await page.click('#replay-step');
  await page.waitForFunction(() => /event 1 of/.test(document.querySelector('#replay-k')?.textContent ?? ''));
  const live1 = await page.textContent('#replay-live');
  assert.notEqual(live1, live0, 'one event allocates or frees one buffer');
  const max = Number(await page.getAttribute('#replay-slider', 'max'));
  await page.fill('#replay-slider', String(Math.floor(max / 2)));
  await page.waitForFunction((k) => (document.querySelector('#replay-k')?.textContent ?? '').startsWith(`event ${k.toLocaleString('en-US')} of`), Math.floor(max / 2));
  assert.ok(await page.$('#replay-arena canvas'));
  assert.ok(await page.$('#replay-system canvas'));
  await page.click('#replay-play');
  await page.waitForFunction((k) => Number((document.querySelector('#replay-slider') as HTMLInputElement).value) > k, Math.floor(max / 2));
  await page.click('#replay-play');
  await shot('replay');
});

test('recording the example workload from the Record view creates a session', async () => {
  await view('record');
  await page.click('#rec-example');
  await page.fill('#rec-args', '--model resnet18 --iterations 2 --warmup 1');
  await page.fill('#rec-name', 'from-the-ui');
  await page.click('#rec-start');
  await page.waitForSelector('#rec-open', { timeout: 170_000 });
  assert.notEqual(await page.textContent('#rec-events'), '-', 'progress reached the page over the WebSocket');
  await shot('record');
  const sessions = (await call('sessions.list', {})).json.result.sessions as { id: number; name: string; status: string; events: number; iterations: number }[];
  const s = sessions.find((x) => x.name === 'from-the-ui');
  assert.ok(s, JSON.stringify(sessions));
  assert.equal(s.status, 'complete');
  assert.ok(s.events > 0 && s.iterations >= 3, JSON.stringify(s));

  await view('sessions');
  await page.waitForSelector(`#sessions-table tr[data-session="${s.id}"]`);
  // Rename, then delete (two clicks), through the UI.
  const row = page.locator(`#sessions-table tr[data-session="${s.id}"]`);
  await row.locator('button', { hasText: 'Rename' }).click();
  await row.locator('input.rename-input').fill('renamed');
  await row.locator('button', { hasText: 'Save' }).click();
  await page.waitForFunction((id) => /renamed/.test(document.querySelector(`#sessions-table tr[data-session="${id}"]`)?.textContent ?? ''), s.id);
  await row.locator('button', { hasText: 'Delete' }).click();
  await row.locator('button', { hasText: 'Really delete?' }).click();
  await page.waitForFunction((id) => !document.querySelector(`#sessions-table tr[data-session="${id}"]`), s.id);
  const left = (await call('sessions.list', {})).json.result.sessions as { id: number }[];
  assert.deepEqual(left.map((x) => x.id), [1]);
});

test('no console errors in the page', () => {
  assert.deepEqual(consoleErrors, []);
});
