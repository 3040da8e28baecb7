import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../../main/paths';

// The interposer's own suite (native/tests/run.sh): transparency with and without recording,
// exact counts under 8 threads, the C API, fork, exec, SIGKILL, a file size limit, stacking
// on jemalloc. It checks the trace files directly with native/tests/trace_dump.
test('native interposer suite (native/tests/run.sh)', () => {
  const r = spawnSync('bash', [path.join(PACKAGE_ROOT, 'native', 'tests', 'run.sh')], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `run.sh failed:\n${r.stdout}\n${r.stderr}`);
});
