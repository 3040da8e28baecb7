import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { UserError } from '../../shared/errors';
import { MIGRATIONS, SCHEMA_VERSION } from './schema';

export type DB = Database.Database;

export interface OpenOptions {
  /** Create the file when it does not exist (default true). */
  create?: boolean;
  readonly?: boolean;
}

/**
 * Opens a memoplan database: checks that the file is SQLite and not from a newer memoplan,
 * applies pending migrations in one transaction, and turns on WAL.
 */
export function openDatabase(file: string, options: OpenOptions = {}): DB {
  const create = options.create ?? true;
  const exists = fs.existsSync(file);
  if (!exists && (!create || options.readonly)) {
    throw new UserError(`database not found: ${file}`);
  }
  if (exists && fs.statSync(file).isDirectory()) {
    throw new UserError(`database path is a directory: ${file}`);
  }
  if (!exists) {
    const dir = path.dirname(path.resolve(file));
    if (!fs.existsSync(dir)) throw new UserError(`directory does not exist for database: ${dir}`);
  }
  let db: DB;
  try {
    db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: !create });
  } catch (err) {
    throw new UserError(`cannot open database ${file}: ${(err as Error).message}`);
  }
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new UserError(
        `database ${file} has schema version ${version}, newer than this memoplan supports (${SCHEMA_VERSION}); upgrade memoplan`,
      );
    }
    // Someone else's database is refused before anything is written to it (journal_mode = WAL
    // alone rewrites the file header).
    if (version === 0) refuseForeign(db);
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, version);
    } else if (version < SCHEMA_VERSION) {
      throw new UserError(`database ${file} has schema version ${version}; open it once read-write to upgrade`);
    }
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    db.close();
    if (err instanceof UserError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new UserError(`${file} is not a memoplan database (not SQLite, or corrupt)`);
    }
    throw err;
  }
  return db;
}

/** A non-empty SQLite file with user_version 0 is someone else's database: refuse to touch it. */
function refuseForeign(db: DB): void {
  const tables = db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'`).get() as { n: number };
  if (tables.n > 0) throw new UserError(`${db.name} is an SQLite database but not a memoplan one (it has other tables)`);
}

function migrate(db: DB, from: number): void {
  if (from === SCHEMA_VERSION) return;
  db.transaction(() => {
    for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}
