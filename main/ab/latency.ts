import fs from 'node:fs';

/**
 * The per-iteration latencies of one run, from the agent's MEMOPLAN_LATENCY_FILE: one line
 * "<thread ident> <latency_ns>" per top-level forward, appended as iterations end. Threads are
 * numbered in the order of their first line; each drops its first `warmup` samples and keeps
 * the next `iterations` (all the rest when null).
 */

export interface RunLatencies {
  /** Kept samples, ns, per serving thread. */
  kept: number[][];
  /** Lines read, all threads. */
  seen: number;
  /** Distinct threads that wrote samples. */
  threads: number;
  /** Why the run does not count, or null. */
  problem: string | null;
}

export function parseLatencies(text: string, warmup: number, iterations: number | null): RunLatencies {
  const byThread = new Map<string, number[]>();
  let seen = 0;
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\d+)$/.exec(line.trim());
    if (!m) continue; // a torn last line of a killed process, or noise
    let list = byThread.get(m[1]);
    if (!list) byThread.set(m[1], (list = []));
    list.push(Number(m[2]));
    seen++;
  }
  const all = [...byThread.values()];
  if (all.length === 0) {
    return { kept: [], seen, threads: 0, problem: 'no latency samples: the agent saw no top-level forward (is CMD a torch model run by Python?)' };
  }
  const need = warmup + (iterations ?? 1);
  const short = all.findIndex((l) => l.length < need);
  if (short >= 0) {
    const what = iterations === null ? `--warmup ${warmup} + at least 1` : `--warmup ${warmup} + --iterations ${iterations}`;
    return { kept: [], seen, threads: all.length, problem: `serving thread ${short} produced ${all[short].length} iterations; ${what} = ${need} needed` };
  }
  const kept = all.map((l) => l.slice(warmup, iterations === null ? undefined : warmup + iterations));
  return { kept, seen, threads: all.length, problem: null };
}

export function readLatencies(file: string, warmup: number, iterations: number | null): RunLatencies {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    /* never written: no iteration ran */
  }
  return parseLatencies(text, warmup, iterations);
}
