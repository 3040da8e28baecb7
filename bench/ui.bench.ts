/**
 * `npm run bench:ui`: the Memory view in Chromium (playwright-core, /usr/bin/chromium, headless)
 * against `memoplan serve`, for sessions of about 100,000, 1,000,000 and 5,000,000 events.
 *
 * Sessions are real recordings: `memoplan record -- build/native/bench_churn 1 PAIRS` (PAIRS
 * malloc(32)/free pairs, 2 events each, plus 1,000 warm-up pairs). Each size's database is kept
 * in BENCH_DIR (default $TMPDIR/memoplan-bench-ui/churn-<pairs>.db) and reused by later runs
 * while it holds one complete session of the expected size (BENCH_FRESH=1 records again).
 *
 * Per size, one `memoplan serve` and BENCH_REPS runs (default 5), each on a freshly loaded page:
 *   - time to first chart: from the click on the session's "Memory" button in the Sessions list
 *     (the UI's flow: the page opens on the list) until ECharts has rendered the first
 *     overview.timeline reply (its 'finished' event; the view's data-drawn-* hook), both stamped
 *     with the page's clock; and the same from the start of the page navigation;
 *   - pan/zoom: real input on the chart (mouse wheel over it: the inside dataZoom; drags: pan)
 *     in a fixed sequence, with every animation frame's duration (requestAnimationFrame deltas)
 *     and long tasks recorded in the page. Printed: median, p95 and max frame time, frames over
 *     50 ms, the re-queries of the visible range it caused (server time, points per reply).
 *
 * Env: BENCH_SIZES (events, comma-separated; default 100000,1000000,5000000), BENCH_REPS,
 * BENCH_DIR, BENCH_FRESH, MEMOPLAN_CHROMIUM (default /usr/bin/chromium).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PACKAGE_ROOT } from '../main/paths';
import { openDatabase } from '../main/store/db';
import { ENV } from '../shared/env-vars';

const BIN = path.join(PACKAGE_ROOT, 'bin', 'memoplan.js');
const CHURN = path.join(PACKAGE_ROOT, 'build', 'native', 'bench_churn');
const CHROMIUM = process.env[ENV.CHROMIUM] ?? '/usr/bin/chromium';
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 5));
const SIZES = (process.env.BENCH_SIZES ?? '100000,1000000,5000000').split(',').map((s) => Number(s.trim())).filter((n) => n >= 4000);
const DIR = process.env.BENCH_DIR ?? path.join(os.tmpdir(), 'memoplan-bench-ui');
const FRESH = process.env.BENCH_FRESH === '1';
/** bench_churn's warm-up: 1,000 pairs per thread before the timed loop. */
const WARMUP_EVENTS = 2000;
const LONG_FRAME_MS = 50;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`;

function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}
const median = (xs: number[]) => quantile(xs, 0.5);
const spread = (xs: number[]) => `${ms(median(xs))} (${ms(Math.min(...xs))}–${ms(Math.max(...xs))})`;

interface SessionRow {
  id: number;
  status: string;
  events: number;
}

function sessionsOf(dbFile: string): SessionRow[] | null {
  const r = spawnSync(process.execPath, [BIN, 'sessions', '--db', dbFile, '--json'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  try {
    return JSON.parse(r.stdout) as SessionRow[];
  } catch {
    return null;
  }
}

/** Whether a cached recording was made by a memoplan that stores the timeline's id ranges (schema 5), which zooming needs. */
function hasZoomRanges(dbFile: string): boolean {
  const db = openDatabase(dbFile, { create: false });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM timeline WHERE event_ranges IS NOT NULL`).get() as { n: number }).n > 0;
  } finally {
    db.close();
  }
}

/** A database holding one complete bench_churn session of about `events` events (cached). */
function recording(events: number): { dbFile: string; session: SessionRow; cached: boolean } {
  const pairs = Math.max(1, Math.round((events - WARMUP_EVENTS) / 2));
  const dbFile = path.join(DIR, `churn-${pairs}.db`);
  const usable = (rows: SessionRow[] | null) => (rows && rows.length === 1 && rows[0].status === 'complete' && rows[0].events >= 2 * pairs ? rows[0] : null);
  if (!FRESH && fs.existsSync(dbFile)) {
    const s = usable(sessionsOf(dbFile));
    if (s && hasZoomRanges(dbFile)) return { dbFile, session: s, cached: true };
  }
  fs.mkdirSync(DIR, { recursive: true });
  const tmp = `${dbFile}.part-${process.pid}`;
  for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) fs.rmSync(f, { force: true });
  process.stderr.write(`recording bench_churn 1 ${fmt(pairs)} (about ${fmt(events)} events) into ${dbFile}...\n`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'record', '--quiet', '--db', tmp, '--name', `churn ${fmt(events)}`, '--', CHURN, '1', String(pairs)], {
    encoding: 'utf8',
    cwd: DIR,
  });
  if (r.status !== 0) throw new Error(`memoplan record failed (${r.status}): ${r.stderr}`);
  process.stderr.write(`  recorded in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  // Checkpoint the WAL into the file before renaming it (a plain `sessions` open does that on close).
  const s = usable(sessionsOf(tmp));
  if (!s) throw new Error(`the recording in ${tmp} is not one complete session of ${fmt(2 * pairs)}+ events`);
  for (const ext of ['-wal', '-shm']) fs.rmSync(dbFile + ext, { force: true });
  fs.renameSync(tmp, dbFile);
  for (const ext of ['-wal', '-shm']) if (fs.existsSync(tmp + ext)) fs.renameSync(tmp + ext, dbFile + ext);
  return { dbFile, session: s, cached: false };
}

async function startServe(dbFile: string): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--db', dbFile, '--port', '0'], { cwd: DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    proc.on('close', (code) => reject(new Error(`memoplan serve exited with ${code}: ${stderr}`)));
  });
  return { proc, url };
}

async function stopServe(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const closed = new Promise((r) => proc.once('close', r));
  proc.kill('SIGINT');
  await closed;
}

interface Requery {
  serverMs: number;
  source: 'timeline' | 'events';
  points: number;
  buckets: number;
  spanNs: number;
}

interface RunResult {
  firstChartMs: number;
  fromNavigationMs: number;
  firstPoints: number;
  frames: number[];
  longTasks: number[];
  requeries: Requery[];
  chartWidth: number;
  sequenceMs: number;
}

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** The pan/zoom sequence: real wheel and drag input on the chart's plot area. */
async function panZoom(page: Page): Promise<{ wheels: number; drags: number }> {
  const box = (await page.locator('#overview-chart').boundingBox())!;
  // The plot area: grid left 80, right 30, top 40, bottom 70 (renderer/views/overview.ts).
  const cx = box.x + 80 + (box.width - 110) / 2;
  const cy = box.y + 40 + (box.height - 110) / 2;
  let wheels = 0;
  let drags = 0;
  const wheel = async (n: number, dy: number) => {
    await page.mouse.move(cx, cy);
    for (let i = 0; i < n; i++) {
      await page.mouse.wheel(0, dy);
      wheels++;
      await sleep(40);
    }
  };
  const drag = async (dx: number) => {
    await page.mouse.move(cx, cy);
    await page.mouse.down();
    await page.mouse.move(cx + dx, cy, { steps: 20 });
    await page.mouse.up();
    drags++;
    await sleep(120);
  };
  // Each step ends with a pause longer than the view's 150 ms debounce, so that each one
  // re-queries the visible range and the new reply is drawn while frames are recorded.
  const settle = () => sleep(400);
  await wheel(10, -240); // zoom in
  await settle();
  await drag(-300); // pan (later in time)
  await settle();
  await drag(+300);
  await settle();
  await wheel(40, -240); // zoom in deep (to a few ms: narrower than a few timeline buckets)
  await settle();
  await drag(-400);
  await settle();
  await drag(+200);
  await settle();
  await wheel(60, +240); // zoom back out
  await settle();
  await drag(+200);
  return { wheels, drags };
}

async function oneRun(page: Page, url: string, session: number): Promise<RunResult> {
  const requeries: Requery[] = [];
  const pending = new Set<unknown>();
  const onRequest = (r: import('playwright-core').Request) => {
    if (r.url().includes('/api/overview.timeline')) pending.add(r);
  };
  const onFinished = async (r: import('playwright-core').Request) => {
    if (!pending.has(r)) return;
    try {
      const res = await r.response();
      const body = (await res?.json()) as { result?: { points: unknown[]; buckets: number; t0: number; t1: number; source: 'timeline' | 'events' } };
      const timing = r.timing();
      if (body.result) {
        requeries.push({ serverMs: timing.responseStart - timing.requestStart, source: body.result.source, points: body.result.points.length, buckets: body.result.buckets, spanNs: body.result.t1 - body.result.t0 });
      }
    } catch {
      /* the page navigated away */
    }
    pending.delete(r);
  };
  const onFailed = (r: import('playwright-core').Request) => pending.delete(r);
  page.on('request', onRequest);
  page.on('requestfinished', onFinished);
  page.on('requestfailed', onFailed);
  try {
    await page.goto(url);
    const btn = page.locator(`#sessions-table tr[data-session="${session}"] button`, { hasText: 'Memory' });
    await btn.waitFor();
    await page.evaluate(() => {
      const w = window as unknown as { __clickAt?: number };
      document.addEventListener('click', () => (w.__clickAt ??= performance.now()), { capture: true });
    });
    await btn.click();
    await page.waitForFunction((id) => document.getElementById('overview-chart')?.dataset.drawnSession === String(id), session, { timeout: 120_000 });
    const first = await page.evaluate(() => {
      const el = document.getElementById('overview-chart')!;
      return {
        clickAt: (window as unknown as { __clickAt: number }).__clickAt,
        drawnAt: Number(el.dataset.drawnAt),
        points: Number(el.dataset.drawnPoints),
        width: el.clientWidth,
      };
    });
    await sleep(300);
    const initialRequeries = requeries.length;
    // Frame recorder and long-task observer, then the input sequence.
    await page.evaluate(() => {
      const w = window as unknown as { __frames: number[]; __long: number[]; __rec: boolean };
      w.__frames = [];
      w.__long = [];
      w.__rec = true;
      new PerformanceObserver((l) => l.getEntries().forEach((e) => w.__long.push(e.duration))).observe({ type: 'longtask' });
      let last = -1;
      const tick = (t: number) => {
        if (last >= 0) w.__frames.push(t - last);
        last = t;
        if (w.__rec) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const t0 = performance.now();
    await panZoom(page);
    // Settle: every re-query answered and drawn.
    const deadline = Date.now() + 60_000;
    let lastDraws = '';
    while (Date.now() < deadline) {
      await sleep(250);
      const draws = await page.evaluate(() => document.getElementById('overview-chart')!.dataset.draws ?? '');
      if (pending.size === 0 && draws === lastDraws) break;
      lastDraws = draws;
    }
    const sequenceMs = performance.now() - t0;
    const rec = await page.evaluate(() => {
      const w = window as unknown as { __frames: number[]; __long: number[]; __rec: boolean };
      w.__rec = false;
      return { frames: w.__frames, long: w.__long };
    });
    return {
      firstChartMs: first.drawnAt - first.clickAt,
      fromNavigationMs: first.drawnAt,
      firstPoints: first.points,
      frames: rec.frames,
      longTasks: rec.long,
      requeries: requeries.slice(initialRequeries),
      chartWidth: first.width,
      sequenceMs,
    };
  } finally {
    page.off('request', onRequest);
    page.off('requestfinished', onFinished);
    page.off('requestfailed', onFailed);
  }
}

async function benchSize(browser: Browser, events: number): Promise<void> {
  const { dbFile, session, cached } = recording(events);
  const size = fs.statSync(dbFile).size;
  const { proc, url } = await startServe(dbFile);
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(process.env.BENCH_DEBUG ? String(e.stack) : e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  const runs: RunResult[] = [];
  try {
    for (let i = 0; i < REPS; i++) runs.push(await oneRun(page, url, session.id));
  } finally {
    await context.close();
    await stopServe(proc);
  }
  console.log(`\n${fmt(session.events)} events (session ${session.id} of ${path.basename(dbFile)}, ${(size / 2 ** 20).toFixed(0)} MiB${cached ? ', cached' : ''})`);
  console.log(`  time to first chart, click on "Memory" -> rendered: median ${spread(runs.map((r) => r.firstChartMs))} over ${runs.length} runs`);
  console.log(`  time to first chart from page navigation:           median ${spread(runs.map((r) => r.fromNavigationMs))}`);
  console.log(`  first chart: ${fmt(runs[0].firstPoints)} points over a ${fmt(runs[0].chartWidth)} px wide chart`);
  for (const [i, r] of runs.entries()) {
    const long = r.frames.filter((f) => f > LONG_FRAME_MS).length;
    const server = r.requeries.map((q) => q.serverMs);
    console.log(
      `  pan/zoom run ${i + 1}: ${fmt(r.frames.length)} frames in ${(r.sequenceMs / 1000).toFixed(1)} s: median ${ms(median(r.frames))}, p95 ${ms(quantile(r.frames, 0.95))}, ` +
        `max ${ms(Math.max(...r.frames))}, ${long} over ${LONG_FRAME_MS} ms; long tasks ${r.longTasks.length}` +
        (r.longTasks.length ? ` (max ${ms(Math.max(...r.longTasks))})` : '') +
        `; ${r.requeries.length} re-queries (${r.requeries.filter((q) => q.source === 'events').length} from events), server median ${ms(median(server))}, max ${ms(Math.max(...server))}`,
    );
  }
  const all = runs.flatMap((r) => r.frames);
  const meds = runs.map((r) => median(r.frames));
  const p95s = runs.map((r) => quantile(r.frames, 0.95));
  const qs = runs.flatMap((r) => r.requeries);
  const deepest = qs.reduce((a, q) => (q.spanNs < a.spanNs ? q : a), qs[0]);
  console.log(
    `  pan/zoom, all runs: median frame ${spread(meds)}, p95 ${spread(p95s)}, max ${ms(Math.max(...all))}, ` +
      `${all.filter((f) => f > LONG_FRAME_MS).length} of ${fmt(all.length)} frames over ${LONG_FRAME_MS} ms`,
  );
  if (qs.length) {
    console.log(
      `  re-queries: at most ${fmt(Math.max(...qs.map((q) => q.points)))} points per reply (chart ${fmt(runs[0].chartWidth)} px); ` +
        `deepest zoom ${(deepest.spanNs / 1e6).toFixed(3)} ms of the session: ${fmt(deepest.points)} points from ${deepest.source === 'events' ? `the events of ${fmt(deepest.buckets)} timeline bucket(s)` : `${fmt(deepest.buckets)} timeline buckets`}`,
    );
  }
  if (errors.length) console.log(`  page errors: ${errors.slice(0, 3).join(' | ')}`);
}

async function main(): Promise<void> {
  if (!fs.existsSync(CHURN)) throw new Error(`${CHURN} is missing: run npm run build`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (set MEMOPLAN_CHROMIUM)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    console.log(`bench:ui: ${browser.version()} headless, viewport 1400x1000, memoplan serve on 127.0.0.1, ${REPS} runs per size; ${os.cpus().length} CPUs`);
    console.log(`sessions: memoplan record -- bench_churn 1 PAIRS (databases in ${DIR})`);
    for (const events of SIZES) await benchSize(browser, events);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(`bench:ui: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
