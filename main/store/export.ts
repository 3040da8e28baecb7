import { UserError } from '../../shared/errors';
import { openDatabase, type DB } from './db';

/**
 * One session of a database copied into a new database file, every row of it, ids kept: the
 * SQL of `memoplan export` (main/report/export-db.ts says what belongs to a session and handles
 * the files).
 */

/** ATTACH the source read-only (mode=ro; immutable on read-only media where -shm cannot be made). */
function attachReadOnly(db: DB, abs: string): void {
  const uri = `file:${abs.split('/').map(encodeURIComponent).join('/')}`;
  try {
    db.prepare(`ATTACH DATABASE ? AS src`).run(`${uri}?mode=ro`);
    db.prepare(`SELECT count(*) FROM src.sqlite_master`).get();
  } catch {
    try {
      db.exec(`DETACH DATABASE src`);
    } catch {
      /* not attached */
    }
    db.prepare(`ATTACH DATABASE ? AS src`).run(`${uri}?immutable=1`);
  }
}

function columns(db: DB, schema: string, table: string): string[] {
  return (db.prepare(`PRAGMA ${schema}.table_info(${JSON.stringify(table)})`).all() as { name: string }[]).map((c) => c.name);
}

/**
 * Creates the database `file` (the current schema), copies session `sid` of the database
 * `srcFile` into it (read-only) and closes it, a single file (journal mode DELETE). Returns the
 * rows copied per table and the tables left out. Throws, with `file` closed, when the session
 * refers to rows outside it.
 */
export function copySession(file: string, srcFile: string, sid: number): { rows: Record<string, number>; skipped: string[] } {
  const db = openDatabase(file);
  try {
    db.pragma('foreign_keys = OFF');
    attachReadOnly(db, srcFile);
    const tables = (
      db.prepare(`SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid`).all() as { name: string }[]
    ).map((r) => r.name);
    const rows: Record<string, number> = {};
    const skipped: string[] = [];
    db.transaction(() => {
      for (const t of tables) {
        const cols = columns(db, 'main', t);
        const srcCols = new Set(columns(db, 'src', t));
        const list = cols.filter((c) => srcCols.has(c)).map((c) => `"${c}"`).join(', ');
        let where: string | null;
        if (t === 'sessions') where = `id = @sid`;
        else if (t === 'events') {
          where =
            `id BETWEEN (SELECT coalesce(first_event, 1) FROM src.sessions WHERE id = @sid) AND (SELECT coalesce(last_event, 0) FROM src.sessions WHERE id = @sid)` +
            ` AND thread_id IN (SELECT id FROM src.threads WHERE session_id = @sid)`;
        } else if (t === 'plan_buffers') where = `plan_id IN (SELECT id FROM src.plans WHERE session_id = @sid)`;
        else if (cols.includes('session_id') && srcCols.has('session_id')) where = `session_id = @sid`;
        else where = null;
        if (where === null || srcCols.size === 0) {
          skipped.push(t);
          continue;
        }
        const info = db.prepare(`INSERT INTO main."${t}" (${list}) SELECT ${list} FROM src."${t}" WHERE ${where}`).run({ sid });
        rows[t] = info.changes;
      }
    })();
    const broken = db.prepare(`PRAGMA main.foreign_key_check`).all() as { table: string; parent: string }[];
    if (broken.length) {
      const first = broken[0];
      throw new UserError(`session ${sid} refers to rows outside it (${broken.length} in all, first: ${first.table} -> ${first.parent}); not exported`);
    }
    db.exec(`DETACH DATABASE src`);
    // One self-contained file: no -wal beside it.
    db.pragma('journal_mode = DELETE');
    db.close();
    return { rows, skipped };
  } catch (err) {
    db.close();
    throw err;
  }
}
