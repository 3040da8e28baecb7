/**
 * `npm run bench:ab`: the allocator A/B over the example model zoo, as a grid.
 *
 * For each model (resnet18, mobilenet_v2, transformer): `memoplan ab --plan auto --vary
 * batch=...` at 1 and 2 serving threads: every cell recorded with the minimal agent and
 * planned, then glibc, jemalloc, tcmalloc, mimalloc and the plan arms (plan over glibc and over
 * each of them), runs interleaved. Prints every arm's median and p99 ratios vs glibc with their
 * 95% bootstrap intervals and verdicts, then the grid: where the fastest plan arm wins or loses
 * against the fastest allocator, by latency and peak RSS, with the rusage columns that explain it.
 * Each model's rows and grid also go to stderr as soon as that model is done.
 *
 * Then the Hugging Face zoo (GPT-2 and BERT-base from their configs, resources/workloads/
 * hf_infer.py) on torch 2.x from the tests' venv (.venv-torch2, made by `npm run bench:ab`'s
 * setup), the same way. Every row names the torch version it ran under.
 *
 * Env: BENCH_RUNS (default 5 processes per arm), BENCH_ITERATIONS (20 kept per thread),
 * BENCH_WARMUP (3), BENCH_MODELS (comma list, '' for none), BENCH_THREADS (1,2),
 * BENCH_BATCHES (1,32), BENCH_HF_MODELS (gpt2,bert; '' for none), BENCH_HF_BATCHES (1,8),
 * BENCH_HF_SEQ_LEN (32), BENCH_TORCH2_PYTHON (default .venv-torch2/bin/python),
 * BENCH_NO_PLAN=1 (allocators only, no grid).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAbCommand } from '../main/ab/cli-ab';
import type { ArmReport } from '../main/ab/analysis';
import { fmtBytes } from '../main/ab/format';
import { formatSweep, type SweepPoint } from '../main/ab/sweep';
import { runSweep } from '../main/ab/sweep-run';
import { PACKAGE_ROOT } from '../main/paths';

const RUNS = process.env.BENCH_RUNS ?? '5';
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const list = (v: string) => v.split(',').filter((x) => x);
const MODELS = list(process.env.BENCH_MODELS ?? 'resnet18,mobilenet_v2,transformer');
const HF_MODELS = list(process.env.BENCH_HF_MODELS ?? 'gpt2,bert');
const HF_BATCHES = process.env.BENCH_HF_BATCHES ?? '1,8';
const HF_SEQ_LEN = process.env.BENCH_HF_SEQ_LEN ?? '32';
const TORCH2_PYTHON = process.env.BENCH_TORCH2_PYTHON ?? path.join(PACKAGE_ROOT, '.venv-torch2', 'bin', 'python');
const THREADS = process.env.BENCH_THREADS ?? '1,2';
const BATCHES = process.env.BENCH_BATCHES ?? '1,32';
const WORKLOAD = path.join(PACKAGE_ROOT, 'resources', 'workloads', 'torchvision_infer.py');
const HF_WORKLOAD = path.join(PACKAGE_ROOT, 'resources', 'workloads', 'hf_infer.py');

interface ZooEntry {
  model: string;
  command: string[];
  batches: string;
  python?: string;
}

const HEAD = ['model', 'torch', 'batch', 'thr', 'allocator', 'samples', 'median ms', 'median / glibc [95% CI]', 'verdict', 'p99 ms', 'p99 / glibc [95% CI]', 'peak RSS', 'RSS verdict', 'plan'];

function table(rows: string[][]): string {
  const widths = HEAD.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i])).join('  ').trimEnd();
  return [line(HEAD), ...rows.map(line)].join('\n') + '\n';
}

function ci(v: number | null, lo: number | null, hi: number | null): string {
  return v === null ? '-' : `${v.toFixed(3)} [${lo!.toFixed(3)}, ${hi!.toFixed(3)}]`;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memoplan-bench-ab-'));
  const dbFile = path.join(dir, 'bench.db');
  const rows: string[][] = [];
  const points: SweepPoint[] = [];
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const torchVersions = new Set<string>();
  const zoo: ZooEntry[] = MODELS.map((model) => ({
    model,
    command: ['python3', WORKLOAD, '--model', model, '--batch', '{batch}', '--iterations', String(WARMUP + ITERATIONS), '--warmup', '0'],
    batches: BATCHES,
  }));
  if (HF_MODELS.length && !fs.existsSync(TORCH2_PYTHON)) log(`Hugging Face zoo skipped: no ${TORCH2_PYTHON} (npm run bench:ab makes .venv-torch2)`);
  else {
    for (const model of HF_MODELS) {
      zoo.push({
        model: `hf:${model}`,
        command: ['python3', HF_WORKLOAD, '--model', model, '--batch', '{batch}', '--seq-len', HF_SEQ_LEN, '--iterations', String(WARMUP + ITERATIONS), '--warmup', '0'],
        batches: HF_BATCHES,
        python: TORCH2_PYTHON,
      });
    }
  }
  try {
    const { openDatabase } = await import('../main/store/db');
    for (const { model, command, batches, python } of zoo) {
      const opts = { db: dbFile, threads: THREADS, runs: RUNS, warmup: String(WARMUP), iterations: String(ITERATIONS), quiet: true, python };
      log(`${model}: grid batch=${batches}${process.env.BENCH_NO_PLAN ? '' : ', each cell recorded and planned (--plan auto)'}`);
      const s = await runSweep(
        command,
        { db: dbFile, vary: [`batch=${batches}`], plan: process.env.BENCH_NO_PLAN ? undefined : 'auto', python },
        (cmd, cell, plan, sweep) => runAbCommand(cmd, { ...opts, allocators: 'glibc,jemalloc,tcmalloc,mimalloc', plan, cell, sweep }),
        (m) => log(`${model}: ${m}`),
      );
      const first = rows.length;
      const db = openDatabase(dbFile);
      const torch = (db.prepare(`SELECT torch_version FROM ab_runs ORDER BY id DESC LIMIT 1`).get() as { torch_version: string | null } | undefined)?.torch_version ?? '?';
      db.close();
      torchVersions.add(torch);
      points.push(...s.points.map((p) => ({ ...p, cell: { model, torch, ...p.cell } })));
      for (const c of s.cells) {
        for (const a of c.report.arms as ArmReport[]) {
          rows.push([
            model,
            torch,
            c.cell.batch,
            String(a.threads),
            a.allocator,
            a.status === 'ok' ? String(a.samples) : 'FAILED',
            a.median_ms === null ? '-' : a.median_ms.toFixed(2),
            ci(a.median_ratio, a.ratio_ci_low, a.ratio_ci_high),
            a.plan_note ? 'no verdict (not planned)' : a.verdict ?? '-',
            a.p99_ms === null ? '-' : a.p99_ms.toFixed(2),
            ci(a.p99_ratio, a.p99_ratio_ci_low, a.p99_ratio_ci_high),
            fmtBytes(a.peak_rss_bytes),
            a.rss_verdict ?? '-',
            a.plan_hit_rate !== null ? `${(a.plan_hit_rate * 100).toFixed(1)}% hits` : a.plan_status ?? '',
          ]);
        }
      }
      // Each model's table as soon as it is done (stderr): a long grid cut short still shows
      // what it measured. The whole table, and the grid, follow on stdout at the end.
      const mine = points.filter((p) => p.cell.model === model);
      log(`${model} done:\n${table(rows.slice(first))}${mine.some((p) => p.best_plan || p.unplanned.length) ? formatSweep(mine) : ''}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    `allocator A/B, torch ${[...torchVersions].join(' and ')} (each row names its own): ${RUNS} interleaved runs per arm, ${ITERATIONS} iterations kept per serving thread after ${WARMUP} warm-up, ` +
      `intra-op threads 1; ratios below 1 are faster than glibc; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})\n` +
      table(rows) + (points.some((p) => p.best_plan || p.unplanned.length) ? formatSweep(points) : ''),
  );
}

void main().catch((err) => {
  process.stderr.write(`bench:ab failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
