import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { isOneLineError, runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

test('an interpreter too slow to import torch is named as slow, not as lacking torch', async () => {
  const db = path.join(tmpDir('memoplan-probe-'), 'x.db');
  const r = await runCli(['record', '--db', db, '--python', '/usr/bin/python3', '--', 'python3', '-c', '1'], { env: { MEMOPLAN_PYTHON_PROBE_SECONDS: '0.01' } });
  assert.equal(r.code, 2, r.stderr);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /took over 0\.01 s to import torch/);
  assert.doesNotMatch(r.stderr, /cannot import torch/);
});
