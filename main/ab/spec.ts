import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../shared/errors';
import type { DB } from '../store/db';
import { resolvePlanArg, type PlanSource } from '../plan/plan-source';
import { resolveExecutable } from '../record/launch';
import { looksLikePython, resolvePython, type PythonInfo } from '../record/python';
import { DEFAULT_ALLOCATORS, discoverAllocators, isPlanArmName, KNOWN_ALLOCATORS, type Allocator } from './allocators';
import { launcherPath } from './os-stats';
import type { SweepTag } from './sweep';
import { ENV } from '../../shared/env-vars';

/**
 * The run spec of one `memoplan ab`: what the user typed, checked and resolved into the target
 * argv, the arms (allocator x serving threads) and the plan file. Every check that can fail
 * runs here, before anything is stored or launched.
 */

export interface AbOptions {
  command: string[];
  allocators?: string;
  plan?: string;
  threads?: string;
  runs?: string;
  iterations?: string;
  warmup?: string;
  baseline?: string;
  python?: string | null;
  runTimeout?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The cell of a --vary sweep this A/B is (stored with its settings). */
  cell?: Record<string, string>;
  /** The sweep it belongs to (stored with its settings). */
  sweep?: SweepTag;
}

export interface Arm {
  /** Position in the interleaving order. */
  index: number;
  allocator: Allocator;
  threads: number;
}

export type { PlanSource };

export interface RunSpec {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  python: PythonInfo | null;
  arms: Arm[];
  threads: number[];
  runs: number;
  warmup: number;
  /** Samples kept per serving thread after the warm-up; null: all that follow it. */
  iterations: number | null;
  baseline: string;
  plan: PlanSource | null;
  launcher: string;
  runTimeoutMs: number | null;
  skipped: { name: string; reason: string }[];
  notes: string[];
  cell: Record<string, string> | null;
  sweep: SweepTag | null;
}

function nonNegativeInt(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v.trim())) throw new UserError(`${flag} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

export function parseThreads(v: string | undefined): number[] {
  if (v === undefined) return [1];
  const parts = v.split(',').map((s) => s.trim());
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p) || Number(p) < 1) throw new UserError(`--threads takes a list of positive integers like 1,2; got ${JSON.stringify(v)}`);
    if (!out.includes(Number(p))) out.push(Number(p));
  }
  return out;
}

/** The target argv: a .py script or `python ...` gets an interpreter that imports torch. */
export function resolveTarget(command: string[], cwd: string, env: NodeJS.ProcessEnv, pythonFlag: string | null): { argv: string[]; python: PythonInfo | null; notes: string[] } {
  if (command.length === 0) throw new UserError('no command given: memoplan ab [options] -- CMD ARGS...');
  let argv = [...command];
  const notes: string[] = [];
  let python: PythonInfo | null = null;
  if (argv[0].endsWith('.py')) {
    if (!fs.existsSync(path.resolve(cwd, argv[0]))) throw new UserError(`script not found: ${argv[0]}`);
    argv = ['python3', ...argv];
  }
  if (looksLikePython(argv[0])) {
    const r = resolvePython(argv[0], pythonFlag ?? env[ENV.PYTHON] ?? null);
    python = r.info;
    if (r.note) notes.push(r.note);
    argv[0] = r.info.executable;
  } else {
    argv[0] = resolveExecutable(argv[0], cwd, env);
  }
  return { argv, python, notes };
}

/** --plan ID|set:ID|FILE: a plan or plan set of this database (written to a temporary plan file), or a plan file. */
export function resolvePlan(db: DB, dbFile: string, plan: string): PlanSource {
  return resolvePlanArg(db, dbFile, plan, 'memoplan-ab-plan-');
}

export function buildSpec(o: AbOptions, db: DB, dbFile: string): RunSpec {
  const cwd = o.cwd ?? process.cwd();
  const env = { ...(o.env ?? process.env) };
  const notes: string[] = [];
  const runs = nonNegativeInt('--runs', o.runs, 5);
  if (runs === 0) throw new UserError('--runs must be at least 1: zero runs measure nothing');
  const warmup = nonNegativeInt('--warmup', o.warmup, 2);
  const iterationsRaw = nonNegativeInt('--iterations', o.iterations, 0);
  const iterations = o.iterations === undefined ? null : iterationsRaw;
  if (iterations === 0) throw new UserError('--iterations must be at least 1 (leave it out to keep every sample after the warm-up)');
  const timeoutS = nonNegativeInt('--run-timeout', o.runTimeout, 0);
  const threads = parseThreads(o.threads);

  let allocSpec = o.allocators ?? DEFAULT_ALLOCATORS;
  const names = allocSpec.split(',').map((s) => s.trim().split('=')[0]);
  if (o.plan !== undefined && !names.some(isPlanArmName)) {
    // the plan over glibc, and over each general-purpose allocator of the list
    const added = ['plan', ...names.filter((n) => KNOWN_ALLOCATORS.some((k) => k.name === n && k.kind === 'preload')).map((n) => `plan+${n}`)];
    if (o.allocators !== undefined) notes.push(`--plan given: the plan arms ${added.join(', ')} are added to --allocators`);
    allocSpec += ',' + added.join(',');
  }
  const found = discoverAllocators(allocSpec);
  const allNames = allocSpec.split(',').map((s) => s.trim().split('=')[0]).filter(Boolean);
  if (allNames.some(isPlanArmName) && o.plan === undefined) throw new UserError(`the plan arms need --plan ID|PLANFILE`);
  const baseline = o.baseline ?? 'glibc';
  if (!allNames.includes(baseline)) throw new UserError(`--baseline ${baseline} is not one of --allocators (${allNames.join(', ')})`);
  if (found.usable.length === 0) {
    throw new UserError(`no allocator to run: ${found.skipped.map((s) => s.reason).join('; ')}`);
  }
  if (!found.usable.some((a) => a.name === baseline)) notes.push(`the baseline ${baseline} cannot run here: no ratios or verdicts`);

  const target = resolveTarget(o.command, cwd, env, o.python ?? null);
  notes.push(...target.notes);
  const launcher = launcherPath();
  if (!fs.existsSync(launcher)) throw new UserError(`A/B launcher not built (${launcher} missing): run npm run build`);
  const plan = found.usable.some((a) => a.kind === 'plan') ? resolvePlan(db, dbFile, o.plan!) : null;
  if (plan?.invalid) notes.push(`${plan.invalid}: the interposer will refuse it and the plan arm runs unplanned`);
  if (env.LD_PRELOAD) notes.push(`LD_PRELOAD=${env.LD_PRELOAD} in the environment is not passed to the runs (each arm sets its own)`);

  const arms: Arm[] = [];
  for (const t of threads) for (const a of found.usable) arms.push({ index: arms.length, allocator: a, threads: t });
  return {
    argv: target.argv,
    cwd,
    env,
    python: target.python,
    arms,
    threads,
    runs,
    warmup,
    iterations,
    baseline,
    plan,
    launcher,
    runTimeoutMs: timeoutS > 0 ? timeoutS * 1000 : null,
    skipped: found.skipped,
    notes,
    cell: o.cell ?? null,
    sweep: o.sweep ?? null,
  };
}
