import path from 'node:path';
import { UserError } from '../../shared/errors';
import { openDatabase, type DB } from '../store/db';
import { QueryThread } from '../workers/query-thread';

/**
 * The service's database: the file, its connection on the main thread and its two query
 * threads, each opened with its first use. A database that cannot be used (not SQLite, someone
 * else's, a newer schema) does not stop the UI: `problem()` says why (sessions.list shows it),
 * and every call that needs the database refuses with the same message, trying to open it again
 * each time.
 */
export class ServiceDatabase {
  private fileAbs: string;
  private conn: DB | null = null;
  private queryThread: QueryThread | null = null;
  /** A second query thread for the allocated-over-a-range sums (a second or more on millions of events), so that they never hold up the timeline. */
  private rangeThread: QueryThread | null = null;

  constructor(file: string) {
    this.fileAbs = path.resolve(file);
  }

  get file(): string {
    return this.fileAbs;
  }

  /** The open database; throws openDatabase's UserError (a readable reason) when it cannot be used. */
  db(): DB {
    if (!this.conn) this.conn = openDatabase(this.fileAbs);
    return this.conn;
  }

  /** The query thread of the open database (started with its first use). */
  queries(): QueryThread {
    this.db(); // a database that cannot be used says so here, as for every other call
    if (!this.queryThread) this.queryThread = new QueryThread(this.fileAbs);
    return this.queryThread;
  }

  /** The thread for overview.top (started with its first use). */
  rangeQueries(): QueryThread {
    this.db();
    if (!this.rangeThread) this.rangeThread = new QueryThread(this.fileAbs);
    return this.rangeThread;
  }

  /** Why the database cannot be used, or null when it can. */
  problem(): string | null {
    try {
      this.db();
      return null;
    } catch (err) {
      if (err instanceof UserError) return err.message;
      return `cannot open the database ${this.fileAbs}: ${(err as Error).message}`;
    }
  }

  /** Uses another database file from now on (db.open); it is validated before the current one is closed. */
  switchTo(file: string): void {
    const next = openDatabase(file); // validates: SQLite, memoplan schema, not newer
    this.closeThreads();
    this.conn?.close();
    this.conn = next;
    this.fileAbs = path.resolve(file);
  }

  close(): void {
    this.closeThreads();
    this.conn?.close();
    this.conn = null;
  }

  private closeThreads(): void {
    this.queryThread?.close();
    this.queryThread = null;
    this.rangeThread?.close();
    this.rangeThread = null;
  }
}
