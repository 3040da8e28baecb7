import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { secureWebPreferences, WINDOW_CSP } from '../../main/window-config';
import { ApiService } from '../../main/api/service';
import { API_METHODS } from '../../shared/api';
import { tmpDir } from '../helpers/tmp';

// The Electron binary cannot run here; these are the settings main/app.ts creates the window
// with, and the service its IPC handler forwards every call to (the same one serve uses).

test('the window: no Node in the renderer, sandboxed, isolated, no webviews, web security on', () => {
  const prefs = secureWebPreferences('/x/preload.js');
  assert.deepEqual(prefs, { preload: '/x/preload.js', contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, webviewTag: false });
  const src = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'main', 'app.ts'), 'utf8');
  assert.match(src, /webPreferences: secureWebPreferences\(/, 'app.ts creates the window with these settings');
  assert.match(src, /setWindowOpenHandler\(\(\) => \(\{ action: 'deny' \}\)\)/, 'new windows denied');
  assert.match(src, /'will-navigate', \(e\) => e\.preventDefault\(\)/, 'navigation blocked');
  assert.match(src, /setPermissionRequestHandler\(\(_wc, _perm, cb\) => cb\(false\)\)/, 'every permission refused');
});

test('the CSP: nothing remote, no inline or eval script, no framing', () => {
  const d = Object.fromEntries(WINDOW_CSP.split(';').map((p) => p.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
  assert.deepEqual(d['default-src'], ["'none'"]);
  assert.deepEqual(d['script-src'], ["'self'"]);
  assert.deepEqual(d['connect-src'], ["'self'"]);
  assert.deepEqual(d['frame-ancestors'], ["'none'"]);
  assert.deepEqual(d['base-uri'], ["'none'"]);
  assert.doesNotMatch(WINDOW_CSP, /unsafe-eval|https?:|\*/);
});

test('every method of the contract rejects malformed input (what the IPC handler forwards)', async () => {
  const dir = tmpDir();
  const service = new ApiService({ dbFile: path.join(dir, 'ipc.db') });
  after(() => service.close());
  for (const method of API_METHODS) {
    for (const bad of [{ __proto_pollution__: 1 }, 'a string', 42, [1, 2]]) {
      const r = await service.call(method, bad);
      assert.equal(r.ok, false, `${method} accepted ${JSON.stringify(bad)}`);
      if (!r.ok) assert.equal(r.error.kind, 'bad-request', `${method} ${JSON.stringify(bad)}: ${r.error.message}`);
    }
  }
  const unknown = await service.call('fs.readFile', { path: '/etc/passwd' });
  assert.equal(unknown.ok, false);
  if (!unknown.ok) assert.equal(unknown.error.kind, 'not-found');
});
