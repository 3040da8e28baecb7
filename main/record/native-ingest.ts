import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../shared/errors';
import type { DB } from '../store/db';
import { ingesterPath } from '../paths';
import { ENV } from '../../shared/env-vars';
import type { LifetimeTotals } from '../store/lifetimes';
import type { PlanCounters } from './trace-format';

/**
 * The trace ingest of a session while its target runs, and its end: memoplan-ingest
 * (native/ingest), a process of its own that polls the trace directory. Its rows are checked
 * against a JS reference ingest written from the format spec (test/oracle/session-ingest.ts,
 * test/record/native-ingest.test.ts).
 *
 * The ingester must be a separate process: better-sqlite3 has the same database open here, and
 * two copies of SQLite in one process break SQLite's POSIX lock bookkeeping.
 */

/** Progress of an ingest, from its latest poll. */
export interface PollStats {
  events: number;
  markers: number;
  processes: number;
  /** Seconds spent reading, decoding, inserting and building lifetimes so far. */
  busySeconds: number;
  liveBytes: number;
}

/**
 * What a finished ingest reports: the events the interposers claimed to have written (null if
 * any process did not exit cleanly), the lifetime totals, notes for the user, and the plan-mode
 * counters summed over the processes (null when none ran a plan).
 */
export interface IngestResult {
  claimed: number | null;
  totals: LifetimeTotals & { ops: number };
  notes: string[];
  plan: PlanCounters | null;
}

/** A running ingest. */
export interface Ingest {
  /** Progress so far, as of the ingester's latest poll. */
  readonly stats: PollStats;
  /** The error that stopped the ingest while the target ran, if any (the target should be stopped). */
  readonly failure: Error | null;
  /** Reads everything left (the target has exited or was killed) and ends the session's ingest. */
  finish(): Promise<IngestResult>;
  /** The ingester process. */
  readonly pid: number | null;
  /**
   * Names the launched target: an ingester orphaned by the death of its recorder goes on while
   * the target runs, even before the target's trace file exists.
   */
  setTarget?(pid: number): void;
}

export interface IngestOptions {
  db: DB;
  dbFile: string;
  sessionId: number;
  traceDir: string;
  clockBaseNs: bigint;
  pollMs?: number;
  /** Called once if the ingest fails while running. */
  onFailure?: (err: Error) => void;
}

/** Refuses early (before a session exists) when the ingester is not built. */
export function assertIngestReady(): void {
  ingesterBinary();
}

function ingesterBinary(): string {
  const bin = ingesterPath();
  if (!fs.existsSync(bin)) {
    throw new UserError(`the trace ingester is not built (${bin} missing): run npm run build`);
  }
  return bin;
}

export function startIngest(o: IngestOptions): Ingest {
  return new NativeIngest(o);
}

/** Stores what a trace directory holds, for a session whose recorder is gone (memoplan detach). */
export function finishIngestOffline(o: Omit<IngestOptions, 'pollMs' | 'onFailure'>): Promise<IngestResult> {
  const ingest = new NativeIngest(o);
  return ingest.finish();
}

const ZERO: PollStats = { events: 0, markers: 0, processes: 0, busySeconds: 0, liveBytes: 0 };
const STDERR_TAIL = 2000;

interface DoneLine extends IngestResult {
  type: 'done';
  busySeconds: number;
}

/** memoplan-ingest as a child process: progress lines while it polls, one done line at the end. */
export class NativeIngest implements Ingest {
  private readonly child: ChildProcess;
  private latest: PollStats = { ...ZERO };
  private done: DoneLine | null = null;
  private errorLine: string | null = null;
  private stderr = '';
  private finishing = false;
  private failed: Error | null = null;
  private readonly exited: Promise<IngestResult>;
  /** Polls reported so far. */
  polls = 0;

  constructor(private readonly o: IngestOptions) {
    const bin = ingesterBinary();
    const args = ['--db', path.resolve(o.dbFile), '--session', String(o.sessionId), '--trace-dir', o.traceDir, '--clock-base', String(o.clockBaseNs)];
    if (o.pollMs !== undefined) args.push('--poll-ms', String(Math.max(1, Math.round(o.pollMs))));
    this.child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin!.on('error', () => {
      /* it exited first: its exit says why */
    });
    let buf = '';
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        this.onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    this.child.stderr!.setEncoding('utf8');
    // MEMOPLAN_INGEST_PROFILE asks memoplan-ingest for its figures on stderr: passed through.
    const profile = process.env[ENV.INGEST_PROFILE] !== undefined;
    this.child.stderr!.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-STDERR_TAIL);
      if (profile) process.stderr.write(d);
    });
    this.exited = new Promise<IngestResult>((resolve, reject) => {
      let settled = false;
      const settle = (code: number | null, signal: NodeJS.Signals | null, spawnError: Error | null) => {
        if (settled) return;
        settled = true;
        if (this.done && code === 0) {
          const { claimed, totals, notes, plan } = this.done;
          resolve({ claimed, totals, notes, plan });
          return;
        }
        const why = spawnError ? `could not run (${spawnError.message})` : `exited without finishing (${signal ? `signal ${signal}` : `exit code ${code}`})`;
        const tail = this.stderr.trim() ? `: ${this.stderr.trim().split('\n').slice(-3).join(' / ')}` : '';
        const err = new Error(this.errorLine ?? `memoplan-ingest ${why}${tail}`);
        this.fail(err);
        reject(err);
      };
      // A spawn failure (no pid) may not be followed by 'close'.
      this.child.on('error', (err) => {
        if (this.child.pid === undefined) settle(null, null, err);
      });
      this.child.on('close', (code, signal) => settle(code, signal, null));
    });
    this.exited.catch(() => {
      /* reported through failure / finish() */
    });
  }

  get stats(): PollStats {
    return { ...this.latest };
  }

  get pid(): number | null {
    return this.child.pid ?? null;
  }

  get failure(): Error | null {
    return this.failed;
  }

  setTarget(pid: number): void {
    if (!this.finishing && this.child.stdin!.writable) this.child.stdin!.write(`target ${pid}\n`);
  }

  finish(): Promise<IngestResult> {
    if (!this.finishing) {
      this.finishing = true;
      if (this.child.stdin!.writable) this.child.stdin!.end('finish\n');
    }
    return this.exited;
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    if (!this.finishing) this.o.onFailure?.(err);
  }

  private onLine(text: string): void {
    let m: { type?: string; [k: string]: unknown };
    try {
      m = JSON.parse(text);
    } catch {
      this.stderr = (this.stderr + text + '\n').slice(-STDERR_TAIL);
      return;
    }
    if (m.type === 'progress') {
      this.polls++;
      const { events, markers, processes, busySeconds, liveBytes } = m as unknown as PollStats;
      this.latest = { events, markers, processes, busySeconds, liveBytes };
    } else if (m.type === 'done') {
      this.done = m as unknown as DoneLine;
      this.latest = { ...this.latest, events: this.done.totals.events, markers: this.done.totals.markers, busySeconds: this.done.busySeconds };
    } else if (m.type === 'error') {
      this.errorLine = String(m.message);
      // The process exits next; its close reports the error. Stop the target now.
      this.fail(new Error(this.errorLine));
    }
  }
}
