import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { tmpDir } from '../helpers/tmp';
import { startUi, type UiSession } from './serve-helpers';

/**
 * Bad input in the UI, against a real `memoplan serve` and Chromium: each case shows a readable
 * message in the view (never a blank page), with a screenshot each under the test folder's
 * shots/ (and /tmp/memoplan-ui-shots/):
 *   - a database that is not ours: a random file, another program's SQLite file, a newer
 *     memoplan schema (the file is left as it was);
 *   - an empty database: every view says what to do;
 *   - a script path that does not exist, from the Attach view's "Launch a workload" button;
 *   - targets that exit at once: `raise SystemExit(3)`, and a script without torch that exits 0.
 */

const dir = tmpDir('memoplan-ui-bad-');
const open: UiSession[] = [];
/** Set by the first test: whether another program's SQLite file kept every byte (checked by the next test). */
let foreignUnchanged: boolean | null = null;

after(async () => {
  for (const ui of open) await ui.close();
});

async function ui(dbFile: string): Promise<UiSession> {
  const u = await startUi(dbFile, dir);
  open.push(u);
  return u;
}

async function done(u: UiSession): Promise<void> {
  await u.close();
  open.splice(open.indexOf(u), 1);
  // Refused calls are answered 4xx by design, which Chromium logs; anything else is a fault.
  assert.deepEqual(u.consoleErrors.filter((e) => !/^Failed to load resource: the server responded with a status of 4\d\d/.test(e)), [], 'no errors in the page');
}

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** The page shows something in the active view: its text is not blank. */
async function viewText(u: UiSession, name: string): Promise<string> {
  const t = ((await u.page.textContent(`#view-${name}`)) ?? '').replace(/\s+/g, ' ').trim();
  assert.ok(t.length > 20, `view ${name} is blank`);
  return t;
}

test('a database that is not ours: the Sessions view says why, every view points there, the file is not changed', async () => {
  const random = path.join(dir, 'random.db');
  fs.writeFileSync(random, crypto.randomBytes(64 * 1024));
  const foreign = path.join(dir, 'foreign.sqlite');
  const f = new Database(foreign);
  f.exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('ada'), ('grace');`);
  f.close();
  const newer = path.join(dir, 'newer.db');
  const n = new Database(newer);
  n.exec(`CREATE TABLE sessions (id INTEGER PRIMARY KEY)`);
  n.pragma('user_version = 999');
  n.close();
  const cases = [
    { file: random, shot: 'db-not-ours-random', why: /is not a memoplan database \(not SQLite, or corrupt\)/ },
    { file: foreign, shot: 'db-not-ours-foreign-sqlite', why: /is an SQLite database but not a memoplan one \(it has other tables\)/, foreign: true },
    { file: newer, shot: 'db-not-ours-newer-schema', why: /schema version 999, newer than this memoplan supports/ },
  ];
  for (const c of cases) {
    const before = sha(c.file);
    const u = await ui(c.file);
    const { page } = u;
    await page.goto(u.url);
    await page.waitForSelector('#db-error', { state: 'visible' });
    const msg = (await page.textContent('#db-error')) ?? '';
    assert.match(msg, /This database cannot be used/);
    assert.match(msg, c.why);
    assert.match(msg, /Restart memoplan serve with --db FILE/);
    assert.ok(await page.isHidden('#sessions-empty'), 'no "no sessions yet" under the error');
    await u.shot(c.shot);
    // The API refuses with the same reason; nothing is created in the file.
    const list = await u.call('sessions.list', {});
    assert.equal(list.status, 200);
    assert.match(list.json.result.dbError, c.why);
    assert.deepEqual(list.json.result.sessions, []);
    const refused = await u.call('overview.timeline', { session: 1 });
    assert.equal(refused.status, 422);
    assert.match(refused.json.error.message, c.why);
    const rec = await u.call('record.start', { interpreter: '', script: path.join(dir, 'nope.py'), args: [], cwd: dir });
    assert.equal(rec.status, 422, JSON.stringify(rec.json));
    assert.match(rec.json.error.message, c.why);
    // The other views say there is no session and why.
    for (const v of ['overview', 'plan', 'replay', 'export']) {
      await u.view(v);
      await page.waitForFunction((name) => /database cannot be used/.test(document.getElementById(`view-${name}`)?.textContent ?? ''), v);
      await viewText(u, v);
    }
    await u.view('overview');
    await u.shot(`${c.shot}-memory`);
    await done(u);
    if (c.foreign) foreignUnchanged = sha(c.file) === before;
    else assert.equal(sha(c.file), before, `${path.basename(c.file)} was not changed`);
    assert.ok(!fs.existsSync(`${c.file}-wal`), 'no WAL file was created next to it');
  }
});

test("another program's SQLite file is left byte for byte as it was", () => {
  assert.equal(foreignUnchanged, true);
});

test('an empty database: each view says what to do', async () => {
  const u = await ui(path.join(dir, 'empty.db'));
  const { page } = u;
  await page.goto(u.url);
  await page.waitForSelector('#sessions-empty', { state: 'visible' });
  assert.match((await page.textContent('#sessions-empty')) ?? '', /No sessions yet: record one in the Record view/);
  assert.ok(await page.isHidden('#db-error'));
  await u.shot('empty-sessions');
  for (const v of ['overview', 'plan', 'replay', 'export']) {
    await u.view(v);
    await page.waitForFunction((name) => /no sessions yet/i.test(document.getElementById(`view-${name}`)?.textContent ?? ''), v);
    await viewText(u, v);
  }
  assert.ok(await page.isDisabled('#exp-run'), 'nothing to export');
  await u.view('overview');
  await u.shot('empty-memory');
  await u.view('plan');
  await u.shot('empty-plan');
  await done(u);
});

test('a script path that does not exist, from the Attach view: the Record view says so and nothing is recorded', async () => {
  const u = await ui(path.join(dir, 'launch.db'));
  const { page } = u;
  await page.goto(u.url);
  await u.view('attach');
  await page.click('#attach-launch');
  await page.waitForSelector('#view-record.active');
  await page.waitForFunction(() => ((document.getElementById('rec-script') as HTMLInputElement).value ?? '').endsWith('.py')); // defaults loaded
  const missing = path.join(dir, 'no', 'such', 'script.py');
  await page.fill('#rec-script', missing);
  await page.fill('#rec-args', '--iterations 2');
  await page.click('#rec-start');
  await page.waitForSelector('#rec-outcome');
  const box = (await page.textContent('#rec-outcome')) ?? '';
  assert.match(box, /Not started: nothing was recorded\./);
  assert.match(box, new RegExp(`script not found: ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  assert.doesNotMatch(box, /record\.start:/, 'no API method name in the view');
  assert.match((await page.textContent('#status')) ?? '', /script not found/);
  assert.ok(await page.isEnabled('#rec-start'), 'the form can be fixed and started again');
  await u.shot('record-missing-script');
  // A relative path that does not exist, and a file that is not Python: also named.
  await page.fill('#rec-script', 'nope/train.py');
  await page.click('#rec-start');
  await page.waitForFunction(() => /script not found: .*nope\/train\.py/.test(document.getElementById('rec-outcome')?.textContent ?? ''));
  await page.fill('#rec-script', '/etc/hostname');
  await page.click('#rec-start');
  await page.waitForFunction(() => /must be a Python file \(\.py\): \/etc\/hostname/.test(document.getElementById('rec-outcome')?.textContent ?? ''));
  const list = (await u.call('sessions.list', {})).json.result;
  assert.deepEqual(list.sessions, [], 'no session was created');
  await done(u);
});

test('targets that exit at once: the exit code and stderr are shown, the session is kept; a script without torch records its allocations', async () => {
  const u = await ui(path.join(dir, 'quick.db'));
  const { page } = u;
  const exits = path.join(dir, 'exits.py');
  fs.writeFileSync(exits, 'import sys\nprint("giving up: no model given", file=sys.stderr)\nraise SystemExit(3)\n');
  const plain = path.join(dir, 'hello.py');
  fs.writeFileSync(plain, 'words = [str(i) * 10 for i in range(1000)]\nprint(len(words))\n');
  await page.goto(u.url);
  await u.view('record');
  await page.waitForFunction(() => ((document.getElementById('rec-script') as HTMLInputElement).value ?? '').endsWith('.py'));

  await page.fill('#rec-script', exits);
  await page.fill('#rec-args', '');
  await page.fill('#rec-name', 'exits-3');
  await page.click('#rec-start');
  await page.waitForSelector('#rec-open', { timeout: 120_000 });
  const box = (await page.textContent('#rec-outcome')) ?? '';
  assert.match(box, /The target exited with code 3/);
  assert.match(box, /Check the script, its arguments and the working directory/);
  assert.match((await page.textContent('#rec-stderr')) ?? '', /giving up: no model given/);
  assert.match((await page.textContent('#status')) ?? '', /exit code 3/);
  await u.shot('record-exits-at-once');
  let sessions = (await u.call('sessions.list', {})).json.result.sessions as { id: number; name: string; exit_code: number; events: number }[];
  const s3 = sessions.find((s) => s.name === 'exits-3')!;
  assert.equal(s3.exit_code, 3);
  await u.view('sessions');
  await page.waitForFunction((id) => /exit 3/.test(document.querySelector(`#sessions-table tr[data-session="${id}"]`)?.textContent ?? ''), s3.id);

  await u.view('record');
  await page.fill('#rec-script', plain);
  await page.fill('#rec-name', 'no-torch');
  await page.click('#rec-start');
  await page.waitForFunction(() => /without marking an iteration/.test(document.getElementById('rec-outcome')?.textContent ?? ''), undefined, { timeout: 120_000 });
  await page.waitForSelector('#rec-open');
  await u.shot('record-no-torch');
  sessions = (await u.call('sessions.list', {})).json.result.sessions;
  const plainSession = sessions.find((s) => s.name === 'no-torch')!;
  assert.equal(plainSession.exit_code, 0);
  assert.ok(plainSession.events > 0);
  // Its memory chart draws; the Plan view says why there is nothing to plan.
  await page.click('#rec-open');
  await page.waitForFunction((id) => document.getElementById('overview-chart')?.dataset.drawnSession === String(id), plainSession.id);
  assert.match((await page.textContent('#overview-info')) ?? '', /points drawn/);
  await u.shot('memory-no-torch');
  await u.view('plan');
  await page.waitForFunction(() => /has no complete iteration/.test(document.getElementById('plan-because')?.textContent ?? ''));
  await u.shot('plan-no-iterations');
  await done(u);
});
