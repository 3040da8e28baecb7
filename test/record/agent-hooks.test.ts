import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { agentDir } from '../../main/paths';

// The agent's module hooks against a stand-in for the interposer's C API that counts its calls:
// recording pushes a scope per module call (and marks the agent's work around each hook); a run
// that only serves a plan calls the C API where an iteration begins and ends, nothing else.
const SCRIPT = `
import sys, json, torch, memoplan_agent as ag
calls = {}
class Api:
    def __init__(s, rec): s.rec = rec
    def _c(s, k): calls[k] = calls.get(k, 0) + 1
    def active(s): return 1 if s.rec else 0
    def intern(s, name): s._c("intern"); return 7
    def push(s, i): s._c("push")
    def pop(s): s._c("pop")
    def begin(s): s._c("begin"); return 1
    def end(s, n, lat): s._c("end")
    def enter(s): s._c("enter")
    def leave(s): s._c("leave")
rec = sys.argv[1] == "rec"
ag._api = Api(rec)
ag._scopes = bool(ag._api.active())
ag._install_torch(torch)
m = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
with torch.no_grad():
    for _ in range(3):
        m(torch.randn(4, 8))
print(json.dumps(calls))
`;

function run(mode: 'rec' | 'plan'): Record<string, number> {
  const r = spawnSync('/usr/bin/python3', ['-c', SCRIPT, mode], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: agentDir(), MEMOPLAN_AGENT_OPS: '0' } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('agent hooks: scopes while recording; only iteration begin and end when serving a plan', () => {
  // 3 iterations of a Sequential of 3 modules: 4 module calls each.
  const rec = run('rec');
  assert.equal(rec.begin, 3);
  assert.equal(rec.end, 3);
  assert.equal(rec.push, 12);
  assert.equal(rec.pop, 12);
  assert.equal(rec.enter, 24, 'every hook marks the agent');
  const plan = run('plan');
  assert.deepEqual(plan, { enter: 6, begin: 3, leave: 6, end: 3 }, 'a plan run: the C API at iteration begin and end only');
});
