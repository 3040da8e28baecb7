import type { DB } from '../store/db';
import { chooseIteration } from '../plan/iteration';
import { RECORD_FLAG_AGENT } from '../../shared/trace-kinds';
import { iterationAllocations } from '../store/iterations';

/**
 * A recorded iteration's allocation sequence as text, for native/tests/seq_bench (the
 * plan-mode hot-path benchmark replays it under each allocator): "N", then "a ORDINAL SIZE
 * ALIGN KIND" / "f ORDINAL" in the recorded order. Frees of blocks that outlive the iteration
 * are not in it, nor are the agent's own allocations (as in a plan).
 */
export function iterationSequence(db: DB, sessionId: number, number?: number): string {
  const { row } = chooseIteration(db, sessionId, number);
  const allocs = iterationAllocations(db, row.id, RECORD_FLAG_AGENT);
  const events: { at: number; line: string }[] = [];
  allocs.forEach((a, i) => {
    events.push({ at: a.seq, line: `a ${i} ${a.size} ${a.align} ${a.kind}` });
    if (a.free_seq !== null && a.free_seq <= row.end_seq!) events.push({ at: a.free_seq, line: `f ${i}` });
  });
  events.sort((x, y) => x.at - y.at);
  return `${allocs.length}\n${events.map((e) => e.line).join('\n')}\n`;
}
