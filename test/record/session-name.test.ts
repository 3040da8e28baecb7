import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSessionName } from '../../main/record/record';

test('a session is named after the script it runs, never after an argument', () => {
  assert.equal(defaultSessionName(['w.py', '--model', 'x'], true), 'w.py', 'the Record view and `record -- w.py` (no interpreter in argv)');
  assert.equal(defaultSessionName(['python3', '/a/b/w.py', '--model', 'x'], true), 'w.py');
  assert.equal(defaultSessionName(['python3', '-c', 'import torch'], true), 'python3');
  assert.equal(defaultSessionName(['/bin/ls', '-l'], false), 'ls');
});
