import type { Command } from 'commander';
import { UserError } from '../../shared/errors';
import { formatBytes } from '../../shared/format';
import { openDatabase } from '../store/db';
import { foldedText, groupLive, liveAt, parseWhen, scopeInfo, type LiveBy } from '../store/live';
import { ENV } from '../../shared/env-vars';

/**
 * `memoplan top`: what is live at an instant of a session (its peak, an iteration's peak, or a
 * time in ns), grouped by module, aten op or Python stack (main/store/live.ts). The groups add
 * up to the live bytes at that instant.
 */

const DEFAULT_DB = process.env[ENV.DB] ?? 'memoplan.db';
const BY: readonly LiveBy[] = ['module', 'op', 'stack'];
/** Rows of the text table (--json and --folded print every group). */
const TEXT_ROWS = 40;

export interface TopOptions {
  db: string;
  session?: string;
  at: string;
  by: string;
  json?: boolean;
  folded?: boolean;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** A stack for one table row: innermost frames first, file names without their folders. */
function shortStack(frames: string[]): string {
  const short = frames.map((f) => f.replace(/^.*\/(?=[^/]*:\d+ )/, ''));
  const shown = short.slice(-3).reverse();
  return shown.join(' <- ') + (short.length > 3 ? ` <- (${short.length - 3} more)` : '');
}

/** Runs the verb; returns what to print on stdout. */
export function runTop(opts: TopOptions): string {
  if (opts.session === undefined) throw new UserError('--session is required (memoplan sessions --db FILE lists them)');
  if (!/^\d+$/.test(opts.session) || !Number.isSafeInteger(Number(opts.session))) {
    throw new UserError(`--session must be a session id (a non-negative integer), got ${JSON.stringify(opts.session)}`);
  }
  const by = opts.by as LiveBy;
  if (!BY.includes(by)) throw new UserError(`--by must be one of ${BY.join(', ')}, got ${JSON.stringify(opts.by)}`);
  if (opts.json && opts.folded) throw new UserError('give --json or --folded, not both');
  const when = parseWhen(opts.at);
  const session = Number(opts.session);
  const db = openDatabase(opts.db, { create: false });
  try {
    const live = liveAt(db, session, when);
    const groups = groupLive(live, scopeInfo(db, session), by);
    if (opts.json) return JSON.stringify(groups.map((g) => ({ key: g.key, bytes: g.bytes, count: g.count })), null, 2) + '\n';
    if (opts.folded) return foldedText(groups);
    const head =
      `session ${session} at ${live.at}: t = ${(live.t / 1e9).toFixed(6)} s` +
      (live.iteration !== null ? ` (iteration ${live.iteration})` : '') +
      `: ${fmt(live.liveBytes)} B (${formatBytes(live.liveBytes)}) live in ${fmt(live.liveCount)} allocations, by ${by}\n`;
    const rows = groups.slice(0, TEXT_ROWS).map((g) => [
      fmt(g.bytes), live.liveBytes ? `${((100 * g.bytes) / live.liveBytes).toFixed(1)}%` : '-', fmt(g.count), by === 'stack' ? shortStack(g.frames) : g.key,
    ]);
    const w = [0, 1, 2].map((i) => Math.max(['bytes', '%', 'allocs'][i].length, ...rows.map((r) => r[i].length)));
    const line = (c: string[]) => `${c[0].padStart(w[0])}  ${c[1].padStart(w[1])}  ${c[2].padStart(w[2])}  ${c[3]}`;
    const more = groups.length > TEXT_ROWS ? `(${groups.length - TEXT_ROWS} more groups; --json prints all)\n` : '';
    return head + [line(['bytes', '%', 'allocs', by]), ...rows.map(line)].join('\n') + '\n' + more;
  } finally {
    db.close();
  }
}

export function registerTopCommand(program: Command): void {
  program
    .command('top')
    .description('what is live at an instant (the peak, an iteration\'s peak, or a time in ns), by module, aten op or Python stack')
    .option('--db <file>', 'database file', DEFAULT_DB)
    .option('--session <id>', 'session')
    .option('--at <when>', 'peak | iteration:K (that iteration\'s peak) | NS (ns since the session\'s clock base, as events are stamped)', 'peak')
    .option('--by <key>', 'module | op | stack', 'module')
    .option('--json', 'print a JSON array of {key, bytes, count}, largest first (stack keys: "file:line function" frames, outermost first, joined by ";")')
    .option('--folded', 'print folded stacks ("frame;frame;... bytes"), for flamegraph.pl, inferno or speedscope')
    .action((opts: TopOptions) => {
      process.stdout.write(runTop(opts));
    });
}
