/**
 * The C churn program (build/native/bench_churn: T threads, each PAIRS malloc(32)/free pairs)
 * run as a user records it, `memoplan record --db X -- bench_churn T PAIRS`, with the trace on
 * /dev/shm (the default) and on disk (MEMOPLAN_TRACE_ROOT), interleaved with plain and
 * heaptrack runs in one repetition loop (plain, record shm, record disk, heaptrack, at 1 then 2
 * threads, REPS times), so that drift and other load hit every arm alike. What it reports is
 * what the user pays: the target's own ns per malloc/free event (its wall clock and its
 * threads' CPU time, as bench_churn prints them) with the ingester, the Node parent and the
 * target sharing the machine's cores. Every recorded run must have stored every event: the
 * session's events (`memoplan sessions --json`) must equal what the interposer counted and
 * 2·PAIRS·T plus the warm-up and setup events; a run that did not is a failure.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../main/paths';
import { ENV } from '../shared/env-vars';

/** bench_churn's warm-up: 1,000 malloc/free pairs per thread before its timed loop. */
const WARMUP_EVENTS_PER_THREAD = 2000;
/** Events of the process outside the threads' loops (libc and loader setup): a few. */
const SETUP_EVENTS_MAX = 64;
export const GOAL_ADDED_NS = 15;

type Arm = 'plain' | 'interposer-shm' | 'record-shm' | 'record-disk' | 'record-shm-unpaced' | 'record-disk-unpaced' | 'heaptrack';
/**
 * interposer-shm: libmemoplan.so writing its trace to /dev/shm with nothing storing it (no
 * ingester, no Node parent): what record-shm adds on top of it is the cost of storing while the
 * target runs. unpaced: memoplan-ingest polling at full speed while the target runs
 * (MEMOPLAN_INGEST_PACE=0).
 */
function arms(unpaced: boolean): Arm[] {
  return unpaced
    ? ['plain', 'interposer-shm', 'record-shm', 'record-shm-unpaced', 'record-disk', 'record-disk-unpaced', 'heaptrack']
    : ['plain', 'interposer-shm', 'record-shm', 'record-disk', 'heaptrack'];
}
const THREADS = [1, 2];

interface Run {
  wall: number;  // ns per event, the target's CLOCK_MONOTONIC
  cpu: number;   // ns per event, its threads' CPU time
  seconds: number;  // the whole command, until stored for memoplan
}

interface Options {
  reps: number;
  pairs: number;
  /** Also the record arms with the ingester unpaced (before/after in one interleaved run). */
  unpaced?: boolean;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function range(xs: number[], digits = 1): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0].toFixed(digits)}..${s[s.length - 1].toFixed(digits)}`;
}

function parseChurn(out: string): { wall: number; cpu: number } {
  const m = /ns_per_event=([0-9.]+) cpu_ns_per_event=([0-9.]+)/.exec(out);
  if (!m) throw new Error(`bench_churn printed no figures: ${out.slice(-500)}`);
  return { wall: Number(m[1]), cpu: Number(m[2]) };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { out: string; seconds: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
  return { out: r.stdout, seconds };
}

/** The recorded session's event counts, as `memoplan sessions --json` shows them. */
function storedEvents(cli: string, dbFile: string): { events: number; claimed: number | null; status: string } {
  const { out } = run(process.execPath, [cli, 'sessions', '--db', dbFile, '--json']);
  const rows = JSON.parse(out) as { events: number; events_claimed: number | null; status: string }[];
  if (rows.length !== 1) throw new Error(`${dbFile}: ${rows.length} sessions, expected 1`);
  return { events: rows[0].events, claimed: rows[0].events_claimed, status: rows[0].status };
}

/** Runs the churn arms; returns the failures (events not all stored), printed already. */
export function recordChurn(o: Options): string[] {
  const churn = path.join(PACKAGE_ROOT, 'build', 'native', 'bench_churn');
  const cli = path.join(PACKAGE_ROOT, 'bin', 'memoplan.js');
  if (!fs.existsSync(churn)) throw new Error(`${churn} is not built (npm run build)`);
  const hasHeaptrack = spawnSync('sh', ['-c', 'command -v heaptrack']).status === 0;
  // The disk arm's trace root: a folder on a disk file system (not tmpfs), next to the bench's
  // temporary files unless TMPDIR is a tmpfs too; then under the package.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'memoplan-churn-'));
  const diskRoot = fs.statfsSync(work).type === 0x01021994 ? fs.mkdtempSync(path.join(PACKAGE_ROOT, '.bench-traces-')) : path.join(work, 'traces');
  fs.mkdirSync(diskRoot, { recursive: true });
  const results = new Map<string, Run[]>();  // `${arm} ${threads}` -> one per repetition
  const failures: string[] = [];
  const key = (arm: Arm, t: number) => `${arm} ${t}`;
  const ARMS = arms(o.unpaced ?? false);
  try {
    for (let rep = 1; rep <= o.reps; rep++) {
      process.stderr.write(`churn under memoplan record: repetition ${rep}/${o.reps}\n`);
      for (const t of THREADS) {
        for (const arm of ARMS) {
          if (arm === 'heaptrack' && !hasHeaptrack) continue;
          const args = [String(t), String(o.pairs)];
          let r: { out: string; seconds: number } | undefined;
          if (arm === 'plain') r = run(churn, args);
          else if (arm === 'heaptrack') r = run('heaptrack', ['-o', path.join(work, `ht-${rep}-${t}`), churn, ...args]);
          else if (arm === 'interposer-shm') {
            const traceDir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : work, 'memoplan-bench-'));
            try {
              r = run(churn, args, { ...process.env, [ENV.TRACE_DIR]: traceDir, LD_PRELOAD: path.join(PACKAGE_ROOT, 'build', 'native', 'libmemoplan.so') });
            } finally {
              fs.rmSync(traceDir, { recursive: true, force: true });
            }
          }
          else {
            const dbFile = path.join(work, `${arm}-${rep}-${t}.db`);
            const env = { ...process.env };
            if (arm.startsWith('record-disk')) env[ENV.TRACE_ROOT] = diskRoot;
            else delete env[ENV.TRACE_ROOT];
            if (arm.endsWith('-unpaced')) env[ENV.INGEST_PACE] = '0';
            else delete env[ENV.INGEST_PACE];
            r = run(process.execPath, [cli, 'record', '--db', dbFile, '--', churn, ...args], env);
            const s = storedEvents(cli, dbFile);
            const loops = 2 * o.pairs * t + WARMUP_EVENTS_PER_THREAD * t;
            if (s.status !== 'complete' || s.claimed !== s.events || s.events < loops || s.events > loops + SETUP_EVENTS_MAX) {
              const f = `${arm}, ${t} thread(s), repetition ${rep}: ${s.events} events stored (status ${s.status}), the interposer counted ${s.claimed}, expected ${loops} + at most ${SETUP_EVENTS_MAX} setup events`;
              console.log(`FAILURE: ${f}`);
              failures.push(f);
            }
            for (const f of fs.readdirSync(work)) if (f.startsWith(`${arm}-${rep}-${t}.db`)) fs.rmSync(path.join(work, f), { force: true });
          }
          for (const f of fs.readdirSync(work)) if (f.startsWith('ht-')) fs.rmSync(path.join(work, f), { recursive: true, force: true });
          if (!r) throw new Error(`arm ${arm}: no run`);
          const list = results.get(key(arm, t)) ?? [];
          list.push({ ...parseChurn(r.out), seconds: r.seconds });
          results.set(key(arm, t), list);
        }
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(diskRoot, { recursive: true, force: true });
  }
  console.log(
    `\nC churn under \`memoplan record\` (bench_churn T ${o.pairs}; ${o.reps} interleaved repetitions; ${os.cpus().length} cores): ns per malloc or free event, the target's wall clock`,
  );
  console.log(
    `${'arm'.padEnd(19)} ${'threads'.padStart(7)} ${'wall ns'.padStart(8)} ${'min..max'.padStart(15)} ${'added'.padStart(7)} ${'min..max'.padStart(15)} ${'cpu ns'.padStart(7)} ${'added cpu'.padStart(9)} ${'cmd s'.padStart(6)}`,
  );
  for (const t of THREADS) {
    const plain = results.get(key('plain', t)) ?? [];
    for (const arm of ARMS) {
      const xs = results.get(key(arm, t));
      if (!xs?.length) continue;
      // Added: per repetition, this arm minus that repetition's plain run; their median.
      const added = xs.map((x, i) => x.wall - plain[i].wall);
      const addedCpu = xs.map((x, i) => x.cpu - plain[i].cpu);
      const cols = [
        arm.padEnd(19),
        String(t).padStart(7),
        median(xs.map((x) => x.wall)).toFixed(1).padStart(8),
        range(xs.map((x) => x.wall)).padStart(15),
        (arm === 'plain' ? '' : median(added).toFixed(1)).padStart(7),
        (arm === 'plain' ? '' : range(added)).padStart(15),
        median(xs.map((x) => x.cpu)).toFixed(1).padStart(7),
        (arm === 'plain' ? '' : median(addedCpu).toFixed(1)).padStart(9),
        median(xs.map((x) => x.seconds)).toFixed(2).padStart(6),
      ];
      console.log(cols.join(' '));
    }
  }
  console.log(`goal: +${GOAL_ADDED_NS} ns per event (added, record arms). added: median over repetitions of (arm - plain of the same repetition);`);
  console.log('interposer-shm: the interposer writing its trace to /dev/shm, nothing storing it (record-shm minus it: the cost of storing while the target runs);');
  console.log('cpu ns: the target threads\' CPU time per event; cmd s: the whole command (for record: until every event is stored).');
  console.log(failures.length ? `${failures.length} recorded run(s) did NOT store every event (above)` : 'every recorded run stored every event');
  return failures;
}
