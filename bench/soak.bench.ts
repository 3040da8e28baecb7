/**
 * Fault soak (issue 17): RECORDINGS recordings of test/faults/slow_churn.c on one database,
 * PARALLEL at a time, each disturbed at a random instant by one of: nothing, kill -9 of the
 * target, kill -9 of the recorder (memoplan record), kill -9 of the ingester
 * (memoplan-ingest); meanwhile `memoplan plan` runs again and again on the same database (a
 * third of them killed at a random instant).
 * Then every session is audited: none stuck in "recording", every stored row counted once,
 * every event the interposers claimed stored (clean exits), no orphan row, no plan without all
 * its buffers, no trace folder left, and PRAGMA integrity_check ok.
 *
 *   node dist/bench/soak.bench.js            # SOAK_RECORDINGS=50 SOAK_PARALLEL=2 SOAK_SEED=17
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { PACKAGE_ROOT } from '../main/paths';
import { ENV } from '../shared/env-vars';

const BIN = path.join(PACKAGE_ROOT, 'bin', 'memoplan.js');
const RECORDINGS = Number(process.env.SOAK_RECORDINGS ?? 50);
const PARALLEL = Number(process.env.SOAK_PARALLEL ?? 2);
/** mulberry32 */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const SEED = Number(process.env.SOAK_SEED ?? 17);
// Each recording's fault and shape from a stream of its own (the same for a seed), the planner's picks from another.
const randPlan = prng(SEED ^ 0x9e3779b9);
const pick = <T>(xs: readonly T[], r: () => number): T => xs[Math.floor(r() * xs.length)];

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'memoplan-soak-'));
const dbFile = path.join(work, 'soak.db');
const traceRoot = path.join(work, 'traces');
const churn = path.join(work, 'slow_churn');
const env = { ...process.env, [ENV.TRACE_ROOT]: traceRoot, CHURN_ITERATIONS: '1' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Fault = 'none' | 'target' | 'recorder' | 'ingester';
interface Outcome {
  i: number;
  fault: Fault;
  applied: boolean;
  code: number | null;
  signal: string | null;
  pairs: number | null;
  stderr: string;
  seconds: number;
}

function childrenOf(pid: number): { pid: number; name: string }[] {
  const out: { pid: number; name: string }[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === pid) out.push({ pid: Number(p), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      /* gone */
    }
  }
  return out;
}

async function oneRecording(i: number): Promise<Outcome> {
  const rand = prng((SEED * 1000003 + i) >>> 0); // its own stream: the same faults for a seed, whatever the timing
  const fault = pick<Fault>(['none', 'target', 'recorder', 'ingester'], rand);
  const threads = 1 + Math.floor(rand() * 3);
  const ms = 300 + Math.floor(rand() * 1200);
  const rate = 10 + Math.floor(rand() * 50);
  const at = 50 + Math.floor(rand() * (ms + 300));
  const t0 = Date.now();
  const rec = spawn(process.execPath, [BIN, 'record', '--quiet', '--db', dbFile, '--name', `soak-${i}-${fault}`, '--', churn, String(threads), String(ms), String(rate)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  rec.stdout.on('data', (d: Buffer) => (stdout += d));
  rec.stderr.on('data', (d: Buffer) => (stderr += d));
  const closed = new Promise<{ code: number | null; signal: string | null }>((r) => rec.on('close', (code, signal) => r({ code, signal })));
  // The target's stdout is the recorder's pipe: it stays readable when the recorder is killed.
  const stdoutEnd = new Promise<void>((r) => rec.stdout.on('end', () => r()));
  let applied = false;
  if (fault !== 'none') {
    // The recorder at any instant (before its session exists, too); the target or the ingester
    // at a random instant of the target's run, once it is there.
    let victim: { pid: number; name: string } | undefined;
    if (fault === 'recorder') {
      await sleep(at);
      victim = { pid: rec.pid!, name: 'node' };
    } else {
      for (let k = 0; k < 300 && !victim && rec.exitCode === null; k++) {
        victim = childrenOf(rec.pid!).find((c) => (fault === 'target' ? c.name === 'slow_churn' : c.name.startsWith('memoplan-inges')));
        if (!victim) await sleep(10);
      }
      await sleep(Math.floor(rand() * ms * 0.9));
    }
    if (victim && rec.exitCode === null) {
      try {
        process.kill(victim.pid, 'SIGKILL');
        applied = true;
      } catch {
        /* it ended first */
      }
    }
  }
  const { code, signal } = await closed;
  await stdoutEnd;
  const lines = stdout.trim().split('\n').filter(Boolean);
  const pairs = lines.length === threads ? lines.map(Number).reduce((a, b) => a + b, 0) : null;
  return { i, fault, applied, code, signal, pairs, stderr, seconds: (Date.now() - t0) / 1000 };
}

/** A memoplan command, without blocking the event loop (the recordings are watched meanwhile); killed with SIGKILL after killAfterMs. */
function run(args: string[], killAfterMs: number | null = null): Promise<{ status: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = killAfterMs === null ? null : setTimeout(() => c.kill('SIGKILL'), killAfterMs);
    c.on('close', (status, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ status, signal, stderr });
    });
  });
}

async function planLoop(stop: () => boolean): Promise<{ runs: number; ok: number; refused: number; killed: number; failed: string[] }> {
  const s = { runs: 0, ok: 0, refused: 0, killed: 0, failed: [] as string[] };
  while (!stop()) {
    let ids: number[] = [];
    try {
      const db = new Database(dbFile, { readonly: true });
      ids = (db.prepare(`SELECT id FROM sessions WHERE status IN ('complete', 'killed') AND iterations > 2`).all() as { id: number }[]).map((r) => r.id);
      db.close();
    } catch {
      /* not created yet */
    }
    if (ids.length === 0) {
      await sleep(200);
      continue;
    }
    const id = pick(ids, randPlan);
    // A third of the plans are killed (kill -9) at a random instant: a plan is stored whole or not at all.
    const killAfter = randPlan() < 1 / 3 ? Math.floor(randPlan() * 600) : null;
    const r = await run([BIN, 'plan', '--db', dbFile, '--session', String(id), '--algorithm', pick(['greedy-size', 'best-fit', 'all'], randPlan), '--time-limit', '1'], killAfter);
    s.runs++;
    if (r.signal === 'SIGKILL') s.killed++;
    else if (r.status === 0) s.ok++;
    else if (r.status === 2 && !/internal error/.test(r.stderr)) s.refused++; // e.g. an iteration with nothing to plan
    else s.failed.push(`session ${id}: exit ${r.status}: ${r.stderr.trim()}`);
  }
  return s;
}

async function main(): Promise<void> {
  const cc = spawnSync('cc', ['-O2', '-pthread', '-o', churn, path.join(PACKAGE_ROOT, 'test', 'faults', 'slow_churn.c'), '-ldl'], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const t0 = Date.now();
  let done = false;
  const planner = planLoop(() => done);
  const outcomes: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < RECORDINGS) outcomes.push(await oneRecording(next++));
    }),
  );
  // A killed recorder leaves its ingester storing to the end: wait for every session to end.
  for (let k = 0; k < 600; k++) {
    const db = new Database(dbFile, { readonly: true });
    const open = (db.prepare(`SELECT count(*) AS n FROM sessions WHERE status = 'recording'`).get() as { n: number }).n;
    db.close();
    if (open === 0) break;
    await sleep(100);
  }
  done = true;
  const plans = await planner;
  const seconds = (Date.now() - t0) / 1000;

  // Audit.
  const db = new Database(dbFile, { readonly: true });
  const sessions = db.prepare(`SELECT id, name, status, events, markers, events_claimed, exit_code, signal FROM sessions ORDER BY id`).all() as {
    id: number;
    name: string;
    status: string;
    events: number;
    markers: number;
    events_claimed: number | null;
    exit_code: number | null;
    signal: string | null;
  }[];
  const rowsOf = db.prepare(`SELECT count(*) AS n FROM events WHERE thread_id IN (SELECT id FROM threads WHERE session_id = ?)`);
  const problems: string[] = [];
  let events = 0;
  for (const s of sessions) {
    const rows = (rowsOf.get(s.id) as { n: number }).n;
    events += rows;
    const o = outcomes.find((x) => s.name === `soak-${x.i}-${x.fault}`);
    if (s.status === 'recording') problems.push(`session ${s.id} (${s.name}) stuck in recording`);
    if (rows !== s.events + s.markers) problems.push(`session ${s.id} (${s.name}): ${rows} rows for ${s.events} events + ${s.markers} markers`);
    if (s.events_claimed !== null && s.events !== s.events_claimed) problems.push(`session ${s.id} (${s.name}): ${s.events} events stored of ${s.events_claimed} claimed`);
    if (o && o.pairs !== null && s.events < 2 * o.pairs) problems.push(`session ${s.id} (${s.name}): ${s.events} events for ${o.pairs} malloc/free pairs`);
    if (o && (o.fault === 'none' || o.fault === 'ingester' || !o.applied) && o.code !== 0) {
      problems.push(`session ${s.id} (${s.name}): record exited ${o.code} (${o.signal}): ${o.stderr.trim().split('\n').pop()}`);
    }
    if (o && /internal error/.test(o.stderr)) problems.push(`session ${s.id}: internal error: ${o.stderr.trim()}`);
  }
  const halfPlans = (
    db.prepare(`SELECT count(*) AS n FROM plans p WHERE p.buffers != (SELECT count(*) FROM plan_buffers b WHERE b.plan_id = p.id)`).get() as { n: number }
  ).n;
  if (halfPlans) problems.push(`${halfPlans} plans without all their buffers`);
  const orphans = (db.prepare(`SELECT count(*) AS n FROM events WHERE thread_id NOT IN (SELECT id FROM threads)`).get() as { n: number }).n;
  if (orphans) problems.push(`${orphans} orphan event rows`);
  const integrity = db.pragma('integrity_check', { simple: true });
  if (integrity !== 'ok') problems.push(`integrity_check: ${integrity}`);
  db.close();
  // An empty rec-* folder is a recorder killed as it started (no trace in it; the next record
  // sweeps it away after a minute).
  const left = (fs.existsSync(traceRoot) ? fs.readdirSync(traceRoot) : []).filter(
    (n) => !(n.startsWith('rec-') && fs.readdirSync(path.join(traceRoot, n)).length === 0),
  );
  if (left.length) problems.push(`trace folders left: ${left.join(', ')}`);
  // A recorder killed before it created its session leaves none (and ran no target): fine.
  for (const o of outcomes) {
    if (!sessions.some((s) => s.name === `soak-${o.i}-${o.fault}`) && !(o.fault === 'recorder' && o.applied && o.pairs === null)) {
      problems.push(`recording ${o.i} (${o.fault}) left no session: exit ${o.code}: ${o.stderr.trim()}`);
    }
  }
  if (plans.failed.length) problems.push(...plans.failed.map((f) => `plan: ${f}`));

  const by = (f: Fault) => outcomes.filter((o) => o.fault === f);
  const count = (f: Fault) => `${by(f).length} (${by(f).filter((o) => o.applied).length} applied)`;
  const statuses = sessions.reduce<Record<string, number>>((m, s) => ((m[s.status] = (m[s.status] ?? 0) + 1), m), {});
  console.log(
    JSON.stringify(
      {
        recordings: RECORDINGS,
        parallel: PARALLEL,
        seed: SEED,
        seconds,
        faults: { none: count('none'), target: count('target'), recorder: count('recorder'), ingester: count('ingester') },
        statuses,
        events_stored: events,
        plans,
        integrity,
        database_bytes: fs.statSync(dbFile).size,
        problems,
      },
      null,
      2,
    ),
  );
  if (problems.length === 0) fs.rmSync(work, { recursive: true, force: true });
  else console.log(`kept for inspection: ${work}`);
  process.exitCode = problems.length ? 1 : 0;
}

void main();
