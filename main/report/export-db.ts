import fs from 'node:fs';
import path from 'node:path';
import { asUserError, openDatabase, openDatabaseForReading, type DB } from '../store/db';
import { checkOutputFile, databaseFiles } from '../fs/files';
import { UserError } from '../../shared/errors';

/**
 * Exports one session of a (workspace) database as a standalone memoplan database: the target
 * is created by openDatabase, so its schema is the current one, and every row of the session
 * is copied with ATTACH DATABASE + INSERT ... SELECT, ids kept. What belongs to a session:
 *   - sessions: its row;
 *   - events: the rows of its threads within sessions.first_event..last_event;
 *   - plan_buffers: the rows of its plans;
 *   - every other table with a session_id column: its rows (processes, threads, ops,
 *     allocations, iterations, timeline, op_stats, plans, replays, and any later table
 *     that follows the convention).
 * Tables that belong to no session (ab_* runs) are not copied. The file is written under a
 * temporary name and renamed at the end, so a failed export leaves nothing behind.
 */

export interface ExportOptions {
  /** Source database file. */
  dbFile: string;
  sessionId: number;
  out: string;
  force?: boolean;
}

export interface ExportResult {
  out: string;
  bytes: number;
  /** Rows copied per table. */
  rows: Record<string, number>;
  /** Tables of the schema that hold no per-session rows, left out. */
  skipped: string[];
}

function checkOut(out: string, force: boolean, dbFile: string): string {
  return checkOutputFile(out, { what: 'exported database', option: '--out', inputs: databaseFiles(dbFile), replace: force });
}

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

function removeDbFiles(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) fs.rmSync(f, { force: true });
}

function columns(db: DB, schema: string, table: string): string[] {
  return (db.prepare(`PRAGMA ${schema}.table_info(${JSON.stringify(table)})`).all() as { name: string }[]).map((c) => c.name);
}

export function exportSessionDatabase(o: ExportOptions): ExportResult {
  const out = checkOut(o.out, o.force ?? false, o.dbFile);
  // Validate the source the usual way (memoplan file, schema not newer, not damaged), read-only.
  const src = openDatabaseForReading(o.dbFile);
  try {
    const s = src.prepare(`SELECT id FROM sessions WHERE id = ?`).get(o.sessionId);
    if (!s) throw new UserError(`no session ${o.sessionId} in ${o.dbFile}`);
  } finally {
    src.close();
  }

  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.partial-${process.pid}`);
  removeDbFiles(tmp);
  let db: DB | null = null;
  try {
    db = openDatabase(tmp);
    db.pragma('foreign_keys = OFF');
    attachReadOnly(db, path.resolve(o.dbFile));
    const tables = (
      db.prepare(`SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid`).all() as { name: string }[]
    ).map((r) => r.name);
    const rows: Record<string, number> = {};
    const skipped: string[] = [];
    const sid = o.sessionId;
    db.transaction(() => {
      for (const t of tables) {
        const cols = columns(db!, 'main', t);
        const srcCols = new Set(columns(db!, 'src', t));
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
        const info = db!.prepare(`INSERT INTO main."${t}" (${list}) SELECT ${list} FROM src."${t}" WHERE ${where}`).run({ sid });
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
    db = null;
    // The source could have been moved onto the output's path meanwhile: checked again.
    checkOut(o.out, o.force ?? false, o.dbFile);
    if (o.force) removeDbFiles(out);
    fs.renameSync(tmp, out);
    return { out, bytes: fs.statSync(out).size, rows, skipped };
  } catch (err) {
    if (db) db.close();
    removeDbFiles(tmp);
    const code = (err as { code?: string }).code ?? '';
    if (code === 'SQLITE_FULL' || code === 'ENOSPC') throw new UserError(`cannot write ${out}: the disk is full; nothing was written`);
    if (code.startsWith('SQLITE_CORRUPT')) throw asUserError(err, o.dbFile);
    throw err;
  }
}
