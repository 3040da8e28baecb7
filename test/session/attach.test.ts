import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { UserError } from '../../shared/errors';
import { openDatabase } from '../../main/store/db';
import { preflightAttach, type ProcView } from '../../main/session/attach';
import { PACKAGE_ROOT } from '../../main/paths';
import { runCli, WORKLOAD, type CliResult } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir();
const dbFile = path.join(dir, 'attach.db');
const registry = path.join(dir, 'registry');
const env = { MEMOPLAN_ATTACH_DIR: registry };
const PY = '/usr/bin/python3';
const SERVE_UNTIL = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'attach', 'serve_until.py');
const hasGdb = fs.existsSync('/usr/bin/gdb');

interface Proc {
  child: ChildProcess;
  out: () => string;
  exit: Promise<number | null>;
}
const started = new Set<ChildProcess>();
// A test that fails half-way leaves its targets running; they must not outlive the file.
after(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
function start(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  return { child, out: () => out, exit };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, f: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
const attach = (pid: number, ...args: string[]): Promise<CliResult> => runCli(['attach', String(pid), '--db', dbFile, '--quiet', ...args], { env, timeoutMs: 120_000 });
const mapsHave = (pid: number, re: RegExp) => {
  try {
    return re.test(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
  } catch {
    return false;
  }
};
function session(id: number) {
  const db = openDatabase(dbFile);
  try {
    return db.prepare(`SELECT * FROM sessions WHERE id = ?`).get(id) as Record<string, unknown>;
  } finally {
    db.close();
  }
}
const sessionIdOf = (r: CliResult) => Number(/session (\d+)/.exec(r.stderr)?.[1]);

// ----------------------------------------------------------------- preflight (no process) ---

function fakeView(files: Record<string, string>, over: Partial<ProcView> = {}): ProcView {
  return { readFile: (p) => files[p] ?? null, uid: 1000, capSysPtrace: false, selfPid: 1, which: () => '/usr/bin/gdb', exists: () => true, ...over };
}
const STATUS = (uid: number, extra = '') => `Name:\tpython3\nState:\tS (sleeping)\nTgid:\t4242\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nTracerPid:\t0\n${extra}`;
const MAPS = '7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n7f02-7f03 r-xp 0 08:01 2 /usr/lib/python3/dist-packages/torch/lib/libtorch_cpu.so\n';
const STAT = '4242 (python3) S 77 ' + Array(30).fill('1').join(' ');
const base = { '/proc/4242/status': STATUS(1000), '/proc/4242/maps': MAPS, '/proc/4242/stat': STAT };

test('preflight refuses with a reason and a remedy before anything is touched', () => {
  const refuse = (files: Record<string, string>, re: RegExp, over: Partial<ProcView> = {}) =>
    assert.throws(() => preflightAttach(4242, fakeView(files, over), {}), (e: unknown) => e instanceof UserError && re.test(e.message), String(re));
  assert.equal(preflightAttach(4242, fakeView(base), {}).torch, true);
  refuse({}, /no process with pid 4242/);
  refuse({ ...base, '/proc/4242/status': STATUS(0) }, /belongs to uid 0, memoplan runs as uid 1000: ptrace is not allowed across users; run memoplan as that user or as root/);
  assert.doesNotThrow(() => preflightAttach(4242, fakeView({ ...base, '/proc/4242/status': STATUS(1001) }, { uid: 0 }), {}), 'root may');
  refuse({ ...base, '/proc/sys/kernel/yama/ptrace_scope': '1\n' }, /ptrace_scope = 1 lets a process attach only to its own descendants: run memoplan with sudo, or .*sysctl kernel.yama.ptrace_scope=0/);
  assert.doesNotThrow(() => preflightAttach(4242, fakeView({ ...base, '/proc/sys/kernel/yama/ptrace_scope': '1\n' }, { capSysPtrace: true }), {}));
  assert.doesNotThrow(() => preflightAttach(4242, fakeView({ ...base, '/proc/sys/kernel/yama/ptrace_scope': '1\n' }, { selfPid: 77 }), {}), 'a descendant may');
  refuse({ ...base, '/proc/sys/kernel/yama/ptrace_scope': '2\n' }, /ptrace_scope = 2 lets only root/);
  refuse({ ...base, '/proc/sys/kernel/yama/ptrace_scope': '3\n' }, /ptrace is disabled.*= 3.*memoplan record/, { uid: 0, capSysPtrace: true });
  refuse({ ...base, '/proc/4242/status': STATUS(1000, '').replace('TracerPid:\t0', 'TracerPid:\t99'), '/proc/99/comm': 'gdb\n' }, /already being traced by pid 99 \(gdb\)/);
  refuse({ ...base, '/proc/4242/status': STATUS(1000).replace('S (sleeping)', 'Z (zombie)') }, /has exited/);
  refuse({ ...base, '/proc/4242/maps': '00400000-00401000 r-xp 0 08:01 1 /usr/bin/static-thing\n' }, /does not use glibc's libc.so.6/);
  refuse(base, /gdb is not installed: .*Debian package gdb/, { which: () => null });
  const noTorch = preflightAttach(4242, fakeView({ ...base, '/proc/4242/maps': MAPS.split('\n')[0] + '\n' }), {});
  assert.match(noTorch.notes.join(' '), /torch is not loaded .* without ops/);
});

// -------------------------------------------------------------------- real processes ---

test('attach to a serving resnet18: iterations and aten ops recorded, detach, the target finishes with identical outputs; a second attach is refused', { skip: !hasGdb && 'gdb missing' }, async () => {
  const args = [WORKLOAD, '--model', 'resnet18', '--iterations', '60', '--warmup', '2', '--sleep-between', '0.05'];
  const target = start(PY, [...args, '--output', path.join(dir, 'attached.json')]);
  const plain = start(PY, [...args, '--output', path.join(dir, 'plain.json')]);
  const pid = target.child.pid!;
  await until('torch loaded', () => mapsHave(pid, /libtorch_cpu/));
  await sleep(4000); // serving by now
  const first = attach(pid, '--duration', '3');
  const rec = path.join(registry, `pid-${pid}.json`);
  await until('attached', () => fs.existsSync(rec) && JSON.parse(fs.readFileSync(rec, 'utf8')).state === 'attached');
  const second = await attach(pid, '--duration', '1');
  assert.notEqual(second.code, 0);
  assert.match(second.stderr, /memoplan: memoplan \(pid \d+\) is already attached to process \d+ .*run `memoplan detach \d+` first/);
  const r = await first;
  assert.equal(r.code, 0, r.stderr);
  const id = sessionIdOf(r);
  const s = session(id);
  assert.equal(s.status, 'complete');
  assert.equal(s.attached_pid, pid);
  assert.ok(s.attached_at && s.detached_at, 'attach and detach times stored');
  assert.equal(s.events, s.events_claimed, 'every event written while attached is stored');
  const db = openDatabase(dbFile);
  // The attach may land during warm-up (first forwards allocate differently): the steady state
  // is the signature most iterations share.
  const its = db
    .prepare(`SELECT count(*) AS n FROM iterations WHERE session_id = ? AND t_end IS NOT NULL GROUP BY signature ORDER BY n DESC LIMIT 1`)
    .get(id) as { n: number };
  const aten = db.prepare(`SELECT count(*) AS n FROM ops WHERE session_id = ? AND op LIKE 'aten::%'`).get(id) as { n: number };
  const conv = db.prepare(`SELECT count(*) AS n FROM ops WHERE session_id = ? AND op = 'aten::convolution' AND module LIKE 'ResNet.layer%'`).get(id) as { n: number };
  db.close();
  assert.ok(its.n >= 5, `steady-state iterations recorded while attached: ${its.n}`);
  assert.ok(aten.n > 20 && conv.n >= 10, `aten ops: ${aten.n}, convolutions in layers: ${conv.n}`);
  assert.equal(await target.exit, 0, target.out());
  assert.equal(await plain.exit, 0, plain.out());
  const digests = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).digests;
  assert.deepEqual(digests('attached.json'), digests('plain.json'), 'outputs identical to an untouched run');
});

test('attach to a pid that does not exist, and to a process without torch or Python', { skip: !hasGdb && 'gdb missing' }, async () => {
  const none = await attach(4_000_000);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /^memoplan: no process with pid 4000000\n$/);

  const sleeper = start('sleep', ['30']);
  const r = await attach(sleeper.child.pid!, '--duration', '0.5');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /not a Python process: allocations are recorded without ops/);
  assert.equal(session(sessionIdOf(r)).status, 'complete');

  const loop = start(PY, ['-c', 'import time\nprint("up", flush=True)\nwhile True:\n    x = [bytearray(5000) for _ in range(50)]\n    time.sleep(0.01)']);
  await until('python up', () => loop.out().includes('up'));
  const p = await attach(loop.child.pid!, '--duration', '1');
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stderr, /torch is not (loaded|imported) in process \d+.*without ops/);
  const s = session(sessionIdOf(p));
  assert.equal(s.status, 'complete');
  assert.ok((s.events as number) > 100, `allocations recorded without torch: ${s.events}`);
  assert.equal(s.ops, 0);
  assert.ok(!loop.child.killed && loop.child.exitCode === null, 'the loop still runs');
  sleeper.child.kill();
  loop.child.kill();
});

test('a process that exits during attach: no hang, a clear message, the database stays consistent', { skip: !hasGdb && 'gdb missing' }, async () => {
  const target = start(PY, ['-c', 'import time\nprint("up", flush=True)\ntime.sleep(60)']);
  await until('python up', () => target.out().includes('up'));
  const t0 = Date.now();
  const pending = attach(target.child.pid!, '--duration', '5');
  const rec = path.join(registry, `pid-${target.child.pid}.json`);
  await until('attach under way', () => fs.existsSync(rec)); // session created, gdb starting
  target.child.kill('SIGKILL');
  const r = await pending;
  assert.ok(Date.now() - t0 < 60_000, 'bounded');
  const msg = r.stderr.trim().split('\n').pop()!;
  if (r.code === 0) assert.match(r.stderr, /exited while attached/);
  else assert.match(msg, /^memoplan: cannot attach to process \d+: (the process exited meanwhile|.*exited)/);
  const list = await runCli(['sessions', '--db', dbFile, '--json']);
  assert.equal(list.code, 0, list.stderr);
  for (const s of JSON.parse(list.stdout) as { status: string }[]) assert.notEqual(s.status, 'recording', 'no session left open');
  assert.equal(fs.existsSync(path.join(registry, `pid-${target.child.pid}.json`)), false, 'registry entry removed');
});

test('attach and detach 20 times in a row: the workload keeps running, every output stays bit-identical', { skip: !hasGdb && 'gdb missing' }, async () => {
  const stop = path.join(dir, 'stop');
  const target = start(PY, [SERVE_UNTIL, stop]);
  await until('serving', () => target.out().includes('serving'));
  const pid = target.child.pid!;
  let withOps = 0;
  for (let i = 0; i < 20; i++) {
    const r = await attach(pid, '--duration', '0.3');
    assert.equal(r.code, 0, `attach ${i}: ${r.stderr}`);
    const s = session(sessionIdOf(r));
    assert.equal(s.status, 'complete');
    assert.equal(s.events, s.events_claimed, `attach ${i}: events stored == written`);
    if ((s.ops as number) > 0) withOps++;
    assert.equal(target.child.exitCode, null, `still running after attach ${i}`);
  }
  fs.writeFileSync(stop, '');
  assert.equal(await target.exit, 0, target.out());
  const res = JSON.parse(target.out().trim().split('\n').pop()!) as { iterations: number; mismatches: number };
  assert.equal(res.mismatches, 0, `outputs differing from the reference: ${res.mismatches} of ${res.iterations}`);
  assert.ok(withOps >= 10, `sessions with ops attributed: ${withOps}/20`);
});

test('memoplan detach after the attaching memoplan was killed: its ingester stores the session, once', { skip: !hasGdb && 'gdb missing' }, async () => {
  const loop = start(PY, ['-c', 'import time\nprint("up", flush=True)\nwhile True:\n    x = [bytearray(3000) for _ in range(40)]\n    time.sleep(0.005)']);
  await until('python up', () => loop.out().includes('up'));
  const pid = loop.child.pid!;
  const owner = spawn(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'memoplan.js'), 'attach', String(pid), '--db', dbFile, '--quiet'], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  const ownerExit = new Promise((r) => owner.on('close', r));
  const rec = path.join(registry, `pid-${pid}.json`);
  const record = () => JSON.parse(fs.readFileSync(rec, 'utf8')) as { state: string; sessionId: number; traceDir: string; ingester?: { pid: number } };
  await until('attached', () => fs.existsSync(rec) && record().state === 'attached');
  const { sessionId, traceDir, ingester } = record();
  assert.ok(ingester, 'the registry names the ingester');
  await sleep(800);
  owner.kill('SIGKILL');
  await ownerExit;
  await sleep(500);
  assert.ok(fs.existsSync(`/proc/${ingester.pid}`), 'the ingester outlives its parent while the target is attached');
  assert.equal(session(sessionId).status, 'recording');

  const r = await runCli(['detach', String(pid)], { env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`its ingester stored session ${sessionId}`));
  const s = session(sessionId);
  assert.equal(s.status, 'complete');
  assert.ok(s.detached_at, 'detach time stored');
  assert.ok((s.events as number) > 1000, `events stored: ${s.events}`);
  assert.equal(s.events, s.events_claimed, 'every event written while attached is stored');
  const db = openDatabase(dbFile);
  const rows = db
    .prepare(`SELECT count(*) AS n FROM events WHERE id BETWEEN ? AND ? AND kind < 32 AND thread_id IN (SELECT id FROM threads WHERE session_id = ?)`)
    .get(s.first_event, s.last_event, sessionId) as { n: number };
  db.close();
  assert.equal(rows.n, s.events, 'no event stored twice');
  assert.equal(fs.existsSync(rec), false, 'registry entry removed');
  assert.equal(fs.existsSync(traceDir), false, 'trace directory removed');
  assert.equal(loop.child.exitCode, null, 'the target keeps running');
  loop.child.kill();
});
