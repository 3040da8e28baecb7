import { openDatabase, type DB } from '../../main/store/db';
import { createSession } from '../../main/store/sessions';

/** A new database file holding one new session (recording), with its clock base set. */
export function sessionDb(file: string, name: string, clockBase: bigint): { db: DB; file: string; sessionId: number } {
  const db = openDatabase(file);
  const sessionId = createSession(db, { name, command: [name], cwd: '/', python: null, torchVersion: null, host: {} });
  db.prepare(`UPDATE sessions SET clock_base_ns = ? WHERE id = ?`).run(clockBase, sessionId);
  return { db, file, sessionId };
}
