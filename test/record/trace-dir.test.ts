import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { chooseTraceRoot, ensureTraceRoot } from '../../main/record/trace-dir';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir();

test('MEMOPLAN_TRACE_ROOT wins; a folder that is not a tmpfs sends traces next to the database', () => {
  const db = path.join(dir, 'x', 'm.db');
  assert.deepEqual(chooseTraceRoot(db, { MEMOPLAN_TRACE_ROOT: path.join(dir, 'r') }), { root: path.join(dir, 'r'), reason: 'env' });
  // The test folder is on the disk file system (or wherever tmpDir is): not a tmpfs candidate.
  const notShm = path.join(dir, 'no-shm');
  fs.mkdirSync(notShm);
  const isTmpfs = fs.statfsSync(notShm).type === 0x01021994;
  if (!isTmpfs) assert.deepEqual(chooseTraceRoot(db, {}, notShm), { root: path.join(dir, 'x', '.memoplan-traces'), reason: 'database' });
  assert.equal(chooseTraceRoot(db, {}, path.join(dir, 'missing')).reason, 'database');
});

test('/dev/shm is used when it is a tmpfs with room, in a folder of our own', (t) => {
  let st: fs.StatsFs;
  try {
    st = fs.statfsSync('/dev/shm');
  } catch {
    t.skip('no /dev/shm here');
    return;
  }
  const c = chooseTraceRoot(path.join(dir, 'm.db'), {});
  if (st.type !== 0x01021994 || st.bavail * st.bsize < 2 * 1024 ** 3) {
    assert.equal(c.reason, 'database');
    return;
  }
  assert.equal(c.reason, 'tmpfs');
  assert.match(c.root, /^\/dev\/shm\/memoplan-\d+$/);
  const root = ensureTraceRoot(c);
  assert.ok(fs.statSync(root).isDirectory());
});

test('a trace root that is a file is refused with a message', () => {
  const f = path.join(dir, 'a-file');
  fs.writeFileSync(f, '');
  assert.throws(() => ensureTraceRoot({ root: f, reason: 'env' }), /trace folder .*a-file: exists and is not a directory; remove it or set MEMOPLAN_TRACE_ROOT/);
});
