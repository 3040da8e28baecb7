import { workerData } from 'node:worker_threads';
import { openDatabase } from '../store/db';
import { deleteSession } from '../store/sessions';
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
    deleteSession(db, id); // refused while the session is being recorded
    return { deleted: id };
  } finally {
    db.close();
  }
});
