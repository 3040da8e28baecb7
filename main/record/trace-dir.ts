import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../shared/errors';
import { ENV } from '../../shared/env-vars';

/**
 * Where the trace files of a recording live while it runs (they are deleted once stored).
 *
 * A tmpfs (/dev/shm) when there is one with room: the interposer writes every record into a
 * fresh page of a MAP_SHARED file mapping, and the kernel supplies a tmpfs page for about half
 * of what a disk file system's page costs (no block allocation, no writeback; measured with
 * native/tests/bench_pagecost). The files still outlive a SIGKILL of the target, as the trace
 * format requires; only a reboot of the machine before they are stored would lose them.
 * Otherwise, and when MEMOPLAN_TRACE_ROOT says so, a folder next to the database.
 */

const TMPFS_MAGIC = 0x01021994;
/** Below this much free space on the tmpfs, traces go next to the database instead. */
export const MIN_TMPFS_FREE_BYTES = 2 * 1024 ** 3;

export interface TraceRootChoice {
  root: string;
  /** Why this place: 'env' (MEMOPLAN_TRACE_ROOT), 'tmpfs', or 'database' (next to the db). */
  reason: 'env' | 'tmpfs' | 'database';
}

export function chooseTraceRoot(dbFile: string, env: NodeJS.ProcessEnv = process.env, shm = '/dev/shm'): TraceRootChoice {
  const fromEnv = env[ENV.TRACE_ROOT];
  if (fromEnv) return { root: path.resolve(fromEnv), reason: 'env' };
  const onTmpfs = usableTmpfs(shm);
  if (onTmpfs) return { root: path.join(shm, `memoplan-${os.userInfo().uid}`), reason: 'tmpfs' };
  return { root: path.join(path.dirname(path.resolve(dbFile)), '.memoplan-traces'), reason: 'database' };
}

function usableTmpfs(dir: string): boolean {
  try {
    const st = fs.statfsSync(dir);
    if (st.type !== TMPFS_MAGIC) return false;
    if (st.bavail * st.bsize < MIN_TMPFS_FREE_BYTES) return false;
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates the root (mode 0711: a target running as another user, as with `memoplan attach` by
 * root, can reach its own session folder but not list the others) and returns it. A root that
 * exists must be a directory owned by us: /dev/shm is shared by every user of the machine.
 */
export function ensureTraceRoot(choice: TraceRootChoice): string {
  const uid = os.userInfo().uid;
  const refuse = (why: string) => new UserError(`trace folder ${choice.root}: ${why}; remove it or set MEMOPLAN_TRACE_ROOT to another folder`);
  try {
    fs.mkdirSync(choice.root, { recursive: true, mode: 0o711 });
  } catch (err) {
    throw refuse((err as NodeJS.ErrnoException).code === 'EEXIST' ? 'exists and is not a directory' : (err as Error).message);
  }
  const st = fs.lstatSync(choice.root);
  if (!st.isDirectory()) throw refuse('is not a directory');
  if (choice.reason === 'tmpfs' && st.uid !== uid) throw refuse(`belongs to uid ${st.uid}, not to us (uid ${uid})`);
  return choice.root;
}

/**
 * Removes the empty `rec-*` folders a recorder killed while it started left behind (made, not
 * yet named after its session), older than a minute. Never touches a folder with anything in it.
 */
export function sweepStaleStartFolders(root: string, now = Date.now()): void {
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith('rec-')) continue;
    const p = path.join(root, n);
    try {
      const st = fs.lstatSync(p);
      if (st.isDirectory() && now - st.mtimeMs > 60_000) fs.rmdirSync(p); // fails (ENOTEMPTY) unless empty
    } catch {
      /* not empty, or not ours */
    }
  }
}
