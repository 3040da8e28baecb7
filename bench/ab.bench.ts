/**
 * `npm run bench:ab`: the allocator A/B over the example model zoo.
 *
 * For each model (resnet18, mobilenet_v2, transformer): record one --no-ops session and plan it
 * (for the plan arm), then one `memoplan ab` at 1 and 2 serving threads under glibc, jemalloc,
 * tcmalloc, mimalloc and the plan, runs interleaved. Prints, per model and thread count, the
 * median and p99 latency ratios vs glibc with their 95% bootstrap intervals and the verdicts.
 *
 * Env: BENCH_RUNS (default 5 processes per arm), BENCH_ITERATIONS (20 kept per thread),
 * BENCH_WARMUP (3), BENCH_MODELS (comma list), BENCH_THREADS (1,2), BENCH_NO_PLAN=1.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAbCommand } from '../main/ab/cli-ab';
import type { ArmReport } from '../main/ab/analysis';
import { fmtBytes } from '../main/ab/format';
import { PACKAGE_ROOT } from '../main/paths';

const RUNS = process.env.BENCH_RUNS ?? '5';
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const MODELS = (process.env.BENCH_MODELS ?? 'resnet18,mobilenet_v2,transformer').split(',');
const THREADS = process.env.BENCH_THREADS ?? '1,2';
const BIN = path.join(PACKAGE_ROOT, 'bin', 'memoplan.js');
const WORKLOAD = path.join(PACKAGE_ROOT, 'resources', 'workloads', 'torchvision_infer.py');

function cli(args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { ok: r.status === 0, stdout: r.stdout, stderr: r.stderr };
}

function ci(v: number | null, lo: number | null, hi: number | null): string {
  return v === null ? '-' : `${v.toFixed(3)} [${lo!.toFixed(3)}, ${hi!.toFixed(3)}]`;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memoplan-bench-ab-'));
  const dbFile = path.join(dir, 'bench.db');
  const rows: string[][] = [];
  const args = (model: string) => [WORKLOAD, '--model', model, '--batch', '1', '--iterations', String(WARMUP + ITERATIONS), '--warmup', '0'];
  try {
    for (const model of MODELS) {
      let plan: string | undefined;
      if (!process.env.BENCH_NO_PLAN) {
        process.stderr.write(`${model}: recording (--no-ops) and planning for the plan arm\n`);
        const rec = cli(['record', '--quiet', '--no-ops', '--db', dbFile, '--name', model, '--', 'python3', ...args(model)]);
        const id = rec.ok ? /session (\d+):/.exec(rec.stderr)?.[1] : undefined;
        const planFile = path.join(dir, `${model}.plan`);
        if (id && cli(['plan', '--db', dbFile, '--session', id, '--time-limit', '5', '--out', planFile]).ok) plan = planFile;
        else process.stderr.write(`${model}: no plan (record or plan failed): plan arm skipped\n${rec.stderr}\n`);
      }
      process.stderr.write(`${model}: A/B\n`);
      const { report } = await runAbCommand(['python3', ...args(model)], {
        db: dbFile,
        allocators: 'glibc,jemalloc,tcmalloc,mimalloc' + (plan ? ',plan' : ''),
        plan,
        threads: THREADS,
        runs: RUNS,
        warmup: String(WARMUP),
        iterations: String(ITERATIONS),
      });
      for (const a of report.arms as ArmReport[]) {
        rows.push([
          model,
          String(a.threads),
          a.allocator,
          a.status === 'ok' ? String(a.samples) : 'FAILED',
          a.median_ms === null ? '-' : a.median_ms.toFixed(2),
          ci(a.median_ratio, a.ratio_ci_low, a.ratio_ci_high),
          a.verdict ?? '-',
          a.p99_ms === null ? '-' : a.p99_ms.toFixed(2),
          ci(a.p99_ratio, a.p99_ratio_ci_low, a.p99_ratio_ci_high),
          a.p99_verdict ?? '-',
          fmtBytes(a.peak_rss_bytes),
          a.allocator === 'plan' ? (a.plan_hit_rate !== null ? `${(a.plan_hit_rate * 100).toFixed(1)}% hits` : a.plan_status ?? 'no plan stats') : '',
        ]);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const head = ['model', 'thr', 'allocator', 'samples', 'median ms', 'median / glibc [95% CI]', 'verdict', 'p99 ms', 'p99 / glibc [95% CI]', 'p99 verdict', 'peak RSS', 'plan'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i])).join('  ').trimEnd();
  process.stdout.write(
    `allocator A/B: ${RUNS} interleaved runs per arm, ${ITERATIONS} iterations kept per serving thread after ${WARMUP} warm-up, batch 1, ` +
      `intra-op threads 1; ratios below 1 are faster than glibc; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})\n` +
      [line(head), ...rows.map(line)].join('\n') + '\n',
  );
}

void main().catch((err) => {
  process.stderr.write(`bench:ab failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
