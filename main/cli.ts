#!/usr/bin/env node
/**
 * memoplan's command line. commander does the parsing (help on every verb, unknown options
 * refused); each verb is a thin layer over a module that the app uses too.
 */
import { Command, CommanderError, Option } from 'commander';
import { UserError } from '../shared/errors';
import { asUserError, openDatabase, openDatabaseForReading } from './store/db';
import { checkSessionName, terminalSafe } from './terminal';
import { listSessions } from './store/sessions';
import { record, RECORDING_INCOMPLETE_EXIT } from './record/record';
import { assertTraceDir, resumeIngest, sessionOfTraceDir, traceOfRemovedDatabase } from './ingest/resume';
import { runPlanCommand } from './plan/cli-plan';
import { serve } from './serve';
import { registerAbCommand } from './ab/cli-ab';
import { loadStepper } from './replay/step';
import { replayLive } from './replay/live';
import { registerReportCommands } from './report/cli-report';
import { registerAttachCommands } from './session/cli-attach';
import { registerTopCommand } from './top/cli-top';
import { ENV } from '../shared/env-vars';
import { replayOutcome } from './store/replays';

const DEFAULT_DB = process.env[ENV.DB] ?? 'memoplan.db';

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function note(msg: string): void {
  process.stderr.write(`memoplan: ${msg}\n`);
}

function parsePositiveInt(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new UserError(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
}

function parsePort(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new UserError(`--port must be a port number 0..65535 (0 picks a free one), got ${JSON.stringify(v)}`);
  return Number(v);
}

/** The --db a command line names (for messages about a database error that escaped a verb). */
function dbArgument(argv: string[]): string {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') break;
    if (argv[i] === '--db' && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith('--db=')) return argv[i].slice(5);
  }
  return DEFAULT_DB;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('memoplan')
    .description('Record every allocation of a PyTorch process, plan a fixed offset for every buffer, replay and A/B test the plan.')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('record')
    .description('launch CMD under the interposer and the agent; store its trace in SQLite; exit with its exit code')
    .option('--db <file>', 'database file', DEFAULT_DB)
    .option('--name <name>', 'session name (default: the script name)')
    .option('--python <path>', 'Python interpreter for a Python target (or MEMOPLAN_PYTHON); must import torch')
    .option('--no-ops', 'attribute allocations to modules only, not aten ops (less overhead, fewer extra allocations)')
    .option('--quiet', 'no progress on stderr')
    .argument('<cmd...>', 'the command to record, after --')
    .action(async (cmd: string[], opts: { db: string; name?: string; python?: string; quiet?: boolean; ops: boolean }) => {
      if (opts.name !== undefined) {
        const bad = checkSessionName(opts.name);
        if (bad) throw new UserError(`--name: ${bad}`);
      }
      const db = openDatabase(opts.db, { check: true });
      try {
        const progress = !opts.quiet;
        const r = await record({
          db,
          dbFile: opts.db,
          command: cmd,
          name: opts.name,
          python: opts.python ?? null,
          ops: opts.ops,
          onNote: note,
          onProgress: progress
            ? (p) => {
                // The rate is the last second's: said so, next to the whole run's average (the total is the whole run's).
                const avg = p.seconds > 0 ? p.events / p.seconds : 0;
                const line =
                  `recording ${p.seconds.toFixed(0)}s: ${fmt(p.events)} events (${fmt(Math.round(avg))}/s on average, ${fmt(Math.round(p.eventsPerSecond))}/s in the last second), ` +
                  `${(p.liveBytes / 1048576).toFixed(1)} MiB live now, ${p.processes} process(es)`;
                if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
                else if (Math.round(p.seconds) % 10 === 0) note(line);
              }
            : undefined,
        });
        if (progress && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
        const s = r.summary;
        note(
          `session ${r.sessionId}: ${fmt(s.events)} events, ${fmt(s.allocations)} allocations (${fmt(s.liveAtExit)} live at exit), ` +
            `${fmt(s.iterations)} iterations, ${fmt(s.ops)} ops -> ${terminalSafe(opts.db, 4096)}`,
        );
        if (r.signal) note(`the target was killed by ${r.signal}; everything it wrote before is stored`);
        else if (r.exitCode !== 0) note(`the target exited with code ${r.exitCode}`);
        process.exitCode = r.exitCode;
        if (r.incomplete) {
          const missing = r.incomplete.missing === null ? 'an unknown number of' : fmt(r.incomplete.missing);
          note(`the recording is incomplete (${missing} events missing): ${terminalSafe(r.incomplete.reason, 4096)}; session ${r.sessionId} is marked incomplete`);
          process.exitCode = RECORDING_INCOMPLETE_EXIT;
        }
      } finally {
        db.close();
      }
    });

  program
    .command('ingest')
    .description(
      'store a kept trace folder (printed when storing a recording failed: disk full, the ingester killed) into its session, ' +
        'resuming after what was stored; the folder is removed once everything is stored',
    )
    .argument('<trace-dir>', 'the kept trace folder (session-ID-XXXXXX)')
    .option('--db <file>', 'the database of the recording', DEFAULT_DB)
    .option('--session <id>', 'the session (default: the ID in the folder name)', parsePositiveInt('--session'))
    .action((dir: string, opts: { db: string; session?: number }) => {
      assertTraceDir(dir);
      const sessionId = opts.session ?? sessionOfTraceDir(dir);
      if (sessionId === null) throw new UserError(`cannot tell the session from the folder name ${terminalSafe(dir)}: give --session ID`);
      // A recording whose database was removed may go into a new one.
      const db = openDatabase(opts.db, { create: traceOfRemovedDatabase(dir), check: true });
      try {
        const r = resumeIngest({ db, dbFile: opts.db, sessionId, traceDir: dir, onNote: note });
        for (const n of r.notes) note(n);
        const t = r.totals;
        note(
          `session ${r.sessionId}: ${fmt(r.added)} records stored from the trace; now ${fmt(t.events)} events, ${fmt(t.allocations)} allocations ` +
            `(${fmt(t.liveAtExit)} live at exit), ${fmt(t.iterations)} iterations, ${fmt(t.ops)} ops; status ${r.status}`,
        );
        if (r.status === 'failed') process.exitCode = RECORDING_INCOMPLETE_EXIT;
        if (r.status === 'incomplete') {
          note(`the recording is incomplete (${r.missing === null ? 'an unknown number of' : fmt(r.missing)} events missing): they are not in the trace (never written, or stored in a database since removed)`);
          process.exitCode = RECORDING_INCOMPLETE_EXIT;
        }
      } finally {
        db.close();
      }
    });

  program
    .command('sessions')
    .description('list the recorded sessions of a database')
    .option('--db <file>', 'database file', DEFAULT_DB)
    .option('--json', 'print a JSON array (keys: id, name, command, exit_code, events, allocations, live_at_exit, iterations, ops, ...)')
    .action((opts: { db: string; json?: boolean }) => {
      const db = openDatabaseForReading(opts.db);
      try {
        const rows = listSessions(db);
        if (opts.json) {
          process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
          return;
        }
        if (rows.length === 0) {
          process.stdout.write('no sessions\n');
          return;
        }
        const table = rows.map((r) => [
          String(r.id), terminalSafe(r.name, 60), terminalSafe(statusText(r), 40), r.exit_code === null ? '-' : String(r.exit_code), fmt(r.events), fmt(r.allocations),
          fmt(r.live_at_exit), fmt(r.iterations), fmt(r.ops), terminalSafe(r.started_at, 40),
        ]);
        printTable(['id', 'name', 'status', 'exit', 'events', 'allocations', 'live@exit', 'iterations', 'ops', 'started'], table);
      } finally {
        db.close();
      }
    });

  program
    .command('plan')
    .description('plan offsets for the buffers of one iteration (of a session, or of an instance CSV) and validate them')
    .option('--db <file>', 'database file', DEFAULT_DB)
    .option('--session <id>', 'session to plan', parsePositiveInt('--session'))
    .option('--iteration <n>', 'iteration number (default: the first steady-state one)', parsePositiveInt('--iteration'))
    .option('--instance <file.csv>', 'plan a standalone instance (id,lower,upper,size) instead of a session')
    .option('--algorithm <name>', 'greedy-size | greedy-breadth | first-fit | best-fit | exact | all', 'all')
    .option('--time-limit <seconds>', 'time limit of the exact solver', '10')
    .option('--out <plan>', 'write the plan file for the interposer (sessions only)')
    .option('--offsets <file.csv>', 'write the best plan as id,lower,upper,size,offset')
    .option('--signatures <which>', 'all: plan every iteration signature of the session (batch sizes, lengths) as one plan set; --out writes a set file')
    .option('--add-to <set>', 'with --signatures all: add the plans of the signatures set:ID lacks (a replay session\'s unplanned shapes) to that set; --out writes the grown set')
    .option('--json', 'print a JSON array, one object per planner (with --signatures: one JSON object for the set)')
    .action(async (opts) => {
      await runPlanCommand(opts);
    });

  program
    .command('replay')
    .description(
      'with -- CMD: run CMD with the interposer in plan mode (recorded like record) and report hits, misses and latency; ' +
        'with --at K: the planned arena and the recorded addresses after event K of the plan\'s iteration',
    )
    .option('--db <file>', 'database file', DEFAULT_DB)
    .requiredOption('--plan <id|set:id|file>', 'a plan id in the database, set:ID for a plan set in it, or a plan file written by memoplan plan --out (a single plan or a set)')
    .addOption(new Option('--threads <n>', 'serving threads (passed to the workload as MEMOPLAN_SERVING_THREADS)').default(1).argParser(parsePositiveInt('--threads')))
    .addOption(new Option('--at <k>', 'offline: the state after event k of the iteration').argParser(parsePositiveInt('--at')))
    .option('--python <path>', 'Python interpreter for a Python target (or MEMOPLAN_PYTHON)')
    .option('--json', 'print JSON')
    .argument('[cmd...]', 'the workload to run in plan mode, after --')
    .action(async (cmd: string[], opts: { db: string; plan: string; threads: number; at?: number; python?: string; json?: boolean }) => {
      if (opts.at !== undefined) {
        if (cmd.length) throw new UserError('give either --at K (offline step) or -- CMD (live replay), not both');
        if (!/^\d+$/.test(opts.plan)) throw new UserError('--at needs a plan id from the database');
        const db = openDatabaseForReading(opts.db);
        try {
          const state = loadStepper(db, Number(opts.plan)).at(opts.at);
          if (opts.json) process.stdout.write(JSON.stringify(state, null, 2) + '\n');
          else {
            process.stdout.write(
              `event ${state.k} of ${state.events}: ${state.event.kind} #${state.event.ordinal} (${fmt(state.event.size)} B, ${state.event.module} ${state.event.op})\n` +
                `live: ${state.live.length} buffers, ${fmt(state.liveBytes)} B; arena high-water ${fmt(state.arenaHighWater)} of ${fmt(state.arenaBytes)} B; ` +
                `system allocator: live span ${fmt(state.system.liveSpan)} B\n`,
            );
            printTable(
              ['ordinal', 'offset', 'size', 'address', 'module', 'op'],
              state.live.map((b) => [String(b.ordinal), fmt(b.offset), fmt(b.size), '0x' + b.addr.toString(16), b.module, b.op]),
            );
          }
        } finally {
          db.close();
        }
        return;
      }
      if (!cmd.length) throw new UserError('nothing to replay: give -- CMD ARGS (live) or --at K (offline)');
      const db = openDatabase(opts.db, { check: true });
      try {
        const { summary } = await replayLive({ db, dbFile: opts.db, plan: opts.plan, threads: opts.threads, command: cmd, python: opts.python ?? null, onNote: note });
        if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        else {
          const pct = (x: number | null) => (x === null ? '-' : (100 * x).toFixed(3) + '%');
          note(
            `${summary.plan_id !== null ? `plan ${summary.plan_id}` : summary.set_id !== null ? `plan set ${summary.set_id}` : `plan ${summary.plan_file}`}: ${summary.status}; hits ${fmt(summary.hits)}, misses ${fmt(summary.misses)} ` +
              `(hit rate ${pct(summary.hit_rate)}, bytes ${pct(summary.byte_hit_rate)}), fallback ${fmt(summary.fallback_bytes)} B, ` +
              `arena ${fmt(summary.arena_bytes)} B, ${summary.iterations_served} iterations served` +
              (summary.set_id !== null || (summary.plans ?? 1) > 1
                ? ` (${summary.signatures_served} of ${summary.plans ?? '?'} signatures served, ${summary.iterations_unplanned} iterations unplanned)`
                : '') +
              `; session ${summary.session}`,
          );
          note(`per-iteration latency (ms): ${summary.latencies_ms.map((x) => x.toFixed(2)).join(' ')}`);
          if (summary.status !== 'serving') note(`the target ran unplanned: ${unplannedReason(db, summary.session, summary.latencies_ms.length)}`);
        }
        process.exitCode = summary.exit_code;
      } finally {
        db.close();
      }
    });

  program
    .command('serve')
    .description('serve the UI on 127.0.0.1 (the first stdout line is the URL, with its access token)')
    .option('--db <file>', 'database file', DEFAULT_DB)
    .addOption(new Option('--port <n>', 'port (0 picks a free one)').default(0).argParser(parsePort))
    .action(async (opts: { db: string; port: number }) => {
      await serve({ dbFile: opts.db, port: opts.port });
    });

  registerAbCommand(program);

  registerReportCommands(program);

  registerAttachCommands(program);

  registerTopCommand(program);

  return program;
}

/** Why the interposer refused a plan (its reason codes, docs/TRACE_FORMAT.md). */
const PLAN_REFUSALS: Record<number, string> = {
  1: 'the plan file could not be opened or mapped',
  2: 'it is not a plan file',
  3: 'its plan format version or header size is not one this interposer reads',
  4: 'the plan file is truncated or padded',
  5: 'the plan file is corrupt (checksum mismatch)',
  6: 'an entry lies outside the arena, is misaligned or has an unknown flag',
  7: 'the plan header is bad (signature malformed, or arena over 1 TiB)',
  8: 'the plan is too complex to verify at load',
  9: 'address space for the arena could not be reserved',
  10: "its iteration signature never matched the target's (a thread observed 20 iterations): a plan made for another model, batch size or input; plan a recording of this workload",
  11: 'an arena could not be mapped for a thread',
  12: 'a thread retired 3 arenas and stopped planning',
};

/** The reason a replay ran unplanned, from what the interposer left in the trace header (replays row). */
function unplannedReason(db: import('./store/db').DB, sessionId: number, iterations: number): string {
  const r = replayOutcome(db, sessionId);
  const status = r?.status ?? 0;
  const code = r?.refusal ? Number(r.refusal) : 0;
  if (status === 3) return `the interposer refused the plan: ${PLAN_REFUSALS[code] ?? `reason code ${code}`}`;
  if (status === 1 && iterations > 0) {
    return `none of the target's ${fmt(iterations)} iterations matched the plan's iteration signature (the interposer observes 20 before it refuses): ` +
      'a plan made for another model, batch size or input? Plan a recording of this workload';
  }
  return iterations === 0
    ? 'the target marked no iteration (the agent did not run in it, or it is not the workload the plan was made for), so the plan was never used'
    : 'the interposer did not load the plan (the target did not load the interposer: a static binary, or LD_PRELOAD cleared?)';
}

/** The status column: an incomplete session says how many events it misses, when known. */
function statusText(r: { status: string; events: number; events_claimed: number | null }): string {
  if (r.status !== 'incomplete') return r.status;
  return r.events_claimed !== null && r.events_claimed > r.events ? `incomplete (${fmt(r.events_claimed - r.events)} missing)` : 'incomplete';
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  process.stdout.write([line(head), ...rows.map(line)].join('\n') + '\n');
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (caught) {
    // A database error from the file or its disk (damaged, full, read-only) is not our bug.
    const err = typeof (caught as { code?: unknown })?.code === 'string' && String((caught as { code: string }).code).startsWith('SQLITE_')
      ? asUserError(caught, dbArgument(argv))
      : caught;
    if (err instanceof CommanderError) {
      // help and version exit 0; usage errors were already printed by commander
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof UserError) {
      note(terminalSafe(err.message, 4096));
      process.exitCode = err.exitCode;
      return;
    }
    note(`internal error: ${(err as Error).message}`);
    if (process.env[ENV.DEBUG]) process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = 70;
  }
}

if (require.main === module) void main(process.argv);
