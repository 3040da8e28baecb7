import type { DB } from './db';
import { UserError } from '../../shared/errors';
import type { MapReply } from '../../shared/api';

/**
 * The memory map of a plan, as the app's Plan view (`plan.map`) and the offline report both draw
 * it: the plan's `maxRects` largest buffers (by size, then ordinal; largest first) as rectangles
 * of logical time × offset, their modules and ops interned, and the totals of all its buffers.
 * A buffer whose allocation row is gone is drawn with no module and op.
 */
export function planMap(db: DB, planId: number, maxRects: number): MapReply {
  const p = db.prepare(`SELECT algorithm, arena_bytes, lower_bound_bytes FROM plans WHERE id = ?`).get(planId) as
    | { algorithm: string; arena_bytes: number; lower_bound_bytes: number }
    | undefined;
  if (!p) throw new UserError(`no plan ${planId} in this database`);
  const totals = db.prepare(`SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes, coalesce(max(end), -1) AS last FROM plan_buffers WHERE plan_id = ?`).get(planId) as {
    n: number; bytes: number; last: number;
  };
  const rows = db
    .prepare(
      `SELECT pb.ordinal, pb.start, pb.end, pb.offset, pb.size, coalesce(o.module, '') AS module, coalesce(o.op, '') AS op
       FROM (SELECT * FROM plan_buffers WHERE plan_id = ? ORDER BY size DESC, ordinal LIMIT ?) pb
       LEFT JOIN allocations a ON a.id = pb.allocation_id LEFT JOIN events e ON e.id = a.alloc_event LEFT JOIN ops o ON o.id = e.scope
       ORDER BY pb.size DESC, pb.ordinal`,
    )
    .all(planId, maxRects) as { ordinal: number; start: number; end: number; offset: number; size: number; module: string; op: string }[];
  const modules: string[] = [];
  const ops: string[] = [];
  const mi = new Map<string, number>();
  const oi = new Map<string, number>();
  const intern = (m: Map<string, number>, list: string[], s: string) => {
    let i = m.get(s);
    if (i === undefined) {
      i = list.length;
      list.push(s);
      m.set(s, i);
    }
    return i;
  };
  return {
    plan: planId,
    algorithm: p.algorithm,
    arenaBytes: p.arena_bytes,
    lowerBoundBytes: p.lower_bound_bytes,
    events: totals.last + 1,
    total: totals.n,
    shown: rows.length,
    shownBytes: rows.reduce((n, r) => n + r.size, 0),
    totalBytes: totals.bytes,
    modules,
    ops,
    rects: rows.map((r) => ({
      ordinal: r.ordinal,
      start: r.start,
      end: r.end,
      offset: r.offset,
      size: r.size,
      module: intern(mi, modules, r.module),
      op: intern(oi, ops, r.op),
    })),
  };
}
