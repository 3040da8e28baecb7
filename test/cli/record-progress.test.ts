import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * `memoplan record` progress on a non-terminal stderr (a line every 10 s): the total is the whole
 * run's, so the rate next to it says it is the last second's, beside the run's average (issue 13).
 */

const dir = tmpDir('memoplan-progress-');

test('record progress: events so far, the average rate and the last second\'s, said as such', async () => {
  const script = 'import time\nfor _ in range(23):\n    time.sleep(0.5)\n';
  const r = await runCli(['record', '--db', path.join(dir, 'p.db'), '--', 'python3', '-c', script], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('memoplan: recording '));
  assert.ok(lines.length >= 1, r.stderr);
  for (const l of lines) {
    assert.match(l, /^memoplan: recording \d+s: [\d,]+ events \([\d,]+\/s on average, [\d,]+\/s in the last second\), [\d.]+ MiB live now, 1 process\(es\)$/);
  }
});
