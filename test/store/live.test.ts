import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { openDatabase, type DB } from '../../main/store/db';
import { groupLive, liveAt, scopeInfo } from '../../main/store/live';
import { isOneLineError, runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * Live at an instant (main/store/live.ts) and `memoplan top`, on a real recording of a small
 * model script written here (not one of the repository's workloads): the groups add up to the
 * live bytes, the peak is the session's peak, the bounded scan agrees with a full scan of the
 * lifetimes view, and the Python stacks name the script's own lines.
 */

const dir = tmpDir('memoplan-live-');
const script = path.join(dir, 'tiny_mlp.py');
const dbFile = path.join(dir, 'live.db');
const SCRIPT = `import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, n)

    def forward(self, x):
        h = self.fc(x)  # LINE_FC
        return torch.relu(h) + x  # LINE_RELU


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Block(512)
        self.b = Block(512)

    def forward(self, x):
        y = self.a(x)  # LINE_A
        return self.b(y)  # LINE_B


net = Net().eval()
x = torch.randn(64, 512)
with torch.no_grad():
    for _ in range(4):
        net(x)
`;
const lineOf = (tag: string) => SCRIPT.split('\n').findIndex((l) => l.includes(tag)) + 1;

let db: DB;

/** What is live at t, summed over the whole lifetimes view: no bounds, no tricks. */
function bruteLive(t: number): { bytes: number; count: number } {
  return db
    .prepare(`SELECT coalesce(sum(size), 0) AS bytes, count(*) AS count FROM lifetimes WHERE session_id = 1 AND t_alloc <= ? AND (t_free IS NULL OR t_free > ?)`)
    .get(t, t) as { bytes: number; count: number };
}

before(async () => {
  fs.writeFileSync(script, SCRIPT);
  const r = await runCli(['record', '--db', dbFile, '--quiet', '--', 'python3', script], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  db = openDatabase(dbFile, { create: false });
});

test('top --json at the peak: every --by adds up to the session\'s peak live bytes', async () => {
  const peak = db.prepare(`SELECT peak_live_bytes FROM sessions WHERE id = 1`).pluck().get() as number;
  assert.ok(peak > 4 * 512 * 512, `peak ${peak}`);
  for (const by of ['module', 'op', 'stack']) {
    const r = await runCli(['top', '--db', dbFile, '--session', '1', '--by', by, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { key: string; bytes: number; count: number }[];
    assert.equal(rows.reduce((n, g) => n + g.bytes, 0), peak, by);
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1].bytes >= rows[i].bytes, 'sorted by bytes');
    assert.equal(new Set(rows.map((g) => g.key)).size, rows.length, 'keys are distinct');
    // What the import and the model's construction left live is told apart from the rest.
    const none = { module: '(outside any module', op: '(outside any op', stack: '(no Python stack' }[by]!;
    assert.ok(rows.some((g) => g.key === `${none}, before the first iteration)`), rows.map((g) => g.key).join(' | '));
  }
});

test('top --by stack names the script\'s lines, outermost first; --folded is flame-graph text', async () => {
  const r = await runCli(['top', '--db', dbFile, '--session', '1', '--at', 'iteration:2', '--by', 'stack', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { key: string; bytes: number; count: number }[];
  const fc = rows.find((g) => g.key.includes(`tiny_mlp.py:${lineOf('LINE_FC')} Block.forward`));
  assert.ok(fc, `no stack with the Linear call's line among ${rows.map((g) => g.key).join('\n')}`);
  const frames = fc!.key.split(';');
  const a = frames.findIndex((f) => f.includes(`tiny_mlp.py:${lineOf('LINE_A')} Net.forward`) || f.includes(`tiny_mlp.py:${lineOf('LINE_B')} Net.forward`));
  const inner = frames.findIndex((f) => f.includes(`:${lineOf('LINE_FC')} `));
  assert.ok(a >= 0 && a < inner, `outermost first: ${fc!.key}`);
  assert.ok(frames.every((f) => /^\S.*:\d+ \S+$/.test(f)), fc!.key);
  assert.ok(!frames.some((f) => f.includes('/torch/')), `torch's own frames are left out: ${fc!.key}`);

  const f = await runCli(['top', '--db', dbFile, '--session', '1', '--by', 'stack', '--folded']);
  assert.equal(f.code, 0, f.stderr);
  const lines = f.stdout.trim().split('\n');
  const total = lines.reduce((n, l) => n + Number(/ (\d+)$/.exec(l)![1]), 0);
  assert.equal(total, db.prepare(`SELECT peak_live_bytes FROM sessions WHERE id = 1`).pluck().get());
});

test('live at a time in ns equals a full scan of the lifetimes view, bounded or not', () => {
  const s = db.prepare(`SELECT t_begin, t_end FROM sessions WHERE id = 1`).get() as { t_begin: number; t_end: number };
  const its = db.prepare(`SELECT t_begin, t_end FROM iterations WHERE session_id = 1 ORDER BY t_begin`).all() as { t_begin: number; t_end: number }[];
  assert.ok(its.length >= 4);
  const times = [s.t_begin, its[1].t_begin, Math.floor((its[2].t_begin + its[2].t_end) / 2), its[3].t_end, s.t_end];
  for (const t of times) {
    const got = liveAt(db, 1, { kind: 'ns', t });
    const want = bruteLive(t);
    assert.equal(got.liveBytes, want.bytes, `t=${t}`);
    assert.equal(got.liveCount, want.count, `t=${t}`);
  }
  // Without the timeline's id ranges (a session recorded before schema 5) the same answers, by a full scan.
  const copy = path.join(dir, 'no-ranges.db');
  db.exec(`VACUUM INTO '${copy.replace(/'/g, "''")}'`);
  const old = openDatabase(copy, { create: false });
  try {
    old.exec(`UPDATE timeline SET event_ranges = NULL, free_first = NULL, free_last = NULL`);
    for (const t of times.slice(1, 3)) assert.equal(liveAt(old, 1, { kind: 'ns', t }).liveBytes, bruteLive(t).bytes);
  } finally {
    old.close();
  }
});

test('an iteration\'s peak lies in the iteration and is its highest point; the session peak is the highest', () => {
  const it = db.prepare(`SELECT t_begin, t_end FROM iterations WHERE session_id = 1 AND number = 2`).get() as { t_begin: number; t_end: number };
  const p = liveAt(db, 1, { kind: 'iteration', number: 2 });
  assert.ok(p.t >= it.t_begin && p.t <= it.t_end, `${p.t} in [${it.t_begin}, ${it.t_end}]`);
  assert.equal(p.iteration, 2);
  assert.equal(p.liveBytes, bruteLive(p.t).bytes);
  // Every allocation instant of the iteration is at or below it.
  const times = db
    .prepare(`SELECT t_alloc FROM lifetimes WHERE session_id = 1 AND t_alloc BETWEEN ? AND ? ORDER BY t_alloc`)
    .pluck()
    .all(it.t_begin, it.t_end) as number[];
  assert.ok(times.length > 0);
  for (const t of times.filter((_, i) => i % Math.ceil(times.length / 12) === 0)) assert.ok(bruteLive(t).bytes <= p.liveBytes, `at ${t}`);
  const peak = liveAt(db, 1, { kind: 'peak' });
  assert.equal(peak.liveBytes, db.prepare(`SELECT peak_live_bytes FROM sessions WHERE id = 1`).pluck().get());
  assert.ok(peak.liveBytes >= p.liveBytes);
  const mods = groupLive(peak, scopeInfo(db, 1), 'module');
  assert.ok(mods.some((g) => g.key === 'Net.a.fc' || g.key === 'Net.b.fc'), mods.map((g) => g.key).join(', '));
});

test('top: bad input is one clear line and a non-zero exit', async () => {
  const cases: [string[], RegExp][] = [
    [['--session', '1', '--at', 'soon'], /--at must be peak, iteration:K or a time in ns/],
    [['--session', '1', '--by', 'file'], /--by must be one of module, op, stack/],
    [['--session', '1', '--at', 'iteration:99'], /no iteration 99 \(iterations 0\.\.3\)/],
    [['--session', '7'], /no session 7/],
    [['--session', 'x'], /--session must be a session id/],
    [[], /--session is required/],
    [['--session', '1', '--at', '1'], /outside session 1/],
    [['--session', '1', '--json', '--folded'], /--json or --folded, not both/],
  ];
  for (const [args, want] of cases) {
    const r = await runCli(['top', '--db', dbFile, ...args]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.ok(isOneLineError(r.stderr), `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want);
  }
  const missing = await runCli(['top', '--db', path.join(dir, 'nope.db'), '--session', '1']);
  assert.notEqual(missing.code, 0);
  assert.ok(isOneLineError(missing.stderr), missing.stderr);
});
