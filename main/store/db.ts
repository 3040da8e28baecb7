import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { UserError } from '../../shared/errors';
import { MIGRATIONS, SCHEMA_VERSION } from './schema';
import { ENV } from '../../shared/env-vars';

export type DB = Database.Database;

// URI file names (file:...?immutable=1) open a database on read-only media whose -wal/-shm
// files cannot be created. better-sqlite3 reads SQLITE_USE_URI once, when its addon loads: load
// it now with URIs on, then restore the environment (targets we launch inherit it). Every path
// memoplan opens is made absolute first, so no user's file name is read as a URI.
{
  const prev = process.env.SQLITE_USE_URI;
  process.env.SQLITE_USE_URI = '1';
  try {
    new Database(':memory:').close();
  } finally {
    if (prev === undefined) delete process.env.SQLITE_USE_URI;
    else process.env.SQLITE_USE_URI = prev;
  }
}

export interface OpenOptions {
  /** Create the file when it does not exist (default true). */
  create?: boolean;
  readonly?: boolean;
  /**
   * Run PRAGMA quick_check when the file is small enough for it to be cheap (QUICK_CHECK_MAX_BYTES):
   * a damaged database is refused with a clear message instead of answering from bad pages.
   */
  check?: boolean;
}

/** Databases up to this size are checked (PRAGMA quick_check, about 0.2-1 s for 20 MiB here) when a command opens them with check; larger ones rely on SQLite reporting damaged pages as it reads them (SQLITE_CORRUPT, a one-line message). */
export const QUICK_CHECK_MAX_BYTES = 16 * 1024 * 1024;

/** How long a connection waits for another writer (a recording's ingester commits every 50 ms). */
const BUSY_TIMEOUT_MS = 10_000;

/** Refuses names that are not a database file: '', :memory:, file: URIs, NUL. Returns the absolute path. */
function databasePath(file: string): string {
  if (file.trim() === '') throw new UserError('--db is empty: give a database file name');
  if (file.trim() === ':memory:') throw new UserError('--db :memory: is not supported: memoplan stores recordings in a file (give a file name)');
  if (file.includes('\0')) throw new UserError('--db contains a NUL character');
  return path.resolve(file);
}

/**
 * Opens a memoplan database: checks that the file is SQLite and not from a newer memoplan,
 * applies pending migrations in one transaction, and turns on WAL.
 *
 * Several memoplans may create the same new file at once (three records started together):
 * the busy timeout is set first, and the migration runs in a BEGIN IMMEDIATE transaction that
 * reads the schema version again once it holds the write lock, so only the first one creates
 * the tables and the others find them there.
 */
export function openDatabase(file: string, options: OpenOptions = {}): DB {
  const create = options.create ?? true;
  const abs = databasePath(file);
  const st = statOrNull(abs);
  if (!st && (!create || options.readonly)) {
    throw new UserError(`database not found: ${file}`);
  }
  if (st && st.isDirectory()) {
    throw new UserError(`database path is a directory: ${file}`);
  }
  if (st && !st.isFile()) throw new UserError(`database path is not a regular file (a device, FIFO or socket): ${file}`);
  if (!st) {
    const dir = path.dirname(abs);
    if (!fs.existsSync(dir)) throw new UserError(`directory does not exist for database: ${dir}`);
  }
  if (options.readonly) return openForReading(file, abs, options.check ?? false);
  // While several memoplans set up one new file at once, SQLite may answer SQLITE_BUSY without
  // waiting (a lock upgrade that would deadlock, the switch to WAL): start again a little later.
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return openReadWrite(file, abs, create, st, options.check ?? false);
    } catch (err) {
      const busy = err instanceof UserError && (err as UserError & { busy?: boolean }).busy;
      if (!busy || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 + Math.floor(Math.random() * 30 * Math.min(attempt + 1, 8)));
    }
  }
}

function openReadWrite(file: string, abs: string, create: boolean, st: fs.Stats | null, check: boolean): DB {
  let db: DB;
  try {
    db = new Database(abs, { readonly: false, fileMustExist: !create, timeout: BUSY_TIMEOUT_MS });
  } catch (err) {
    throw new UserError(`cannot open database ${file}: ${sqliteMessage(err)}`);
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // Someone else's database is refused before anything is written to it (journal_mode = WAL
    // alone rewrites the file header). The version and the tables are read in one transaction:
    // another memoplan creating the schema at this moment commits both at once.
    db.transaction(() => {
      const v = db.pragma('user_version', { simple: true }) as number;
      checkVersion(file, v);
      if (v === 0) refuseForeign(db);
    })();
    if (check && st) quickCheck(db, file, st.size);
    if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, file);
  } catch (err) {
    db.close();
    const e = asUserError(err, file);
    if (errCode(err).startsWith('SQLITE_BUSY')) (e as UserError & { busy?: boolean }).busy = true;
    throw e;
  }
  return db;
}

/**
 * Opens a database for a command that only reads it (sessions, report, export, replay --at):
 * read-only, so a database on read-only media or a write-protected file can be read, and a file
 * that is not a memoplan database yet (a 0-byte file) is refused rather than written into. A
 * database with an older schema is migrated first when the file can be written; otherwise the
 * message says so.
 */
export function openDatabaseForReading(file: string, options: { check?: boolean } = {}): DB {
  return openDatabase(file, { create: false, readonly: true, check: options.check ?? true });
}

function openForReading(file: string, abs: string, check: boolean): DB {
  const st = fs.statSync(abs);
  if (st.size === 0) throw new UserError(`${file} is empty (0 bytes): not a memoplan database`);
  let db: DB;
  try {
    db = new Database(abs, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    // A WAL database needs its -shm file: where it cannot be created (read-only media) the open
    // succeeds and the first read fails.
    db.pragma('user_version', { simple: true });
  } catch (err) {
    if (errCode(err) !== 'SQLITE_CANTOPEN' && errCode(err) !== 'SQLITE_READONLY_CANTINIT') {
      throw asUserError(err, file);
    }
    // Read-only media: nobody can change the file, so SQLite may read it as immutable.
    try {
      db = new Database(`file:${abs.split('/').map(encodeURIComponent).join('/')}?immutable=1`, { readonly: true, fileMustExist: true });
    } catch (err2) {
      throw new UserError(`cannot open database ${file}: ${sqliteMessage(err2)}`);
    }
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const version = db.pragma('user_version', { simple: true }) as number;
    checkVersion(file, version);
    if (version === 0) {
      refuseForeign(db);
      throw new UserError(`${file} is an empty SQLite database: not a memoplan database (no sessions recorded into it)`);
    }
    if (check) quickCheck(db, file, st.size);
    if (version < SCHEMA_VERSION) {
      db.close();
      if (!writable(abs)) {
        throw new UserError(`database ${file} has schema version ${version} and cannot be written here; open it once where it is writable to upgrade it`);
      }
      return openDatabase(file, { create: false });
    }
  } catch (err) {
    if (db.open) db.close();
    throw asUserError(err, file);
  }
  return db;
}

function writable(abs: string): boolean {
  try {
    fs.accessSync(abs, fs.constants.W_OK);
    fs.accessSync(path.dirname(abs), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

function checkVersion(file: string, version: number): void {
  if (version > SCHEMA_VERSION) {
    throw new UserError(`database ${file} has schema version ${version}, newer than this memoplan supports (${SCHEMA_VERSION}); upgrade memoplan`);
  }
}

/** PRAGMA quick_check on a file small enough for it to be cheap. */
function quickCheck(db: DB, file: string, size: number): void {
  const max = process.env[ENV.QUICK_CHECK_MAX_BYTES] ? Number(process.env[ENV.QUICK_CHECK_MAX_BYTES]) : QUICK_CHECK_MAX_BYTES;
  if (!(size <= max)) return;
  const rows = db.pragma('quick_check(3)') as { quick_check: string }[];
  if (rows.length === 1 && rows[0].quick_check === 'ok') return;
  throw damaged(file, rows.map((r) => r.quick_check).join('; '));
}

function damaged(file: string, detail: string): UserError {
  const oneLine = detail.replace(/\s+/g, ' ').slice(0, 200);
  return new UserError(`database ${file} is damaged (${oneLine}); nothing was changed. sqlite3 ${file} .recover may save what is readable`);
}

function errCode(err: unknown): string {
  return (err as { code?: string }).code ?? '';
}

function sqliteMessage(err: unknown): string {
  return (err as Error).message;
}

/** SQLite errors that come from the file or its disk rather than from us, as UserErrors. */
export function asUserError(err: unknown, file: string): Error {
  if (err instanceof UserError) return err;
  const code = errCode(err);
  if (code === 'SQLITE_NOTADB') return new UserError(`${file} is not a memoplan database (not SQLite, or corrupt)`);
  if (code.startsWith('SQLITE_CORRUPT')) return damaged(file, sqliteMessage(err));
  if (code === 'SQLITE_FULL') return new UserError(`database ${file}: the disk is full (${sqliteMessage(err)})`);
  if (code.startsWith('SQLITE_READONLY')) return new UserError(`database ${file} cannot be written (read-only file or file system)`);
  if (code.startsWith('SQLITE_IOERR')) return new UserError(`database ${file}: input/output error (${code})`);
  if (code.startsWith('SQLITE_CANTOPEN')) return new UserError(`cannot open database ${file}: ${sqliteMessage(err)}`);
  if (code.startsWith('SQLITE_BUSY')) return new UserError(`database ${file} is locked by another program for more than ${BUSY_TIMEOUT_MS / 1000} s`);
  return err as Error;
}

/** A non-empty SQLite file with user_version 0 is someone else's database: refuse to touch it. */
function refuseForeign(db: DB): void {
  const tables = db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'`).get() as { n: number };
  if (tables.n > 0) throw new UserError(`${db.name} is an SQLite database but not a memoplan one (it has other tables)`);
}

/** Applies the pending migrations, holding the write lock while it reads the version. */
function migrate(db: DB, file: string): void {
  if ((db.pragma('user_version', { simple: true }) as number) === SCHEMA_VERSION) return;
  db.transaction(() => {
    const from = db.pragma('user_version', { simple: true }) as number;
    checkVersion(file, from);
    if (from === 0) refuseForeign(db);
    for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/**
 * Runs `fn` in one transaction of `db` (BEGIN IMMEDIATE when `immediate`: the write lock taken
 * first, as the ingesters do): committed when it returns, rolled back when it throws. For work
 * outside the store (reading a trace) whose rows must be stored together.
 */
export function inTransaction<T>(db: DB, fn: () => T, opts: { immediate?: boolean } = {}): T {
  const t = db.transaction(fn);
  return opts.immediate ? t.immediate() : t();
}

/**
 * `db` as seen through a hook: every statement it prepares calls `after` once each run, get or
 * all returns (a worker reports progress while a long synchronous job stores rows).
 */
export function withStatementHook(db: DB, after: () => void): DB {
  const wrapStatement = (stmt: object) =>
    new Proxy(stmt, {
      get(t, k) {
        const v = Reflect.get(t, k, t);
        if (typeof v !== 'function') return v;
        if (k === 'run' || k === 'get' || k === 'all') {
          return (...args: unknown[]) => {
            const r = (v as (...a: unknown[]) => unknown).apply(t, args);
            after();
            return r;
          };
        }
        return v.bind(t);
      },
    });
  return new Proxy(db, {
    get(t, k) {
      const v = Reflect.get(t, k, t);
      if (k === 'prepare') return (sql: string) => wrapStatement(t.prepare(sql));
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}
