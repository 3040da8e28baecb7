import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase, type DB } from '../store/db';
import * as q from '../api/queries';
import { serializeError, type QueryRequest, type QueryMessage } from './protocol';

/**
 * A long-lived thread for read queries that may take a while: a zoomed timeline range is
 * summed from up to 120,000 events (about 0.1 s), and ApiService keeps answering other calls
 * meanwhile. It has its own read connection (WAL: it sees every committed write) and answers
 * each request with a reply or an error. It lives as long as the service's database.
 */

export interface QueryWorkerData {
  dbFile: string;
}

const { dbFile } = workerData as QueryWorkerData;
let db: DB | null = null;

function run(m: QueryRequest): unknown {
  if (!db) db = openDatabase(dbFile, { create: false });
  switch (m.method) {
    case 'overview.timeline':
      return q.timeline(db, m.params.session, m.params);
    case 'overview.live':
      return q.live(db, m.params);
    case 'overview.top':
      return q.top(db, m.params.session, m.params.by, m.params.limit ?? 15, m.params);
  }
}

const port = parentPort;
if (!port) throw new Error('this file runs as a worker thread (main/workers/query-thread.ts starts it)');
port.on('message', (m: QueryMessage) => {
  if (m.type === 'close') {
    db?.close();
    db = null;
    port.close();
    return;
  }
  try {
    port.postMessage({ type: 'reply', id: m.id, value: run(m) });
  } catch (err) {
    port.postMessage({ type: 'reply-error', id: m.id, error: serializeError(err) });
  }
});
