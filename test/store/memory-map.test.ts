import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { planMap } from '../../main/store/memory-map';
import { memoryMap } from '../../main/api/queries';
import { loadReportData } from '../../main/report/data';
import { mapGroups, moduleGroup, MAP_GROUPS } from '../../shared/memory-map';
import { sessionDb } from '../helpers/session-db';
import { tmpDir } from '../helpers/tmp';

/**
 * The memory map has one source (main/store/memory-map.ts planMap, shared/memory-map.ts
 * mapGroups): the app's plan.map and the report draw the same buffers in the same groups. On a
 * database written row by row: 20 buffers of one plan over 14 modules, one whose allocation row
 * is gone.
 */

const dir = tmpDir('memoplan-map-');
let n = 0;

function fixture() {
  const { db, sessionId } = sessionDb(path.join(dir, `map-${n++}.db`), 'map', 0n);
  const run = (sql: string, ...a: unknown[]) => Number(db.prepare(sql).run(...a).lastInsertRowid);
  const proc = run(`INSERT INTO processes (session_id, pid, ppid, is_fork_child, start_ns, trace_file) VALUES (?, 1, 0, 0, 0, 't')`, sessionId);
  const thread = run(`INSERT INTO threads (session_id, process_id, tid, thread_index) VALUES (?, ?, 1, 0)`, sessionId, proc);
  const it = run(`INSERT INTO iterations (session_id, process_id, thread_id, number, t_begin, begin_seq) VALUES (?, ?, ?, 0, 0, 0)`, sessionId, proc, thread);
  const plan = run(
    `INSERT INTO plans (session_id, iteration_id, algorithm, arena_bytes, lower_bound_bytes, seconds, optimal, is_best, buffers, unplannable_allocs, unplannable_bytes, signature, created_at)
     VALUES (?, ?, 'greedy-size', 1000000, 900000, 0.1, 0, 1, 20, 0, 0, 'sig', 'now')`,
    sessionId, it,
  );
  for (let k = 0; k < 20; k++) {
    const op = run(`INSERT INTO ops (session_id, process_id, name_id, module, op) VALUES (?, ?, ?, ?, 'aten::mm')`, sessionId, proc, k + 1, `Net.block${k % 14}.conv`);
    const ev = run(`INSERT INTO events (thread_id, ts, kind, addr, size, align, scope, flags) VALUES (?, ?, 1, ?, ?, 0, ?, 0)`, thread, k, 4096 * (k + 1), 1000 * (k + 1), op);
    const alloc = k === 19 ? 999_999 : run(`INSERT INTO allocations (session_id, iteration_id, seq, alloc_event) VALUES (?, ?, ?, ?)`, sessionId, it, k, ev);
    db.prepare(`INSERT INTO plan_buffers (plan_id, ordinal, allocation_id, offset, size, align, start, end) VALUES (?, ?, ?, ?, ?, 16, ?, ?)`).run(
      plan, k, alloc, 1000 * k, 1000 * (k + 1), k, k + 5,
    );
  }
  return { db, sessionId, plan };
}

test('planMap: the largest buffers first, totals of all, a buffer without its allocation row drawn without module', () => {
  const { db, plan } = fixture();
  try {
    const m = planMap(db, plan, 5);
    assert.deepEqual(m.rects.map((r) => r.ordinal), [19, 18, 17, 16, 15]);
    assert.equal(m.total, 20);
    assert.equal(m.shown, 5);
    assert.equal(m.totalBytes, 210_000);
    assert.equal(m.shownBytes, 20_000 + 19_000 + 18_000 + 17_000 + 16_000);
    assert.equal(m.events, 25, 'the last buffer ends at 24');
    assert.equal(m.modules[m.rects[0].module], '', 'the buffer whose allocation is gone');
    assert.equal(m.modules[m.rects[1].module], 'Net.block4.conv');
    assert.throws(() => planMap(db, 77, 5), /no plan 77 in this database/);
  } finally {
    db.close();
  }
});

test('the report draws what plan.map replies: same buffers, same groups', () => {
  const { db, sessionId, plan } = fixture();
  try {
    const api = memoryMap(db, plan, 12);
    const rep = loadReportData(db, { sessionId, planId: plan, mapCap: 12 });
    assert.deepEqual(rep.memoryMap, api, 'the plan.map reply itself');
    assert.equal(rep.memoryMapCap, 12);
    const g = mapGroups(api);
    // 12 rectangles over 12 groups (11 modules and no module): the smallest shares `other modules`.
    assert.equal(g.names.length, MAP_GROUPS + 1);
    assert.equal(g.names[MAP_GROUPS], 'other modules');
    assert.equal(moduleGroup('ResNet.layer4.0.conv2'), 'layer4');
    assert.equal(moduleGroup(''), '(no module)');
  } finally {
    db.close();
  }
});
