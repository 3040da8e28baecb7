import type { AbReport, ArmReport } from './analysis';

/** The human output of `memoplan ab`: one table per thread count. */

function num(v: number | null, digits = 2): string {
  return v === null ? '-' : v.toFixed(digits);
}

function withCi(v: number | null, lo: number | null, hi: number | null, digits = 2): string {
  if (v === null) return '-';
  return `${num(v, digits)} [${num(lo, digits)}, ${num(hi, digits)}]`;
}

export function fmtBytes(n: number | null): string {
  if (n === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function fmtCount(n: number | null): string {
  return n === null ? '-' : Math.round(n).toLocaleString('en-US');
}

function verdictCell(a: ArmReport): string {
  if (a.status === 'failed') return `FAILED: ${a.reason ?? ''}`;
  if (a.plan_note) return `NOT PLANNED: ${a.plan_note}; no verdict`;
  const v = a.verdict ?? 'no baseline';
  const mem = a.rss_verdict && a.rss_verdict !== 'baseline' && a.rss_verdict !== 'no detectable difference' ? `, memory ${a.rss_verdict}` : '';
  // A plan set (more than one plan): how many of its signatures served, and the unplanned iterations.
  const set =
    a.plan_signatures && a.plan_signatures.length > 1
      ? `, ${a.plan_signatures_served ?? 0} of ${a.plan_signatures.length} signatures, ${a.plan_iterations_unplanned ?? 0} iterations unplanned`
      : '';
  return a.plan_hit_rate !== null ? `${v}${mem}; plan hits ${(a.plan_hit_rate * 100).toFixed(1)}%${set}` : a.plan_status !== null ? `${v}${mem}; plan ${a.plan_status}` : v + mem;
}

function table(head: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : rightAlign[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

export function formatReport(r: AbReport): string {
  const out: string[] = [];
  const threads = [...new Set(r.arms.map((a) => a.threads))];
  out.push(
    `A/B ${r.ab_run_id}: ${r.runs} run(s) per arm, interleaved; warm-up ${r.warmup} and ` +
      `${r.iterations === null ? 'every later iteration' : `${r.iterations} iterations`} kept per serving thread; ` +
      `latencies in ms with ${Math.round(r.confidence * 100)}% bootstrap intervals [low, high] (runs, then samples within runs resampled; ${r.resamples} resamples, seed ${r.seed})`,
  );
  for (const t of threads) {
    const arms = r.arms.filter((a) => a.threads === t);
    out.push('', `${t} serving thread${t === 1 ? '' : 's'} (ratios vs ${r.baseline}; below 1 is faster)`);
    const head = ['allocator', 'samples', 'median', 'p90', 'p99', `median/${r.baseline}`, `p99/${r.baseline}`, 'peak RSS', `RSS/${r.baseline}`, 'minor faults', 'major', 'ctx sw (vol/invol)', 'verdict'];
    const rows = arms.map((a) => [
      a.allocator + (a.runs_failed ? ` (${a.runs_failed} failed)` : ''),
      String(a.samples),
      withCi(a.median_ms, a.median_ci_low_ms, a.median_ci_high_ms),
      withCi(a.p90_ms, a.p90_ci_low_ms, a.p90_ci_high_ms),
      withCi(a.p99_ms, a.p99_ci_low_ms, a.p99_ci_high_ms),
      a.verdict === 'baseline' ? '1' : withCi(a.median_ratio, a.ratio_ci_low, a.ratio_ci_high, 3),
      a.p99_verdict === 'baseline' ? '1' : withCi(a.p99_ratio, a.p99_ratio_ci_low, a.p99_ratio_ci_high, 3),
      fmtBytes(a.peak_rss_bytes),
      a.rss_verdict === 'baseline' ? '1' : withCi(a.rss_ratio, a.rss_ratio_ci_low, a.rss_ratio_ci_high, 3),
      fmtCount(a.minor_faults),
      fmtCount(a.major_faults),
      a.voluntary_cs === null ? '-' : `${fmtCount(a.voluntary_cs)}/${fmtCount(a.involuntary_cs)}`,
      verdictCell(a),
    ]);
    out.push(table(head, rows, [false, true, true, true, true, true, true, true, true, true, true, true, false]));
  }
  const failures = r.arms.flatMap((a) => a.failures.map((f) => `  ${a.allocator} x${a.threads} run ${f.run}: ${f.reason}`));
  if (failures.length) out.push('', 'failed runs:', ...failures);
  if (r.skipped.length) out.push('', 'skipped:', ...r.skipped.map((s) => `  ${s.name}: ${s.reason}`));
  out.push('', 'peak RSS, faults and context switches: medians over the successful runs of each arm');
  return out.join('\n') + '\n';
}
