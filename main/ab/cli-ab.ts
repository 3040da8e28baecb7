import fs from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../../shared/errors';
import { openDatabase } from '../store/db';
import { hostInfo } from '../record/host';
import { analyze, type AbReport } from './analysis';
import { formatReport } from './format';
import { runAb, type ProcessResult } from './runner';
import { buildSpec, type AbOptions } from './spec';
import { DEFAULT_RESAMPLES, DEFAULT_SEED } from './stats';
import { createAbRun, storeProcess } from './store';
import { finishAbRun, loadAbRun } from '../store/ab-runs';
import { DEFAULT_ALLOCATORS } from './allocators';
import { cellLabel, formatSweep } from './sweep';
import { runSweep } from './sweep-run';
import { ENV } from '../../shared/env-vars';

/** `memoplan ab`: the allocator A/B runner's command line. */

const DEFAULT_DB = process.env[ENV.DB] ?? 'memoplan.db';

function note(msg: string): void {
  process.stderr.write(`memoplan: ${msg}\n`);
}

function clock(s: number): string {
  const t = Math.round(s);
  return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, '0')}`;
}

interface CliOptions extends Omit<AbOptions, 'command'> {
  db: string;
  json?: boolean;
  quiet?: boolean;
  vary?: string[];
}

export interface AbOutcome {
  report: AbReport;
  exitCode: number;
}

/** Everything `memoplan ab` does but printing the result; the app can call it too. */
export async function runAbCommand(command: string[], opts: CliOptions, log: (msg: string) => void = note): Promise<AbOutcome> {
  const db = openDatabase(opts.db);
  try {
    const spec = buildSpec({ ...opts, command }, db, opts.db);
    try {
      for (const s of spec.skipped) log(`skipping ${s.name}: ${s.reason}`);
      for (const n of spec.notes) log(n);
      const { abRunId, armIds } = createAbRun(db, spec, hostInfo(), DEFAULT_SEED, DEFAULT_RESAMPLES);
      let stop = false;
      const onSigint = () => {
        stop = true;
        log('interrupted: stopping after the current process; what was measured is kept');
      };
      process.on('SIGINT', onSigint);
      const progress = !opts.quiet;
      const tty = process.stderr.isTTY;
      const warnedThreads = new Set<number>();
      let results: ProcessResult[];
      let stopped: boolean;
      try {
        ({ results, stopped } = await runAb(spec, {
          shouldStop: () => stop,
          onStart: (p) => {
            if (!progress) return;
            const line = `ab [${p.seq}/${p.total}] ${p.arm.allocator.name} x${p.arm.threads} thread(s), run ${p.runIndex}/${spec.runs}, elapsed ${clock(p.elapsedS)}${p.etaS === null ? '' : `, ETA ${clock(p.etaS)}`}`;
            if (tty) process.stderr.write(`\r${line}\x1b[K`);
            else log(line);
          },
          onResult: (r) => {
            storeProcess(db, abRunId, armIds[r.arm.index], r);
            if (tty && progress) process.stderr.write('\r\x1b[K');
            if (!r.ok) log(`${r.arm.allocator.name} x${r.arm.threads} run ${r.runIndex} failed: ${r.reason}`);
            else if (r.threadsSeen !== r.arm.threads && !warnedThreads.has(r.arm.index)) {
              warnedThreads.add(r.arm.index);
              log(`${r.arm.allocator.name} x${r.arm.threads}: the workload ran ${r.threadsSeen} serving thread(s), not ${r.arm.threads} (does it read MEMOPLAN_SERVING_THREADS?)`);
            }
          },
        }));
      } finally {
        process.off('SIGINT', onSigint);
        if (tty && progress) process.stderr.write('\r\x1b[K');
      }
      const armStatus = spec.arms.map((a) => {
        const mine = results.filter((r) => r.arm.index === a.index);
        const ok = mine.some((r) => r.ok);
        return { armId: armIds[a.index], ok, reason: ok ? null : mine.length ? `every run failed; first: ${mine[0].reason}` : 'not run (interrupted)' };
      });
      finishAbRun(db, abRunId, stopped ? 'interrupted' : 'complete', armStatus);
      const report = analyze(loadAbRun(db, abRunId)!);
      const allOk = report.arms.every((a) => a.status === 'ok');
      return { report, exitCode: stopped ? 130 : allOk ? 0 : 1 };
    } finally {
      if (spec.plan?.tmpDir) fs.rmSync(spec.plan.tmpDir, { recursive: true, force: true });
    }
  } finally {
    db.close();
  }
}

export function registerAbCommand(program: Command): void {
  program
    .command('ab')
    .description('run CMD under several allocators (and a plan), interleaved, at 1..N serving threads; compare latency distributions, peak RSS and page faults')
    .option('--db <file>', 'database file', DEFAULT_DB)
    .option('--allocators <list>', `comma-separated: glibc, jemalloc, tcmalloc, mimalloc, plan, plan+jemalloc, plan+tcmalloc, plan+mimalloc (the plan over that allocator); name=/path/lib.so gives a library (default ${DEFAULT_ALLOCATORS}, plus plan and plan+each of them with --plan)`)
    .option('--plan <id|file|auto>', 'plan for the plan arms: a plan id in --db, a plan file, or auto (record the command with the minimal agent, plan it, use the best plan; per cell with --vary)')
    .option('--vary <NAME=v1,v2,...>', 'run the A/B once per value, with {NAME} in the command replaced (repeat for a two-name grid); ends with the grid: the fastest plan arm against the fastest allocator per cell', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--threads <list>', 'serving thread counts, e.g. 1,2 (each run gets MEMOPLAN_SERVING_THREADS)', '1')
    .option('--runs <n>', 'processes per arm', '5')
    .option('--iterations <n>', 'latency samples kept per serving thread after the warm-up (default: all)')
    .option('--warmup <n>', 'latency samples dropped first per serving thread', '2')
    .option('--baseline <allocator>', 'arm that ratios and verdicts compare against', 'glibc')
    .option('--run-timeout <seconds>', 'kill a run after this long (0: never)', '0')
    .option('--python <path>', 'Python interpreter for a Python target (or MEMOPLAN_PYTHON); must import torch')
    .option('--json', 'print a JSON object: { ab_run_id, arms: [...] , ... }')
    .option('--quiet', 'no progress on stderr')
    .argument('<cmd...>', 'the workload, after --')
    .action(async (cmd: string[], opts: CliOptions) => {
      if (cmd.length === 0) throw new UserError('no command given: memoplan ab [options] -- CMD ARGS...');
      if ((opts.vary?.length ?? 0) > 0 || opts.plan === 'auto') {
        const s = await runSweep(cmd, { db: opts.db, vary: opts.vary ?? [], plan: opts.plan, python: opts.python }, (command, cell, plan, sweep) => runAbCommand(command, { ...opts, plan, cell, sweep }), note);
        if (opts.json) {
          process.stdout.write(JSON.stringify({ sweep: s.sweepId, cells: s.cells.map((c) => ({ ...c.report, cell: c.cell, command: c.command, auto_plan: c.plan })), grid: s.points }, null, 2) + '\n');
        } else {
          for (const c of s.cells) process.stdout.write(`\n== ${cellLabel(c.cell)}: ${c.command.join(' ')}${c.plan ? ` (plan ${c.plan.plan_id} from session ${c.plan.session})` : ''}\n` + formatReport(c.report));
          process.stdout.write(formatSweep(s.points));
        }
        if (s.exitCode === 1) note('some arms failed: see their reasons above');
        process.exitCode = s.exitCode;
        return;
      }
      const { report, exitCode } = await runAbCommand(cmd, opts);
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
      if (exitCode === 1) note('some arms failed: see their reasons above');
      process.exitCode = exitCode;
    });
}
