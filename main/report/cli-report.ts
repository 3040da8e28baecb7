import type { Command } from 'commander';
import { UserError } from '../../shared/errors';
import { writeReport } from './report';
import { exportSessionDatabase } from './export-db';
import { ENV } from '../../shared/env-vars';

/** `memoplan report` and `memoplan export`. */

const DEFAULT_DB = process.env[ENV.DB] ?? 'memoplan.db';

function id(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new UserError(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
}

function note(msg: string): void {
  process.stderr.write(`memoplan: ${msg}\n`);
}

const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(2)} MiB`;

export function registerReportCommands(program: Command): void {
  program
    .command('report')
    .description('write one self-contained HTML report of a session (charts and data inlined; opens with no network)')
    .option('--db <file>', 'database file', DEFAULT_DB)
    .requiredOption('--session <id>', 'session to report', id('--session'))
    .option('--plan <id>', 'plan whose memory map is drawn (default: the best plan of the session)', id('--plan'))
    .option('--ab <id>', 'include this A/B run', id('--ab'))
    .requiredOption('--out <file.html>', 'the HTML file to write (replaced if it exists)')
    .action((opts: { db: string; session: number; plan?: number; ab?: number; out: string }) => {
      const r = writeReport({ dbFile: opts.db, sessionId: opts.session, planId: opts.plan, abId: opts.ab, out: opts.out });
      if (r.mapOmitted) note(`memory map: ${r.mapOmitted.toLocaleString('en-US')} small buffers left out of the drawing (the report says so)`);
      note(`report of session ${opts.session} -> ${opts.out} (${mib(r.bytes)})`);
    });

  program
    .command('export')
    .description('copy one session (every row of it, ids kept) into a new standalone database file')
    .option('--db <file>', 'database file', DEFAULT_DB)
    .requiredOption('--session <id>', 'session to export', id('--session'))
    .requiredOption('--out <session.db>', 'the database file to create')
    .option('--force', 'overwrite the output file if it exists')
    .action((opts: { db: string; session: number; out: string; force?: boolean }) => {
      const r = exportSessionDatabase({ dbFile: opts.db, sessionId: opts.session, out: opts.out, force: opts.force ?? false });
      const n = Object.values(r.rows).reduce((a, b) => a + b, 0);
      note(`session ${opts.session} -> ${opts.out}: ${n.toLocaleString('en-US')} rows in ${Object.keys(r.rows).length} tables (${mib(r.bytes)})`);
    });
}
