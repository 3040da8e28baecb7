/**
 * Planner benchmark: every planner on every instance CSV in ../shared/planning (relative to
 * the repo root), side by side. Prints one row per instance and planner: buffers, lower
 * bound, arena, arena / lower bound, seconds, optimal.
 *
 *   node dist/bench/plan.bench.js [--dir DIR] [--time-limit SECONDS] [--only SUBSTRING]
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { prepare, readInstanceCsv, capacityFromName, plan, type PlannerResult } from '../main/plan';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const repoRoot = resolve(__dirname, '..', '..');
const dir = resolve(flag('--dir') ?? join(repoRoot, '..', 'shared', 'planning'));
const timeLimit = Number(flag('--time-limit') ?? 10);
const only = flag('--only');

if (!existsSync(dir)) {
  console.log(`plan bench: no instance folder at ${dir}; skipped (give --dir DIR)`);
  process.exit(0);
}
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.csv') && (!only || f.includes(only)))
  .sort();
if (!files.length) {
  console.log(`plan bench: no .csv instances in ${dir}; skipped`);
  process.exit(0);
}

const pad = (s: string | number, w: number): string => String(s).padStart(w);
console.log(`plan bench: ${files.length} instances from ${dir}, exact time limit ${timeLimit}s`);
console.log(
  ['instance'.padEnd(40), pad('buffers', 7), pad('lower bound', 13), 'planner'.padEnd(15), pad('arena', 13), pad('ratio', 7), pad('seconds', 8), ' optimal'].join(' '),
);
for (const f of files) {
  const { buffers } = readInstanceCsv(join(dir, f));
  const pr = prepare(buffers);
  const results: PlannerResult[] = [];
  for (const name of ['greedy-size', 'greedy-breadth', 'first-fit', 'best-fit']) results.push(plan(name, pr));
  const best = results.reduce((a, b) => (b.arenaBytes < a.arenaBytes ? b : a));
  results.push(plan('exact', pr, { timeLimitSeconds: timeLimit, initialOffsets: best.offsets }));
  const cap = capacityFromName(f);
  for (const r of results) {
    console.log(
      [
        f.replace(/\.csv$/, '').padEnd(40),
        pad(buffers.length, 7),
        pad(pr.lowerBound, 13),
        r.algorithm.padEnd(15),
        pad(r.arenaBytes, 13),
        pad((r.arenaBytes / pr.lowerBound).toFixed(4), 7),
        pad(r.seconds.toFixed(2), 8),
        ' ' + (r.optimal ? 'yes' : 'no') + (cap !== undefined && r.algorithm === 'exact' ? ` (capacity ${cap}: ${r.arenaBytes <= cap ? 'fits' : 'over'})` : ''),
      ].join(' '),
    );
  }
}
