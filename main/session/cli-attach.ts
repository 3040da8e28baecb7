import type { Command } from 'commander';
import { UserError } from '../../shared/errors';
import { openDatabase } from '../store/db';
import { attachProcess } from './attach';
import { detachProcess } from './detach';
import { ENV } from '../../shared/env-vars';

/**
 * `memoplan attach PID [--db FILE] [--duration S]` and `memoplan detach PID`. The lead wires
 * registerAttachCommands(program) into main/cli.ts; the UI calls attachProcess() itself.
 */

const DEFAULT_DB = process.env[ENV.DB] ?? 'memoplan.db';

function note(msg: string): void {
  process.stderr.write(`memoplan: ${msg}\n`);
}

function parsePid(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0) throw new UserError(`not a process id: ${JSON.stringify(v)}`);
  return Number(v);
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0)) throw new UserError(`--duration must be a positive number of seconds, got ${JSON.stringify(v)}`);
  return n;
}

export function registerAttachCommands(program: Command): void {
  program
    .command('attach')
    .description('attach to a running process (gdb injection), record its allocations into a session, detach; until --duration, Ctrl-C, `memoplan detach PID` or its exit')
    .argument('<pid>', 'process id of the target')
    .option('--db <file>', 'database file', DEFAULT_DB)
    .option('--name <name>', 'session name (default: attach-PID-script)')
    .option('--duration <seconds>', 'record this long, then detach')
    .option('--no-ops', 'attribute allocations to modules only, not aten ops')
    .option('--quiet', 'no progress on stderr')
    .action(async (pidText: string, opts: { db: string; name?: string; duration?: string; ops: boolean; quiet?: boolean }) => {
      const pid = parsePid(pidText);
      const duration = opts.duration === undefined ? undefined : parseSeconds(opts.duration);
      const db = openDatabase(opts.db);
      let handle: Awaited<ReturnType<typeof attachProcess>> | null = null;
      let interrupts = 0;
      const onInt = () => {
        interrupts++;
        if (interrupts === 1) note('interrupt: detaching, then storing the session (again to abandon the wait)');
        else process.exit(130);
        handle?.detach();
      };
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onInt);
      try {
        handle = await attachProcess({
          db,
          dbFile: opts.db,
          pid,
          name: opts.name,
          duration,
          ops: opts.ops,
          onNote: note,
          onProgress: opts.quiet
            ? undefined
            : (p) => {
                const line = `attached ${p.seconds.toFixed(0)}s: ${p.events.toLocaleString('en-US')} events, ${(p.liveBytes / 1048576).toFixed(1)} MiB live`;
                if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
              },
        });
        if (interrupts) handle.detach();
        if (!opts.quiet) note(`attached to process ${pid} (session ${handle.sessionId}); ${duration ? `recording for ${duration} s` : 'recording until Ctrl-C, `memoplan detach ' + pid + '` or its exit'}`);
        const r = await handle.done;
        if (!opts.quiet && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
        const s = r.summary;
        note(
          `session ${r.sessionId}: ${s.events.toLocaleString('en-US')} events, ${s.allocations.toLocaleString('en-US')} allocations, ` +
            `${s.iterations} iterations, ${s.ops} ops -> ${opts.db}` + (r.targetExited ? ' (the process exited while attached)' : `; process ${pid} detached and running`),
        );
      } finally {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onInt);
        db.close();
      }
    });

  program
    .command('detach')
    .description('detach memoplan from a process attached by `memoplan attach` (that invocation then stores its session)')
    .argument('<pid>', 'process id of the target')
    .action(async (pidText: string) => {
      const r = await detachProcess(parsePid(pidText));
      for (const n of r.notes) note(n);
      note(`detached from process ${r.pid}` + (r.sessionId !== null ? ` (session ${r.sessionId})` : ''));
    });
}
