import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { BIN } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

test('memoplan serve prints its tokened URL first, serves the UI and refuses requests without the token', async () => {
  const dir = tmpDir();
  const child = spawn(process.execPath, [BIN, 'serve', '--db', path.join(dir, 'ws.db'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.on('close', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{32}$/);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /Content-Security-Policy/);
    const origin = new URL(url).origin;
    assert.equal((await fetch(origin + '/')).status, 403);
    const post = (token: string) =>
      fetch(origin + '/api/sessions.list?token=' + token, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal((await post('wrong')).status, 403);
    const api = await post(new URL(url).searchParams.get('token')!);
    assert.equal(api.status, 200);
    const reply = (await api.json()) as { ok: boolean; result: { sessions: unknown[] } };
    assert.equal(reply.ok, true);
    assert.deepEqual(reply.result.sessions, []);
  } finally {
    child.kill('SIGINT');
  }
});
