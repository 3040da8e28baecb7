import { workerData } from 'node:worker_threads';
import { UserError } from '../../shared/errors';
import { openDatabase } from '../store/db';
import { runTask } from './worker-side';

/** sessions.delete in a worker thread: a huge session's events take seconds to delete. */

export interface DeleteWorkerData {
  dbFile: string;
  id: number;
}

const { dbFile, id } = workerData as DeleteWorkerData;

runTask(() => {
  const db = openDatabase(dbFile);
  try {
    const s = db.prepare(`SELECT first_event, last_event FROM sessions WHERE id = ?`).get(id) as { first_event: number | null; last_event: number | null } | undefined;
    if (!s) throw new UserError(`no session ${id} in this database`);
    db.transaction(() => {
      // events has no session column: a session's events are its threads' rows in first_event..last_event.
      if (s.first_event !== null && s.last_event !== null) {
        db.prepare(`DELETE FROM events WHERE id BETWEEN ? AND ? AND thread_id IN (SELECT id FROM threads WHERE session_id = ?)`).run(s.first_event, s.last_event, id);
      }
      db.prepare(`DELETE FROM sessions WHERE id = ?`).run(id);
    })();
    return { deleted: id };
  } finally {
    db.close();
  }
});
