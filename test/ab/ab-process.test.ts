import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { discoverAllocators, KNOWN_ALLOCATORS } from '../../main/ab/allocators';
import { openDatabase } from '../../main/store/db';
import { UserError } from '../../shared/errors';
import { isOneLineError, runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * The A/B runner with a stand-in workload (a shell script that writes the agent's latency file
 * itself): interleaving, warm-up and iteration cuts, failed arms, bad input. No torch: fast.
 */

const dir = tmpDir('memoplan-ab-');
const JEMALLOC = KNOWN_ALLOCATORS.find((a) => a.name === 'jemalloc')!.candidates.find((c) => fs.existsSync(c));
const TCMALLOC = KNOWN_ALLOCATORS.find((a) => a.name === 'tcmalloc')!.candidates.find((c) => fs.existsSync(c));

// Each serving thread t writes 5 samples t*1000 + i (i = 0..4), interleaved across threads.
// Under jemalloc it kills itself with SIGSEGV; under tcmalloc it exits 3 after writing.
const fake = path.join(dir, 'fake-workload.sh');
fs.writeFileSync(
  fake,
  `#!/bin/sh
case "$LD_PRELOAD" in *jemalloc*) echo "boom under jemalloc" >&2; kill -SEGV $$ ;; esac
n=\${MEMOPLAN_SERVING_THREADS:-1}
for i in 0 1 2 3 4; do
  t=0
  while [ $t -lt $n ]; do echo "$((t + 11)) $((t * 1000 + i))" >> "$MEMOPLAN_LATENCY_FILE"; t=$((t + 1)); done
done
case "$LD_PRELOAD" in *tcmalloc*) echo "tcmalloc said no" >&2; exit 3 ;; esac
exit 0
`,
  { mode: 0o755 },
);

test('interleaved runs, warm-up and iteration cuts, every kept sample stored', async () => {
  const db = path.join(dir, 'fake.db');
  const r = await runCli(['ab', '--db', db, '--quiet', '--json', '--allocators', 'glibc', '--threads', '1,2', '--runs', '3', '--warmup', '1', '--iterations', '3', '--', fake]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.arms.length, 2);
  const d = openDatabase(db);
  const procs = d.prepare(`SELECT p.seq, p.run_index, a.threads, a.allocator FROM ab_processes p JOIN ab_arms a ON a.id = p.arm_id WHERE p.ab_run_id = ? ORDER BY p.seq`).all(out.ab_run_id) as {
    seq: number; run_index: number; threads: number;
  }[];
  assert.deepEqual(procs.map((p) => [p.run_index, p.threads]), [[1, 1], [1, 2], [2, 1], [2, 2], [3, 1], [3, 2]], 'A B A B A B');
  const samples = d.prepare(
    `SELECT a.threads, s.thread_index, s.iteration, s.latency_ns FROM ab_samples s JOIN ab_processes p ON p.id = s.process_id JOIN ab_arms a ON a.id = p.arm_id
     WHERE p.ab_run_id = ? AND p.run_index = 1 ORDER BY a.threads, s.thread_index, s.iteration`,
  ).all(out.ab_run_id) as { threads: number; thread_index: number; iteration: number; latency_ns: number }[];
  assert.deepEqual(samples.map((s) => [s.threads, s.thread_index, s.iteration, s.latency_ns]), [
    [1, 0, 0, 1], [1, 0, 1, 2], [1, 0, 2, 3],
    [2, 0, 0, 1], [2, 0, 1, 2], [2, 0, 2, 3], [2, 1, 0, 1001], [2, 1, 1, 1002], [2, 1, 2, 1003],
  ]);
  const total = d.prepare(`SELECT count(*) AS n FROM ab_samples s JOIN ab_processes p ON p.id = s.process_id WHERE p.ab_run_id = ?`).get(out.ab_run_id) as { n: number };
  assert.equal(total.n, 3 * (3 + 6));
  const arm2 = out.arms.find((a: { threads: number }) => a.threads === 2);
  assert.equal(arm2.samples, 18);
  assert.equal(arm2.median_ms, (3 + 1001) / 2 / 1e6); // 9 samples of 1..3, 9 of 1001..1003
  assert.equal(arm2.verdict, 'baseline');
  assert.ok(arm2.peak_rss_bytes > 0);
  assert.ok(arm2.minor_faults > 0);
  const run = d.prepare(`SELECT status, config, host FROM ab_runs WHERE id = ?`).get(out.ab_run_id) as { status: string; config: string; host: string };
  assert.equal(run.status, 'complete');
  assert.equal(JSON.parse(run.config).iterations, 3);
  assert.ok(JSON.parse(run.host).cores >= 1);
  d.close();
});

test('a workload that crashes under one allocator: that arm fails with its signal, the others complete', { skip: !JEMALLOC || !TCMALLOC ? 'jemalloc or tcmalloc not installed' : false }, async () => {
  const db = path.join(dir, 'crash.db');
  const r = await runCli(['ab', '--db', db, '--quiet', '--json', '--allocators', 'glibc,jemalloc,tcmalloc,mimalloc', '--runs', '2', '--warmup', '0', '--', fake]);
  assert.equal(r.code, 1, 'some arm failed');
  const out = JSON.parse(r.stdout);
  const arm = (n: string) => out.arms.find((a: { allocator: string }) => a.allocator === n);
  assert.equal(arm('glibc').status, 'ok');
  assert.equal(arm('glibc').samples, 10);
  assert.equal(arm('jemalloc').status, 'failed');
  assert.equal(arm('jemalloc').samples, 0);
  assert.equal(arm('jemalloc').median_ratio, null);
  assert.equal(arm('jemalloc').failures.length, 2);
  assert.equal(arm('jemalloc').failures[0].signal, 11);
  assert.match(arm('jemalloc').reason, /SIGSEGV \(signal 11\).*boom under jemalloc/);
  assert.equal(arm('tcmalloc').status, 'failed');
  assert.equal(arm('tcmalloc').failures[0].exit_code, 3);
  assert.match(arm('tcmalloc').reason, /exited with code 3; stderr: tcmalloc said no/);
  if (arm('mimalloc')) assert.equal(arm('mimalloc').status, 'ok');
  assert.match(r.stderr, /jemalloc x1 run 1 failed: killed by SIGSEGV/);
  const d = openDatabase(db);
  const rows = d.prepare(`SELECT a.allocator, a.status, p.signal, p.exit_code FROM ab_processes p JOIN ab_arms a ON a.id = p.arm_id ORDER BY p.seq`).all() as {
    allocator: string; status: string; signal: number | null; exit_code: number | null;
  }[];
  assert.deepEqual(rows.filter((x) => x.allocator === 'jemalloc').map((x) => [x.status, x.signal]), [['failed', 11], ['failed', 11]]);
  assert.deepEqual(rows.filter((x) => x.allocator === 'tcmalloc').map((x) => [x.status, x.exit_code]), [['failed', 3], ['failed', 3]]);
  d.close();
  // the table shows the failure too
  const t = await runCli(['ab', '--db', db, '--quiet', '--allocators', 'glibc,jemalloc', '--runs', '1', '--warmup', '0', '--', fake]);
  assert.equal(t.code, 1);
  assert.match(t.stdout, /jemalloc \(1 failed\).*FAILED: every run failed; first: killed by SIGSEGV/);
});

test('a run with too few iterations is failed with the reason', async () => {
  const r = await runCli(['ab', '--db', path.join(dir, 'short.db'), '--quiet', '--json', '--allocators', 'glibc', '--runs', '1', '--warmup', '2', '--iterations', '10', '--', fake]);
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout);
  assert.match(out.arms[0].reason, /serving thread 0 produced 5 iterations; --warmup 2 \+ --iterations 10 = 12 needed/);
});

test('bad input: one-line errors, exit 2, nothing run', async () => {
  const db = path.join(dir, 'bad.db');
  const cases: [string[], RegExp][] = [
    [['--allocators', 'glibc,hoard'], /unknown allocator 'hoard'; expected one of glibc, jemalloc, tcmalloc, mimalloc, plan/],
    [['--runs', '0'], /--runs must be at least 1/],
    [['--allocators', 'glibc,jemalloc=/nonexistent/libjemalloc.so.2'], /allocator library not found: \/nonexistent\/libjemalloc.so.2 \(given for jemalloc\)/],
    [['--allocators', `glibc,jemalloc=${fake}`], /the dynamic loader cannot preload .*fake-workload.sh \(given for jemalloc\)/],
    [['--allocators', 'glibc,glibc'], /listed twice/],
    [['--allocators', 'glibc', '--baseline', 'jemalloc'], /--baseline jemalloc is not one of --allocators/],
    [['--allocators', 'glibc,plan'], /the plan arms need --plan/],
    [['--threads', '0'], /--threads takes a list of positive integers/],
    [['--iterations', 'x'], /--iterations must be a non-negative integer/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(['ab', '--db', db, '--quiet', ...args, '--', fake]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(isOneLineError(r.stderr), `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  const none = await runCli(['ab', '--db', db, '--quiet', '--allocators', 'glibc', '--', path.join(dir, 'no-such-cmd')]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /command not found/);
  const d = openDatabase(db);
  assert.equal((d.prepare(`SELECT count(*) AS n FROM ab_runs`).get() as { n: number }).n, 0, 'nothing stored for refused input');
  d.close();
});

test('an allocator whose library is not installed is skipped with its Debian package', () => {
  const known = KNOWN_ALLOCATORS.map((a) => (a.name === 'tcmalloc' ? { ...a, candidates: ['/nonexistent/libtcmalloc_minimal.so.4'] } : a));
  const d = discoverAllocators('glibc,tcmalloc', known);
  assert.deepEqual(d.usable.map((a) => a.name), ['glibc']);
  assert.equal(d.skipped.length, 1);
  assert.match(d.skipped[0].reason, /tcmalloc not found .*install the Debian package libtcmalloc-minimal4/);
  assert.throws(() => discoverAllocators('', known), UserError);
  assert.throws(() => discoverAllocators('glibc=/x.so', known), /takes no library path/);
});
