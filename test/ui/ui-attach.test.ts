import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WORKLOAD } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';
import { startUi, type UiSession } from './serve-helpers';

/**
 * Attach from the UI, against a real `memoplan serve` and Chromium: a torchvision workload
 * started here as a plain process shows in the Attach view; its Attach button attaches (gdb),
 * the live panel shows progress, Detach stores the session (iterations, aten ops) and the
 * target keeps running. attach.start refuses a pid the list does not show.
 */

const dir = tmpDir('memoplan-ui-attach-');
const dbFile = path.join(dir, 'attach.db');
const PY = '/usr/bin/python3';
const hasGdb = fs.existsSync('/usr/bin/gdb');
let ui: UiSession;
const children: ChildProcess[] = [];
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

before(async () => {
  ui = await startUi(dbFile, dir, { MEMOPLAN_ATTACH_DIR: path.join(dir, 'registry') });
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await ui?.close();
});

test('attach.start refuses a pid the processes list does not show, and bad input', async () => {
  const sl = spawn('sleep', ['600'], { stdio: 'ignore' });
  children.push(sl);
  const refuse = async (body: unknown, status: number, re: RegExp) => {
    const r = await ui.call('attach.start', body);
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.match(r.json.error.message, re);
  };
  await refuse({ pid: process.pid }, 422, /not one of the local processes with torch loaded/);
  await refuse({ pid: sl.pid }, 422, /not one of the local processes with torch loaded/);
  await refuse({ pid: 1 }, 422, /not one of the local processes/);
  await refuse({ pid: 'self' }, 400, /pid must be an integer/);
  await refuse({ pid: -3 }, 400, /pid must be an integer/);
  await refuse({ pid: 5, duration: 0.1 }, 400, /duration must be a number in 0.5..3600/);
  await refuse({ pid: 5, command: ['gdb'] }, 400, /unknown field 'command'/);
  const stop = await ui.call('attach.stop', { runId: 77 });
  assert.equal(stop.status, 422);
  assert.match(stop.json.error.message, /no attach 77 is running/);
  assert.ok(alive(sl.pid!), 'the sleep was not touched');
  sl.kill('SIGKILL');
});

test('attach from the Attach view: progress, detach, the session is stored, the target keeps running', { skip: !hasGdb && 'gdb is not installed' }, async () => {
  const target = spawn(PY, [WORKLOAD, '--model', 'resnet18', '--iterations', '200', '--warmup', '2', '--sleep-between', '0.05'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(target);
  let stderr = '';
  target.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const pid = target.pid!;
  const { page } = ui;
  await page.goto(ui.url);
  await ui.view('attach');
  // Listed once it has imported torch (the view refreshes from pushed scans).
  const btn = `#attach-table tr[data-pid="${pid}"] button.attach-btn`;
  await page.waitForSelector(btn, { timeout: 60_000 });
  await page.click(btn);
  // Attached: the live panel shows events and iterations.
  await page.waitForFunction(() => /\d/.test(document.querySelector('#attach-events')?.textContent ?? '') && Number((document.querySelector('#attach-iterations')?.textContent ?? '0').replace(/,/g, '')) >= 1, undefined, { timeout: 60_000 });
  const title = (await page.textContent('#attach-title')) ?? '';
  const sessionId = Number(/session (\d+)/.exec(title)?.[1]);
  assert.ok(sessionId > 0, title);
  // While attached, the session is listed as recording and a second attach is refused.
  assert.deepEqual((await ui.call('sessions.list', {})).json.result.recording, [sessionId]);
  const again = await ui.call('attach.start', { pid });
  assert.equal(again.status, 422);
  assert.match(again.json.error.message, /attach to process \d+ is recording/);
  await ui.shot('attach-live');

  await page.click('#attach-detach');
  await page.waitForSelector('#attach-open', { timeout: 60_000 });
  assert.match((await page.textContent('#attach-log')) ?? '', /the process keeps running/);
  assert.ok(alive(pid) && target.exitCode === null, `the target keeps running after the detach: ${stderr.slice(-2000)}`);

  const list = (await ui.call('sessions.list', {})).json.result;
  assert.deepEqual(list.recording, []);
  const s = list.sessions.find((x: { id: number }) => x.id === sessionId);
  assert.ok(s, JSON.stringify(list.sessions));
  assert.equal(s.status, 'complete');
  assert.ok(s.iterations >= 1, JSON.stringify(s));
  assert.ok(s.events > 0, JSON.stringify(s));
  const top = (await ui.call('overview.top', { session: sessionId, by: 'op' })).json.result;
  assert.ok(top.rows.some((r: { name: string }) => r.name.startsWith('aten::')), JSON.stringify(top.rows.slice(0, 5)));
  // It appears in the Sessions view.
  await ui.view('sessions');
  await page.waitForSelector(`#sessions-table tr[data-session="${sessionId}"]`);

  // Still running a moment later (detached cleanly), then ended here.
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(alive(pid), 'the target survives the detach');
  target.kill('SIGKILL');
});

test('no console errors in the page', () => {
  assert.deepEqual(ui.consoleErrors, []);
});
