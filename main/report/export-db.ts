import fs from 'node:fs';
import path from 'node:path';
import { asUserError, openDatabaseForReading } from '../store/db';
import { copySession } from '../store/export';
import { sessionExists } from '../store/sessions';
import { checkOutputFile, databaseFiles } from '../fs/files';
import { UserError } from '../../shared/errors';

/**
 * Exports one session of a (workspace) database as a standalone memoplan database: the target
 * is created by openDatabase, so its schema is the current one, and every row of the session
 * is copied with ATTACH DATABASE + INSERT ... SELECT, ids kept (main/store/export.ts). What belongs to a session:
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

function removeDbFiles(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) fs.rmSync(f, { force: true });
}

export function exportSessionDatabase(o: ExportOptions): ExportResult {
  const out = checkOut(o.out, o.force ?? false, o.dbFile);
  // Validate the source the usual way (memoplan file, schema not newer, not damaged), read-only.
  const src = openDatabaseForReading(o.dbFile);
  try {
    if (!sessionExists(src, o.sessionId)) throw new UserError(`no session ${o.sessionId} in ${o.dbFile}`);
  } finally {
    src.close();
  }

  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.partial-${process.pid}`);
  removeDbFiles(tmp);
  try {
    const { rows, skipped } = copySession(tmp, path.resolve(o.dbFile), o.sessionId);
    // The source could have been moved onto the output's path meanwhile: checked again.
    checkOut(o.out, o.force ?? false, o.dbFile);
    if (o.force) removeDbFiles(out);
    fs.renameSync(tmp, out);
    return { out, bytes: fs.statSync(out).size, rows, skipped };
  } catch (err) {
    removeDbFiles(tmp);
    const code = (err as { code?: string }).code ?? '';
    if (code === 'SQLITE_FULL' || code === 'ENOSPC') throw new UserError(`cannot write ${out}: the disk is full; nothing was written`);
    if (code.startsWith('SQLITE_CORRUPT')) throw asUserError(err, o.dbFile);
    throw err;
  }
}
