import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { openDatabase } from '../../main/store/db';
import { escapeHtml, jsonForScript, shellJoin } from '../../main/report/escape';
import { loadReportData } from '../../main/report/data';
import { isOneLineError, NATIVE, runCli, WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * The offline report and the session export, end to end: real recordings (a torch resnet18,
 * a module with a hostile name, a 5M-event native churn), the real CLI, and the HTML opened in
 * headless Chromium with every non-file request refused.
 */

const CHROMIUM = process.env.MEMOPLAN_CHROMIUM ?? '/usr/bin/chromium';
const HOSTILE = '</script><img src=x onerror=alert(1)>';
const HOSTILE_ARG = `--tag=<script>alert("argv")</script>`;

const dir = tmpDir('memoplan-report-');
const dbFile = path.join(dir, 'report.db');
let r18 = 0;
let hostile = 0;
let browser: Browser;

function q<T>(sql: string, ...args: unknown[]): T {
  const db = openDatabase(dbFile);
  try {
    return db.prepare(sql).get(...args) as T;
  } finally {
    db.close();
  }
}

async function recordSession(name: string, cmd: string[]): Promise<number> {
  const r = await runCli(['record', '--quiet', '--db', dbFile, '--name', name, '--', ...cmd]);
  assert.equal(r.code, 0, r.stderr);
  return q<{ id: number }>(`SELECT id FROM sessions WHERE name = ?`, name).id;
}

before(async () => {
  r18 = await recordSession('r18', ['python3', WORKLOAD, '--model', 'resnet18', '--iterations', '3', '--warmup', '2']);
  const p = await runCli(['plan', '--db', dbFile, '--session', String(r18), '--algorithm', 'greedy-size']);
  assert.equal(p.code, 0, p.stderr);
  // A replay of that plan (a session of its own, with a replays row): the report's plan-mode section.
  const rp = await runCli(['replay', '--db', dbFile, '--plan', String(planOf(r18)), '--', 'python3', WORKLOAD, '--model', 'resnet18', '--iterations', '2', '--warmup', '1']);
  assert.equal(rp.code, 0, rp.stderr);

  const script = path.join(dir, 'hostile_module.py');
  fs.writeFileSync(
    script,
    `import torch
NAME = ${JSON.stringify(HOSTILE)}
class Hostile(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module(NAME, torch.nn.Linear(4, 4))
        self.head = torch.nn.Linear(4, 4)
    def forward(self, x):
        y = getattr(self, NAME)(x)
        return self.head(torch.relu(y) * 2 + 1)
m = Hostile().eval()
with torch.no_grad():
    for _ in range(6):
        m(torch.randn(64, 4))
`,
  );
  hostile = await recordSession('hostile', ['python3', script, HOSTILE_ARG]);
  const hp = await runCli(['plan', '--db', dbFile, '--session', String(hostile), '--algorithm', 'greedy-size']);
  assert.equal(hp.code, 0, hp.stderr);

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
});

interface Opened {
  page: Page;
  errors: string[];
  foreign: string[];
  dialogs: string[];
}

/** Opens a report from file:// with the network refused; records errors, foreign requests and dialogs. */
async function open(file: string): Promise<Opened> {
  const context = await browser.newContext({ offline: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const o: Opened = { page, errors: [], foreign: [], dialogs: [] };
  const fileUrl = 'file://' + file;
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url === fileUrl) return route.continue();
    o.foreign.push(url);
    return route.abort();
  });
  page.on('request', (r) => {
    const url = r.url();
    if (url !== fileUrl && !url.startsWith('data:') && !url.startsWith('blob:')) o.foreign.push(url);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') o.errors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => o.errors.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => {
    o.dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(fileUrl);
  await page.waitForSelector('body[data-charts]', { timeout: 20_000 });
  return o;
}

/** Every chart container holds a canvas with drawn (non-transparent) pixels. */
async function chartsDrawn(page: Page): Promise<{ id: string; canvases: number; painted: number }[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('.chart')).map((el) => {
      const canvases = Array.from(el.querySelectorAll('canvas'));
      let painted = 0;
      for (const c of canvases) {
        if (!c.width || !c.height) continue;
        const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) painted++;
      }
      return { id: el.id, canvases: canvases.length, painted };
    }),
  );
}

test('escaping helpers: HTML text and JSON inside a script element', () => {
  assert.equal(escapeHtml(HOSTILE), '&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;');
  assert.equal(escapeHtml(`a"b'c&\``), 'a&quot;b&#39;c&amp;&#96;');
  const v = { name: HOSTILE, sep: 'a\u2028b\u2029c', comment: '<!-- x -->' };
  const json = jsonForScript(v);
  assert.doesNotMatch(json, /<|>|\u2028|\u2029/);
  assert.deepEqual(JSON.parse(json), v);
  assert.equal(shellJoin(['python3', 'a b.py', "it's", '--x=1']), `python3 'a b.py' 'it'\\''s' --x=1`);
});

test('report of a recorded resnet18 session: self-contained, opens offline in Chromium, every chart drawn', async () => {
  addAbRun();
  const out = path.join(dir, 'r18.html');
  const r = await runCli(['report', '--db', dbFile, '--session', String(r18), '--ab', '1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const html = fs.readFileSync(out, 'utf8');
  assert.ok(html.length < 10 * 1024 * 1024, `report size ${html.length}`);
  // Nothing refers outside the file.
  assert.ok(/<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; script-src &#39;sha256-/.test(html), 'a strict CSP');
  // Outside the inline scripts (ECharts' own source mentions <img src=...> for its image export):
  const markup = html.replace(/<script>[\s\S]*?<\/script>/g, '<script></script>');
  const remote = /<script[^>]+src=|<link[^>]+href=|<img[^>]+src=|<iframe|@import|url\(/i.exec(markup);
  assert.equal(remote, null, `a reference outside the file: ${remote?.[0]}`);
  assert.equal((markup.match(/<script/g) ?? []).length, 3, 'the data block, ECharts and the page code');
  for (const section of ['Target', 'Recording summary', 'Memory over time', 'What is live at the peak', 'Iterations', 'Plans', 'Plan mode', 'A/B run 1']) {
    assert.ok(html.includes(`<h2>${section}</h2>`), section);
  }
  // A/B settings in words, not JSON (issue 13).
  assert.ok(html.includes('<b>allocators</b> glibc, plan'), 'the allocators as a list');
  assert.ok(!/configuration<\/th><td><code>/.test(html) && !html.includes('allocators=[&quot;'), 'no raw JSON settings');
  assert.equal((html.match(/How this was measured/g) ?? []).length >= 6, true);
  // The data block: aggregates, the memory map capped and saying so.
  const json = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html);
  assert.ok(json, 'the data block');
  const data = JSON.parse(json[1]) as { memoryMap: { total: number; shown: number; rects: unknown[] }; memoryMapCap: number; timeline: { points: unknown[]; buckets: number } };
  assert.equal(data.memoryMap.shown, Math.min(data.memoryMap.total, data.memoryMapCap));
  assert.equal(data.memoryMap.rects.length, data.memoryMap.shown);
  // A plan with more buffers than the map draws keeps the largest and says how many it left out
  // (resnet18 recorded with aten ops plans only its buffers above the size floor, ~100).
  const db = openDatabase(dbFile);
  try {
    const capped = loadReportData(db, { sessionId: r18, mapCap: 10 }).memoryMap!;
    assert.ok(capped.total > 10, `${capped.total} buffers`);
    assert.equal(capped.shown, 10);
    assert.equal(capped.rects.length, 10);
  } finally {
    db.close();
  }
  // Every timeline bucket, one point each (the buckets of a short recording are fewer than the API's 2,000 points).
  assert.ok(data.timeline.buckets > 0 && data.timeline.buckets <= 2048);
  assert.equal(data.timeline.points.length, Math.min(data.timeline.buckets, 2000));

  const o = await open(out);
  try {
    assert.deepEqual(o.errors, [], 'no console errors or warnings');
    assert.deepEqual(o.foreign, [], 'no request other than the report file itself');
    assert.equal(await o.page.getAttribute('body', 'data-charts'), 'ready');
    const charts = await chartsDrawn(o.page);
    const ids = charts.map((c) => c.id);
    for (const id of ['chart-ops', 'chart-modules', 'chart-timeline', 'chart-peak', 'chart-iterations', 'chart-plans', 'chart-map', 'chart-replay', 'chart-ab-latency', 'chart-ab-ratio', 'chart-ab-dist', 'chart-ab-rss']) {
      assert.ok(ids.includes(id), `${id} present (have ${ids.join(', ')})`);
    }
    for (const c of charts) {
      assert.ok(c.canvases >= 1, `${c.id}: a canvas`);
      assert.ok(c.painted > 1000, `${c.id}: drawn (${c.painted} painted pixels)`);
    }
    const text = await o.page.innerText('body');
    assert.match(text, /resnet18/);
    assert.match(text, /greedy-size/);
    assert.match(text, /AMD|Intel|CPU/);
    assert.match(text, /faster/, 'the A/B verdict of the faster arm');
    const replay = q<{ session_id: number; hits: number; misses: number }>(`SELECT session_id, hits, misses FROM replays WHERE plan_id = ?`, planOf(r18));
    assert.match(text, new RegExp(`Plan mode[\\s\\S]*${replay.session_id} — `), 'the replay session is listed');
    const rate = replay.hits + replay.misses > 0 ? (100 * (replay.hits / (replay.hits + replay.misses))).toFixed(3) + '%' : '–';
    const planMode = (await o.page.innerText('#replay')).slice(0, 600); // the section, not the nav link
    assert.ok(planMode.includes(rate), `hit rate ${rate} (${JSON.stringify(replay)}) in: ${planMode}`);
    assert.match(text, /\d+ smaller ones|places \d/, 'the memory map says how many buffers it draws');
    // A tooltip renders (through the escaping formatter).
    await o.page.evaluate(() => {
      const chart = (window as unknown as { echarts: { getInstanceByDom(el: Element): { dispatchAction(a: object): void } } }).echarts.getInstanceByDom(document.getElementById('chart-map')!);
      chart.dispatchAction({ type: 'showTip', seriesIndex: 0, dataIndex: 0 });
    });
    await o.page.waitForTimeout(200);
    assert.match(await o.page.innerText('#chart-map'), /buffer: #\d+/);
    await o.page.screenshot({ path: path.join(dir, 'r18.png'), fullPage: true });
    assert.ok(fs.statSync(path.join(dir, 'r18.png')).size > 50_000, 'a screenshot');
    // MEMOPLAN_TEST_ARTIFACTS=DIR keeps the report and its screenshot for a human to look at.
    const keep = process.env.MEMOPLAN_TEST_ARTIFACTS;
    if (keep && fs.existsSync(keep)) for (const f of ['r18.html', 'r18.png']) fs.copyFileSync(path.join(dir, f), path.join(keep, f));
  } finally {
    await o.page.context().close();
  }
});

test('a hostile module name and argv are shown literally and run nothing (even without the CSP)', async () => {
  const db = openDatabase(dbFile);
  const modules = (db.prepare(`SELECT DISTINCT module FROM ops WHERE session_id = ?`).all(hostile) as { module: string }[]).map((m) => m.module);
  db.close();
  const full = modules.find((m) => m.endsWith(HOSTILE));
  assert.ok(full, `the agent recorded the module (${modules.join(' | ')})`);

  const out = path.join(dir, 'hostile.html');
  const r = await runCli(['report', '--db', dbFile, '--session', String(hostile), '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const html = fs.readFileSync(out, 'utf8');
  assert.ok(!html.includes(HOSTILE), 'the raw name never appears in the HTML');
  assert.ok(!html.includes('<script>alert'), 'nor the raw argv');
  // The same page with its CSP removed: escaping alone must hold.
  const noCsp = path.join(dir, 'hostile-nocsp.html');
  fs.writeFileSync(noCsp, html.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, ''));
  assert.ok(!fs.readFileSync(noCsp, 'utf8').includes('Content-Security-Policy'));

  for (const file of [out, noCsp]) {
    const o = await open(file);
    try {
      await o.page.waitForTimeout(300);
      assert.deepEqual(o.dialogs, [], `${path.basename(file)}: no dialog`);
      assert.deepEqual(o.errors, [], `${path.basename(file)}: no console error`);
      assert.deepEqual(o.foreign, [], `${path.basename(file)}: no request (an injected <img src=x> would make one)`);
      assert.equal(await o.page.locator('img').count(), 0, 'no <img> element was created');
      assert.equal(await o.page.locator('script').count(), 3, 'only the report\'s own scripts');
      const text = await o.page.innerText('body');
      assert.ok(text.includes(HOSTILE), 'the module name is shown literally');
      assert.ok(text.includes(HOSTILE_ARG), 'the argument is shown literally');
      // The memory-map tooltip (HTML rendered by ECharts) shows it as text too.
      const shown = await o.page.evaluate((name) => {
        const w = window as unknown as { echarts: { getInstanceByDom(el: Element): { getOption(): { series: { name: string }[] }; dispatchAction(a: object): void } } };
        const el = document.getElementById('chart-map');
        if (!el) return 'no map';
        const chart = w.echarts.getInstanceByDom(el);
        const series = chart.getOption().series;
        const i = series.findIndex((s) => s.name.includes(name));
        chart.dispatchAction({ type: 'showTip', seriesIndex: i < 0 ? 0 : i, dataIndex: 0 });
        return i < 0 ? 'no series' : 'ok';
      }, HOSTILE);
      assert.equal(shown, 'ok');
      await o.page.waitForTimeout(200);
      assert.ok((await o.page.innerText('#chart-map')).includes(HOSTILE), 'tooltip shows the name as text');
      assert.equal(await o.page.locator('img').count(), 0, 'still no <img> after the tooltip');
      assert.deepEqual(o.dialogs, []);
    } finally {
      await o.page.context().close();
    }
  }
});

test('export: a standalone database with every row of one session, openable by memoplan sessions', async () => {
  const out = path.join(dir, 'exported.db');
  const r = await runCli(['export', '--db', dbFile, '--session', String(hostile), '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const orig = JSON.parse((await runCli(['sessions', '--db', dbFile, '--json'])).stdout) as { id: number }[];
  const exp = JSON.parse((await runCli(['sessions', '--db', out, '--json'])).stdout) as { id: number }[];
  assert.equal(orig.length, 3, 'resnet18, its replay, hostile');
  assert.deepEqual(exp, orig.filter((s) => s.id === hostile), 'one session, the same counts');
  assert.ok(!fs.existsSync(out + '-wal'), 'a single file');

  const a = openDatabase(dbFile);
  const b = openDatabase(out);
  const perSession: Record<string, string> = {
    processes: 'SELECT count(*) AS n FROM processes WHERE session_id = ?',
    threads: 'SELECT count(*) AS n FROM threads WHERE session_id = ?',
    ops: 'SELECT count(*) AS n FROM ops WHERE session_id = ?',
    events: 'SELECT count(*) AS n FROM events WHERE thread_id IN (SELECT id FROM threads WHERE session_id = ?)',
    allocations: 'SELECT count(*) AS n FROM allocations WHERE session_id = ?',
    lifetimes: 'SELECT count(*) AS n, sum(size) AS bytes FROM lifetimes WHERE session_id = ?',
    iterations: 'SELECT count(*) AS n FROM iterations WHERE session_id = ?',
    timeline: 'SELECT count(*) AS n, sum(live_bytes_max) AS s FROM timeline WHERE session_id = ?',
    op_stats: 'SELECT count(*) AS n, sum(bytes) AS s FROM op_stats WHERE session_id = ?',
    plans: 'SELECT count(*) AS n FROM plans WHERE session_id = ?',
    plan_buffers: 'SELECT count(*) AS n, sum(offset) AS s FROM plan_buffers WHERE plan_id IN (SELECT id FROM plans WHERE session_id = ?)',
  };
  for (const [t, sql] of Object.entries(perSession)) {
    const x = a.prepare(sql).get(hostile);
    assert.deepEqual(b.prepare(sql).get(hostile), x, t);
    if (t !== 'lifetimes') assert.deepEqual(b.prepare(`SELECT count(*) AS n FROM ${t}`).get(), { n: (x as { n: number }).n }, `${t}: nothing else`);
  }
  assert.deepEqual(b.prepare(`SELECT id, first_event, last_event, events, allocations FROM sessions`).all(), a.prepare(`SELECT id, first_event, last_event, events, allocations FROM sessions WHERE id = ?`).all(hostile), 'ids kept');
  assert.deepEqual(b.pragma('foreign_key_check'), []);
  a.close();
  b.close();

  // The exported file reports like the original.
  const rep = await runCli(['report', '--db', out, '--session', String(hostile), '--out', path.join(dir, 'from-export.html')]);
  assert.equal(rep.code, 0, rep.stderr);

  // Refuses to overwrite, unless --force.
  const again = await runCli(['export', '--db', dbFile, '--session', String(hostile), '--out', out]);
  assert.equal(again.code, 2);
  assert.ok(isOneLineError(again.stderr), again.stderr);
  assert.match(again.stderr, /already exists.*--force/);
  const forced = await runCli(['export', '--db', dbFile, '--session', String(r18), '--out', out, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  const after = JSON.parse((await runCli(['sessions', '--db', out, '--json'])).stdout) as { id: number }[];
  assert.deepEqual(after, orig.filter((s) => s.id === r18));
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.partial-')), [], 'no temporary file left');
});

test('bad input: unknown ids, a plan of another session, a missing directory -> one line, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['report', '--db', dbFile, '--session', '999', '--out', path.join(dir, 'x.html')], /no session 999/],
    [['report', '--db', dbFile, '--session', String(r18), '--plan', '999', '--out', path.join(dir, 'x.html')], /no plan 999/],
    [['report', '--db', dbFile, '--session', String(hostile), '--plan', String(planOf(r18)), '--out', path.join(dir, 'x.html')], /belongs to session/],
    [['report', '--db', dbFile, '--session', String(r18), '--ab', '999', '--out', path.join(dir, 'x.html')], /no A\/B run 999/],
    [['report', '--db', dbFile, '--session', String(r18), '--out', path.join(dir, 'missing', 'x.html')], /output directory does not exist/],
    [['report', '--db', path.join(dir, 'nope.db'), '--session', '1', '--out', path.join(dir, 'x.html')], /database not found/],
    [['report', '--db', dbFile, '--session', 'abc', '--out', path.join(dir, 'x.html')], /--session must be/],
    [['export', '--db', dbFile, '--session', '999', '--out', path.join(dir, 'x.db')], /no session 999/],
    [['export', '--db', dbFile, '--session', String(r18), '--out', path.join(dir, 'missing', 'x.db')], /output directory does not exist/],
    [['export', '--db', dbFile, '--session', String(r18), '--out', dbFile, '--force'], /is the input database/],
  ];
  for (const [args, msg] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, msg);
  }
  assert.ok(!fs.existsSync(path.join(dir, 'x.html')) && !fs.existsSync(path.join(dir, 'x.db')));
});

// Slow (~20-40 s): records 5,000,000 events with the native churn program.
test('SLOW: a 5,000,000-event session (native churn) gives a report under 10 MB, made without scanning events', async () => {
  const bigDb = path.join(dir, 'big.db');
  const r = await runCli(['record', '--quiet', '--db', bigDb, '--name', 'churn5m', '--', path.join(NATIVE, 'mt_churn'), '2', '1250000']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse((await runCli(['sessions', '--db', bigDb, '--json'])).stdout)[0] as { id: number; events: number };
  assert.ok(s.events >= 5_000_000, `${s.events} events`);
  const out = path.join(dir, 'big.html');
  const t0 = Date.now();
  const rep = await runCli(['report', '--db', bigDb, '--session', String(s.id), '--out', out]);
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(rep.code, 0, rep.stderr);
  const size = fs.statSync(out).size;
  process.stderr.write(`# 5M-event report: ${size} bytes (${(size / 1048576).toFixed(2)} MiB) in ${seconds.toFixed(2)} s\n`);
  assert.ok(size < 10 * 1024 * 1024, `report is ${size} bytes`);
  assert.ok(seconds < 15, `report took ${seconds} s`);
  const o = await open(out);
  try {
    assert.deepEqual(o.errors, []);
    assert.deepEqual(o.foreign, []);
    for (const c of await chartsDrawn(o.page)) assert.ok(c.painted > 1000, c.id);
    assert.match(await o.page.innerText('body'), /5,000,0\d\d/);
  } finally {
    await o.page.context().close();
  }
});

function planOf(sessionId: number): number {
  return q<{ id: number }>(`SELECT id FROM plans WHERE session_id = ? ORDER BY id LIMIT 1`, sessionId).id;
}

/** A synthetic A/B run (glibc vs plan, 1 thread, 3 runs each, plan ~20% faster), written as the ab_* rows. */
function addAbRun(): void {
  const db = openDatabase(dbFile);
  try {
    if (db.prepare(`SELECT 1 FROM ab_runs WHERE id = 1`).get()) return;
    db.transaction(() => {
      const config = { allocators: ['glibc', 'plan'], threads: [1], runs: 3, warmup: 2, iterations: 100, baseline: 'glibc', plan: null, skipped: [] };
      db.prepare(
        `INSERT INTO ab_runs (id, command, cwd, config, host, python, torch_version, seed, resamples, status, started_at, ended_at)
         VALUES (1, ?, ?, ?, ?, 'python3', '2.0', 12345, 300, 'complete', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z')`,
      ).run(JSON.stringify(['python3', 'w.py', HOSTILE_ARG]), dir, JSON.stringify(config), JSON.stringify({ cpu: 'test CPU', cores: 2, memory_bytes: 1 << 30, kernel: '6.0', hostname: 'h', platform: 'linux-x64' }));
      let seq = 0;
      let pid = 1;
      ['glibc', 'plan'].forEach((alloc, position) => {
        const arm = Number(
          db.prepare(`INSERT INTO ab_arms (ab_run_id, position, allocator, library, threads, status) VALUES (1, ?, ?, ?, 1, 'ok')`).run(position, alloc, alloc === 'plan' ? '/x/libmemoplan.so' : null).lastInsertRowid,
        );
        for (let run = 1; run <= 3; run++) {
          const proc = Number(
            db
              .prepare(
                `INSERT INTO ab_processes (ab_run_id, arm_id, run_index, seq, pid, status, exit_code, wall_ns, peak_rss_bytes, minor_faults, major_faults, threads_seen, latencies_seen, plan_hits, plan_misses)
                 VALUES (1, ?, ?, ?, ?, 'ok', 0, 2000000000, ?, ?, 0, 1, 100, ?, ?)`,
              )
              .run(arm, run, seq++, pid++, alloc === 'plan' ? 300e6 : 280e6, alloc === 'plan' ? 20000 : 90000, alloc === 'plan' ? 9000 : null, alloc === 'plan' ? 3 : null).lastInsertRowid,
          );
          const ins = db.prepare(`INSERT INTO ab_samples (process_id, thread_index, iteration, latency_ns) VALUES (?, 0, ?, ?)`);
          for (let i = 0; i < 100; i++) {
            const base = alloc === 'plan' ? 40e6 : 50e6;
            ins.run(proc, i, Math.round(base + ((i * 7919 + run * 104729) % 1000) * 2000));
          }
        }
      });
    })();
  } finally {
    db.close();
  }
}
