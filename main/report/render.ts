import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AbSweep, LiveGroupRow } from '../../shared/api';
import { bundleModules, moduleClosure } from '../api/assets';
import type { ReportData, OpTotal } from './data';
import type { AbData } from './ab-data';
import { escapeHtml as h, formatBytes, formatInt, formatMs, formatPct, jsonForScript, shellJoin } from './escape';

/**
 * Renders the offline report: one HTML file with ECharts, the page code and the data inlined.
 * The page code is main/report/page.ts with the chart builders of shared/charts/ it requires
 * (the app's views draw with the same builders), compiled and joined into one script.
 * Text from the trace is escaped here (escapeHtml) or carried as JSON in a
 * <script type="application/json"> block (jsonForScript). A Content-Security-Policy meta tag
 * allows only the two inline scripts (by hash), inline styles and data: images: no request can
 * leave the page, to the network or to a local server.
 */

export function echartsSource(): string {
  const file = require.resolve('echarts/dist/echarts.min.js');
  // The HTML parser turns CR LF into LF before the CSP hash is taken: do it first.
  return assertInlinable(fs.readFileSync(file, 'utf8').replace(/\r\n?/g, '\n'), file);
}

/** Script text that could end its <script> element early (or enter the escaped state) is refused. */
function assertInlinable(js: string, what: string): string {
  if (/<\/script|<!--|<script/i.test(js)) throw new Error(`${what} contains "</script", "<script" or "<!--" and cannot be inlined`);
  return js;
}

const sha256 = (s: string) => `'sha256-${crypto.createHash('sha256').update(s, 'utf8').digest('base64')}'`;

export function contentSecurityPolicy(scripts: string[]): string {
  return [
    `default-src 'none'`,
    `script-src ${scripts.map(sha256).join(' ')}`,
    `style-src 'unsafe-inline'`,
    `img-src data: blob:`,
    `connect-src 'none'`,
    `font-src 'none'`,
    `media-src 'none'`,
    `object-src 'none'`,
    `frame-src 'none'`,
    `worker-src 'none'`,
    `manifest-src 'none'`,
    `base-uri 'none'`,
    `form-action 'none'`,
  ].join('; ');
}

const CSS = `
:root { --fg: #1d2330; --muted: #5d6677; --line: #d9dde5; --bg: #fff; --accent: #3a5bc7; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
header { padding: 20px 32px 12px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: var(--muted); }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); position: sticky; top: 0; background: #f7f8fa; z-index: 5; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
main { padding: 0 32px 40px; max-width: 1280px; }
section { margin-top: 28px; }
h2 { font-size: 18px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 10px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: #f2f4f7; font-weight: 600; white-space: nowrap; }
svg.icicle { display: block; border: 1px solid var(--line); margin: 8px 0; font: 11px system-ui, sans-serif; }
svg.icicle text { fill: #fff; pointer-events: none; }
table.kv th { width: 220px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; overflow-wrap: anywhere; white-space: pre-wrap; }
.chart { width: 100%; height: 360px; border: 1px solid var(--line); margin: 8px 0; }
.chart.tall { height: 520px; }
.chart.flame { height: 380px; }
.how { color: var(--muted); background: #f7f8fa; border-left: 3px solid var(--line); padding: 6px 10px; margin: 10px 0; font-size: 13px; }
.how b { color: var(--fg); }
.note { color: #8a5a00; }
.best { font-weight: 600; }
.tag { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px; background: #e7ecfb; color: #2a3f8f; }
.verdict-faster { color: #1f7a35; font-weight: 600; }
.verdict-slower { color: #b3261e; font-weight: 600; }
.cols { display: flex; flex-wrap: wrap; gap: 24px; }
.cols > div { flex: 1 1 420px; min-width: 0; }
`;

function kv(rows: [string, string][]): string {
  return `<table class="kv">${rows.map(([k, v]) => `<tr><th>${h(k)}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function table(head: { label: string; num?: boolean }[], rows: string[][], cls = ''): string {
  const th = head.map((c) => `<th${c.num ? ' class="n"' : ''}>${h(c.label)}</th>`).join('');
  const body = rows.map((r) => `<tr${cls}>${r.map((cell, i) => `<td${head[i]?.num ? ' class="n"' : ''}>${cell}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

const how = (html: string) => `<p class="how"><b>How this was measured.</b> ${html}</p>`;

function hostRows(host: ReportData['target']['host']): [string, string][] {
  if (!host) return [['machine', '<span class="note">not recorded</span>']];
  return [
    ['CPU', h(host.cpu ?? '–')],
    ['cores', h(formatInt(host.cores))],
    ['memory', h(formatBytes(host.memory_bytes))],
    ['kernel', h(host.kernel ?? '–')],
    ['platform', h(host.platform ?? '–')],
    ['host name', h(host.hostname ?? '–')],
  ];
}

function renderTarget(d: ReportData): string {
  const t = d.target;
  const exit = t.signal ? `killed by ${t.signal} (${t.exitCode ?? '–'})` : t.exitCode === null ? '–' : String(t.exitCode);
  return `<section id="target"><h2>Target</h2>
${kv([
  ['session', `${h(t.id)} — ${h(t.name)}`],
  ['command line', `<code>${h(shellJoin(t.command))}</code>`],
  ['working directory', `<code>${h(t.cwd)}</code>`],
  ['status', `${h(t.status)}${t.status === 'recording' ? ' <span class="note">(the recording had not finished when this report was made)</span>' : ''}`],
  ['exit', h(exit)],
  ['recorded', `${h(t.startedAt)} – ${h(t.endedAt ?? '…')}`],
  ['Python', `<code>${h(t.python ?? '–')}</code>`],
  ['torch', h(t.torchVersion ?? '–')],
  ['op attribution', t.agentOps ? 'modules and aten ops' : 'modules only (--no-ops)'],
  ...hostRows(t.host),
])}
${how(`The command line is the argv memoplan launched (after resolving the interpreter). Python and torch versions come from the interpreter memoplan checked before the launch. The machine is what Node's <code>os</code> module and <code>/proc/cpuinfo</code> reported on the recording machine when the session started.`)}
</section>`;
}

function opTable(title: string, rows: OpTotal[], what: string): string {
  return `<div><h3>${h(title)}</h3>${table(
    [{ label: what }, { label: 'bytes', num: true }, { label: 'allocations', num: true }, { label: 'largest', num: true }],
    rows.map((r) => [r.name === '' ? `<i>(outside any ${h(what)})</i>` : r.name.startsWith('(') ? `<i>${h(r.name)}</i>` : `<code>${h(r.name)}</code>`, h(formatBytes(r.bytes)), h(formatInt(r.allocs)), h(formatBytes(r.maxSize))]),
  )}</div>`;
}

function renderSummary(d: ReportData): string {
  const s = d.summary;
  const claimed =
    s.eventsClaimed === null ? '' : s.eventsClaimed === s.events ? ' (all events the interposer reported writing)' : ` <span class="note">(the interposer reported ${h(formatInt(s.eventsClaimed))})</span>`;
  return `<section id="summary"><h2>Recording summary</h2>
${kv([
  ['events', h(formatInt(s.events)) + claimed],
  ['allocations', h(formatInt(s.allocations))],
  ['bytes allocated', h(formatBytes(s.bytesAllocated))],
  ['live at exit', h(formatInt(s.liveAtExit))],
  ['peak live bytes', h(formatBytes(s.peakLiveBytes))],
  ['iterations', h(formatInt(s.iterations))],
  ['processes / threads', `${h(formatInt(s.processes))} / ${h(formatInt(s.threads))}`],
  ['distinct ops / modules', `${h(formatInt(s.distinctOps))} / ${h(formatInt(s.distinctModules))}`],
  ['duration', h(formatMs(s.durationNs, 1))],
])}
<div class="cols"><div><div class="chart" id="chart-ops" data-chart="ops"></div></div><div><div class="chart" id="chart-modules" data-chart="modules"></div></div></div>
<div class="cols">${opTable('Top ops by bytes', s.topOps.rows, 'op')}${opTable('Top ops by count', s.topOpsByCount, 'op')}</div>
<div class="cols">${opTable('Top modules by bytes', s.topModules.rows, 'module')}${opTable('Top modules by count', s.topModulesByCount, 'module')}</div>
${how(`Every malloc-family call and free of the target was recorded by the LD_PRELOAD interposer (one event each); allocations are alloc events paired with their free by address, per process. Ops and modules are those the Python agent had active on the allocating thread (nn.Module forward hooks, and a TorchDispatchMode for aten ops); "outside any op" is memory allocated outside any attributed scope (the interpreter, imports, torch itself). Totals per op and module are sums of the per-scope counters built at ingest (<code>op_stats</code>); an op name aggregates all modules it ran in. Peak live bytes is the largest sum of the sizes of unfreed allocations.`)}
</section>`;
}

function renderTimeline(d: ReportData): string {
  const n = d.timeline.buckets;
  const width = n ? (d.timeline.tEnd - d.timeline.tBegin) / n : 0;
  return `<section id="memory"><h2>Memory over time</h2>
${n ? `<div class="chart" id="chart-timeline" data-chart="timeline"></div>` : `<p class="note">No timeline was stored for this session.</p>`}
${how(`Live bytes are the sum of the sizes of allocations made and not yet freed, over the whole session. The session is cut into at most 2,048 time buckets (${h(formatInt(n))} here, about ${h(formatMs(width, 3))} each) at ingest; each bucket keeps the highest live bytes reached inside it and the live bytes at its end, so short peaks stay visible at any zoom. The strip at the top marks the iterations. Time is the interposer's CLOCK_MONOTONIC stamp in seconds since the session's clock base (taken just before the target started), as in the UI's Memory view and <code>memoplan top --at</code>.`)}
</section>`;
}

/** Rows of a table of what is live at the peak; the rest of the reply's rows are summed with what it left out. */
const LIVE_ROWS = 15;

function liveTable(title: string, what: string, all: LiveGroupRow[], omitted: [number, number], total: number): string {
  const rows = all.slice(0, LIVE_ROWS);
  const rest = all.slice(LIVE_ROWS);
  const other: [number, number] = [omitted[0] + rest.length, omitted[1] + rest.reduce((n, r) => n + r.bytes, 0)];
  const body = rows.map((r) => [
    r.key.startsWith('(') ? `<i>${h(r.key)}</i>` : `<code>${h(r.key)}</code>`,
    h(formatBytes(r.bytes)),
    h(formatPct(r.bytes / Math.max(1, total), 1)),
    h(formatInt(r.count)),
  ]);
  if (other[0] > 0) body.push([`<i>${h(formatInt(other[0]))} more</i>`, h(formatBytes(other[1])), h(formatPct(other[1] / Math.max(1, total), 1)), '']);
  return `<div><h3>${h(title)}</h3>${table([{ label: what }, { label: 'live bytes', num: true }, { label: '% of live', num: true }, { label: 'allocations', num: true }], body)}</div>`;
}

function renderPeak(d: ReportData): string {
  const p = d.peak;
  if (!p) return '';
  const underStacks = p.byStack.filter((g) => !(g.frames.length === 1 && g.frames[0].startsWith('('))).reduce((n, g) => n + g.bytes, 0);
  return `<section id="peak"><h2>What is live at the peak</h2>
${kv([
  ['peak', `${h(formatBytes(p.liveBytes))} (${h(formatInt(p.liveBytes))} B) in ${h(formatInt(p.liveCount))} allocations`],
  ['when', `${h((p.t / 1e9).toFixed(6))} s${p.iteration !== null ? `, in iteration ${h(p.iteration)}` : ''}`],
  ['made under a Python stack', `${h(formatBytes(underStacks))} (${h(formatPct(underStacks / Math.max(1, p.liveBytes), 1))})`],
])}
<div class="chart flame" id="chart-peak" data-chart="peak"></div>
<div class="cols">${liveTable('By module', 'module', p.byModule, p.omitted.module, p.liveBytes)}${liveTable('By aten op', 'op', p.byOp, p.omitted.op, p.liveBytes)}</div>
${how(`The peak is the instant of the highest live bytes (the timeline bucket with the highest maximum, refined by its own allocation and free events). Live there: every allocation made at or before it and not yet freed. Each allocation counts under the module, aten op and Python stack that the agent had pushed on its thread when it was made; the stack is captured once per op or module call (the user's frames; torch's own and the agent's are left out). Allocations made outside any forward pass (imports, weights loaded before inference, the interpreter) have no stack. The icicle draws the allocations made under a Python stack, outermost frame at the top, each bar as wide as the bytes live under it (hover a bar for its full path). The same figures as <code>memoplan top --session ${h(d.target.id)} --by module|op|stack</code>; each table adds up to the peak.`)}
</section>`;
}

function renderIterations(d: ReportData): string {
  const it = d.iterations;
  if (!it.total) {
    return `<section id="iterations"><h2>Iterations</h2><p class="note">No iteration was marked in this session (the agent marks each top-level nn.Module forward; scripts can use <code>memoplan_agent.iteration()</code>).</p></section>`;
  }
  const lat = it.latencyNs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  const med = lat.length ? lat[Math.floor((lat.length - 1) / 2)] : null;
  const sigRows = it.signatures.slice(0, 10).map((s, i) => [
    i === 0 ? `<span class="tag">steady</span> <code>${h(s.signature)}</code>` : `<code>${h(s.signature)}</code>`,
    h(formatInt(s.count)),
    h(String(s.first)),
  ]);
  return `<section id="iterations"><h2>Iterations</h2>
${kv([
  ['iterations', h(formatInt(it.total)) + (it.shown < it.total ? ` <span class="note">(the chart shows the first ${h(formatInt(it.shown))})</span>` : '')],
  ['serving threads', h(formatInt(it.threads))],
  ['median latency', h(formatMs(med, 3))],
  ['distinct signatures', h(formatInt(it.signatures.length))],
  ['share with the steady signature', h(formatPct(it.modalShare, 1))],
  ['steady from iteration', it.steadyFrom === null ? '<span class="note">the last iteration differs from the most frequent signature</span>' : h(String(it.steadyFrom))],
])}
<div class="chart" id="chart-iterations" data-chart="iterations"></div>
${table([{ label: 'signature (allocations-hash)' }, { label: 'iterations', num: true }, { label: 'first seen', num: true }], sigRows)}
${how(`An iteration is one top-level forward() (or a <code>memoplan_agent.iteration()</code> block), marked by the agent on its thread. Latency is the time between its begin and end markers (interposer clock), including the recording overhead. Allocations counts those made on the iterating thread while it ran. The signature is a hash of the (size, alignment) sequence of those allocations: iterations with equal signatures allocate identically, which is what a plan relies on. Bars are green for the most frequent (steady) signature, other colours for variants, grey for an iteration that never ended.`)}
</section>`;
}

function renderPlans(d: ReportData): string {
  if (!d.plans.length) {
    return `<section id="plans"><h2>Plans</h2><p class="note">No plan has been made for this session (<code>memoplan plan --session ${h(d.target.id)}</code>).</p></section>`;
  }
  const rows = d.plans.map((p) => {
    const mark = (p.planId === d.shownPlanId ? '<span class="tag">shown below</span> ' : '') + (p.best ? '<span class="tag">best</span>' : '');
    return [
      h(p.planId) + ' ' + mark,
      h(p.algorithm),
      h(p.iteration),
      h(formatInt(p.buffers)),
      h(formatBytes(p.arenaBytes)) + `<br><span class="mono">${h(formatInt(p.arenaBytes))}</span>`,
      h(formatBytes(p.lowerBoundBytes)),
      h(formatBytes(p.baselineSpanBytes)),
      h((p.arenaBytes / Math.max(1, p.lowerBoundBytes)).toFixed(4)),
      p.baselineSpanBytes ? h((p.arenaBytes / p.baselineSpanBytes).toFixed(3)) : '–',
      h(p.seconds.toFixed(3)),
      p.optimal ? 'yes' : 'no',
      `${h(formatInt(p.unplannableAllocs))} (${h(formatBytes(p.unplannableBytes))})`,
    ];
  });
  const mm = d.memoryMap;
  let map = '';
  if (mm) {
    const capped = mm.shown < mm.total
      ? `<p class="note">This plan places ${h(formatInt(mm.total))} buffers; to keep the file small the map draws the ${h(formatInt(mm.shown))} largest and leaves out ${h(formatInt(mm.total - mm.shown))} smaller ones (${h(formatBytes(mm.totalBytes - mm.shownBytes))} in all). The arena size and the table above count every buffer.</p>`
      : `<p class="note">This plan places ${h(formatInt(mm.total))} buffers; the map draws all of them.</p>`;
    map = `<h3>Memory map of plan ${h(mm.plan)} (${h(mm.algorithm)}, arena ${h(formatBytes(mm.arenaBytes))})</h3>
${capped}
${mm.shown ? `<div class="chart tall" id="chart-map" data-chart="map"></div>` : '<p class="note">The plan places no buffer.</p>'}
${how(`Each rectangle is one planned buffer: it spans its lifetime on the x axis (logical time: one step per alloc or free of a planned buffer in the iteration) and its place in the arena on the y axis (offset to offset + size). The wheel zooms time, shift+wheel the offsets. Colours group buffers by the module under the model (the second component of the module path: ResNet.layer4.0.conv2 is layer4), as the app does. The plan was validated when it was made: no two buffers overlap in both time and space, and every offset keeps its buffer's alignment (at least 16 bytes).`)}`;
  }
  return `<section id="plans"><h2>Plans</h2>
${table(
  [
    { label: 'plan' }, { label: 'algorithm' }, { label: 'iteration', num: true }, { label: 'buffers', num: true }, { label: 'arena', num: true },
    { label: 'lower bound', num: true }, { label: 'system allocator span', num: true }, { label: 'arena / lower bound', num: true },
    { label: 'arena / system span', num: true }, { label: 'solve s', num: true }, { label: 'optimal' }, { label: 'not plannable' },
  ],
  rows,
)}
<div class="chart" id="chart-plans" data-chart="plans"></div>
${how(`A plan gives each allocation of one steady-state iteration that is also freed within it a fixed offset in one arena. The <b>arena</b> is the highest offset + size used. The <b>lower bound</b> is the peak of live bytes of those buffers: no placement can use less. The <b>system allocator span</b> is the address space glibc's allocator really used for the same buffers while recording (their address extents, merged into clusters split at gaps over 64 MiB, summed). <b>best</b> marks the plan kept when several planners ran; <b>optimal</b> only when the exact solver proved it. Allocations that outlive the iteration are not plannable and are served by the system allocator.`)}
${map}
</section>`;
}

function renderPlanSets(d: ReportData): string {
  if (!d.planSets.length) return '';
  const blocks = d.planSets.map((s) => {
    const rows = s.plans.map((p) => [
      `<span class="mono">${h(p.signature)}</span>`,
      h(formatInt(p.iterationsSeen)),
      h(p.shapeKey ?? '—'),
      h(formatInt(p.buffers)),
      h(formatBytes(p.arenaBytes)),
      h(formatBytes(p.lowerBoundBytes)),
      h(p.ratio.toFixed(4)),
      h(p.planId),
    ]);
    const left = s.leftOut.length
      ? `<p>Signatures left out (reasons derived from the recording):</p><ul class="left-out">${s.leftOut
          .map((l) => `<li><span class="mono">${h(l.signature)}</span> (${h(formatInt(l.iterations))} iteration${l.iterations === 1 ? '' : 's'}): ${h(l.reason)}</li>`)
          .join('')}</ul>`
      : '';
    return `<h3 id="plan-set-${h(s.setId)}">Set ${h(s.setId)}: ${h(s.plans.length)} plan${s.plans.length === 1 ? '' : 's'} (${h(s.algorithm)}), ${h(s.createdAt)}</h3>
${table(
  [
    { label: 'signature' }, { label: 'iterations seen', num: true }, { label: 'shape key', num: true }, { label: 'buffers', num: true },
    { label: 'arena', num: true }, { label: 'lower bound', num: true }, { label: 'arena / lower bound', num: true }, { label: 'plan', num: true },
  ],
  rows,
)}
${left}`;
  });
  return `<section id="plan-sets"><h2>Plan sets</h2>
${blocks.join('\n')}
${how(`<code>memoplan plan --signatures all</code> plans every iteration signature of the recording that repeats (one per batch size or sequence length) and stores the plans as one set; <code>memoplan replay --plan set:ID</code> serves it, each thread choosing at each iteration the plan whose first allocations match. <b>iterations seen</b> counts the recording's iterations with the plan's signature. A signature seen once (a shape's first run carries one-off caches) is left out. The shape key is the input-shape key of the set file's directory (none is written yet: —).`)}
</section>`;
}

function renderReplays(d: ReportData): string {
  if (!d.replays.length) return '';
  const anySet = d.replays.some((r) => r.setId !== null);
  const rows = d.replays.map((r) => [
    `${h(r.sessionId)}${r.sessionName ? ' — ' + h(r.sessionName) : ''}`,
    r.setId !== null ? `set ${h(r.setId)}` : r.planId === null ? `<code>${h(r.planFile)}</code>` : h(r.planId),
    h(r.threads),
    h(r.status) + (r.refusal ? `<br><span class="note">${h(r.refusal)}</span>` : ''),
    h(formatInt(r.hits)),
    h(formatInt(r.misses)),
    ...(anySet
      ? [
          r.setId === null ? '–' : `${h(formatInt(r.signaturesServed))} of ${r.setPlans === null ? '?' : h(formatInt(r.setPlans))}`,
          r.setId === null ? '–' : h(formatInt(r.iterationsUnplanned)),
        ]
      : []),
    h(formatPct(r.hitRate, 3)),
    h(formatPct(r.byteHitRate, 3)),
    h(formatBytes(r.missBytes)),
    h(formatInt(r.iterationsServed)),
    h(formatMs(r.medianLatencyNs, 3)),
  ]);
  return `<section id="replay"><h2>Plan mode</h2>
${table(
  [
    { label: 'replay session' }, { label: 'plan' }, { label: 'threads', num: true }, { label: 'status' }, { label: 'hits', num: true },
    { label: 'misses', num: true },
    ...(anySet ? [{ label: 'signatures served', num: true }, { label: 'iterations unplanned', num: true }] : []),
    { label: 'hit rate', num: true }, { label: 'byte hit rate', num: true }, { label: 'fallback bytes', num: true },
    { label: 'iterations served', num: true }, { label: 'median latency', num: true },
  ],
  rows,
)}
${anySet ? how(`A replay of a plan set: <b>signatures served</b> counts the set's plans that served at least one iteration (of the k plans in the set), <b>iterations unplanned</b> the iterations in which no plan of the set was left to serve (every candidate diverged), which ran on the system allocator.`) : ''}
${d.replays.some((r) => r.latenciesNs.length) ? `<div class="chart" id="chart-replay" data-chart="replay"></div>` : ''}
${how(`A replay session ran the workload with the interposer in plan mode (<code>memoplan replay</code>): inside each iteration whose allocations match the plan's (size, alignment) sequence, the k-th allocation is served at its planned offset in the arena. A hit is an allocation served from the arena; a miss fell back to the system allocator (a different size, an allocation outside the plan, or an iteration that diverged). The interposer counted both and reported them at exit. Latency is per iteration, as in the Iterations section, recorded in the replay session; the chart sets it beside the iterations of this session. Both were recorded (with the interposer's recording cost); compare allocators without recording in an A/B run.`)}
</section>`;
}

function ci(v: number | null, lo: number | null, hi: number | null, digits = 3): string {
  if (v === null) return '–';
  const iv = lo === null || hi === null ? '' : ` <span class="mono">[${h(lo.toFixed(digits))}, ${h(hi.toFixed(digits))}]</span>`;
  return `${h(v.toFixed(digits))}${iv}`;
}

function verdict(v: string | null): string {
  if (v === null) return '';
  const cls = v === 'faster' ? 'verdict-faster' : v === 'slower' ? 'verdict-slower' : '';
  return `<br><span class="${cls}">${h(v)}</span>`;
}

function renderAb(ab: AbData): string {
  const r = ab.report;
  const rows = r.arms.map((a) => {
    const base = a.verdict === 'baseline';
    return [
      `<b>${h(a.allocator)}</b>${base ? ' <span class="tag">baseline</span>' : ''}${a.library ? `<br><span class="mono">${h(a.library)}</span>` : ''}`,
      h(a.threads),
      `${h(a.runs_ok)}${a.runs_failed ? ` <span class="note">(${h(a.runs_failed)} failed)</span>` : ''}` +
        (a.status !== 'ok' ? `<br><span class="note">${h(a.status)}${a.reason ? ': ' + h(a.reason) : ''}</span>` : '') +
        a.failures.slice(0, 3).map((f) => `<br><span class="note">run ${h(f.run)}: ${h(f.reason ?? 'failed')}</span>`).join(''),
      h(formatInt(a.samples)),
      ci(a.median_ms, a.median_ci_low_ms, a.median_ci_high_ms),
      ci(a.p90_ms, a.p90_ci_low_ms, a.p90_ci_high_ms),
      ci(a.p99_ms, a.p99_ci_low_ms, a.p99_ci_high_ms),
      base ? '1' : ci(a.median_ratio, a.ratio_ci_low, a.ratio_ci_high) + verdict(a.verdict),
      base ? '1' : ci(a.p99_ratio, a.p99_ratio_ci_low, a.p99_ratio_ci_high) + verdict(a.p99_verdict),
      h(formatBytes(a.peak_rss_bytes)) + (base || a.rss_ratio === null ? '' : `<br>${ci(a.rss_ratio, a.rss_ratio_ci_low, a.rss_ratio_ci_high)}${a.rss_verdict ? `<br><span class="${a.rss_verdict === 'smaller' ? 'verdict-faster' : a.rss_verdict === 'larger' ? 'verdict-slower' : ''}">${h(a.rss_verdict)}</span>` : ''}`),
      h(formatInt(a.minor_faults)),
      h(formatInt(a.major_faults)),
      (a.plan_hit_rate === null ? (a.plan_refusal ? `<span class="note">${h(a.plan_refusal)}</span>` : '–') : h(formatPct(a.plan_hit_rate, 3))) +
        (a.plan_note ? `<br><span class="note">not planned: ${h(a.plan_note)}; no verdict</span>` : ''),
    ];
  });
  // Settings as words, not JSON: lists joined, objects as key: value.
  const plain = (v: unknown): string =>
    v === null || v === undefined
      ? '–'
      : Array.isArray(v)
        ? v.map(plain).join(', ')
        : typeof v === 'object'
          ? Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}: ${plain(x)}`).join('; ')
          : String(v);
  const cfg = Object.entries(ab.config)
    .filter(([k]) => k !== 'skipped')
    .map(([k, v]) => `<b>${h(k)}</b> ${h(plain(v))}`)
    .join(' · ');
  const hasCmp = r.arms.some((a) => a.median_ratio !== null && a.verdict !== 'baseline');
  const hasSamples = r.arms.some((a) => a.samples > 0);
  return `<section id="ab"><h2>A/B run ${h(r.ab_run_id)}</h2>
${kv([
  ['command line', `<code>${h(shellJoin(r.command))}</code>`],
  ['working directory', `<code>${h(ab.cwd)}</code>`],
  ['configuration', cfg],
  ['status', h(r.status)],
  ['run', `${h(ab.startedAt)} – ${h(ab.endedAt ?? '…')}`],
  ['Python / torch', `<code>${h(ab.python ?? '–')}</code> / ${h(ab.torchVersion ?? '–')}`],
  ...(r.skipped.length ? [['skipped allocators', r.skipped.map((s) => `${h(s.name)}: ${h(s.reason)}`).join('<br>')] as [string, string]] : []),
  ...hostRows(ab.host),
])}
${table(
  [
    { label: 'allocator' }, { label: 'threads', num: true }, { label: 'runs', num: true }, { label: 'samples', num: true },
    { label: 'median ms [95% CI]', num: true }, { label: 'p90 ms [95% CI]', num: true }, { label: 'p99 ms [95% CI]', num: true },
    { label: `median ÷ ${r.baseline} [95% CI]`, num: true }, { label: `p99 ÷ ${r.baseline} [95% CI]`, num: true },
    { label: 'peak RSS', num: true }, { label: 'minor faults', num: true }, { label: 'major faults', num: true }, { label: 'plan hit rate', num: true },
  ],
  rows,
)}
${hasSamples ? `<div class="chart" id="chart-ab-latency" data-chart="ab-latency"></div>` : '<p class="note">No arm has latency samples.</p>'}
${hasCmp ? `<div class="chart" id="chart-ab-ratio" data-chart="ab-ratio"></div>` : ''}
${hasSamples ? `<div class="chart" id="chart-ab-dist" data-chart="ab-dist"></div><div class="chart" id="chart-ab-rss" data-chart="ab-rss"></div>` : ''}
${how(`Each arm (allocator × serving threads) ran the same command ${h(r.runs)} times, interleaved with the other arms so that drift of the machine touches all of them alike. A sample is the latency of one iteration of one serving thread after its ${h(r.warmup)} warm-up iterations. Quantiles are of all kept samples of the arm's successful runs (type 7 interpolation); their ${h(Math.round(r.confidence * 100))}% intervals are percentile-bootstrap intervals (${h(formatInt(r.resamples))} resamples, seed ${h(r.seed)}). A ratio divides the arm's median (or p99) by the baseline's (${h(r.baseline)}) at the same thread count; its interval resamples both arms independently. The verdict is "faster" or "slower" only when that interval excludes 1, else "no detectable difference". Peak RSS and page faults are what the kernel counted for each process (wait4 rusage), medians over the arm's successful runs. The plan hit rate counts allocations served from the arena over all the plan arm's runs. These are the same computations as <code>memoplan ab --json</code>.`)}
</section>`;
}

function renderSweep(s: AbSweep, si: number): string {
  const fix = (v: number | null, d: number) => (v === null ? '–' : v.toFixed(d));
  const ms = (v: number | null) => (v === null ? '–' : v.toFixed(2));
  const yDim = s.y === null ? null : s.dims.find((d) => d.key === s.y);
  const height = (label: string) => (label ? 30 : 14) + 86 + (yDim ? yDim.values.length : 1) * 56;
  const charts = s.panels
    .map((p, pi) => `<div class="chart" id="chart-sweep-${si}-${pi}" data-chart="sweep" data-cells="${p.points.length}" style="height:${height(p.label)}px"></div>`)
    .join('\n');
  const rows = s.points.map((p) => [
    ...s.dims.map((d) => h(p.coords[d.key])),
    h(p.abRunId),
    h(p.bestAllocator ?? '–'),
    h(p.bestPlan ?? '–'),
    `${h(ms(p.allocatorMedianMs))} / ${h(ms(p.planMedianMs))}`,
    p.latencyRatio === null ? '–' : `<span class="${p.latencyRatio < 1 ? 'verdict-faster' : p.latencyRatio > 1 ? 'verdict-slower' : ''}">${h(fix(p.latencyRatio, 3))}</span>`,
    h(fix(p.p99Ratio, 3)),
    h(fix(p.rssRatio, 3)),
    `${h(formatBytes(p.allocatorRssBytes))} / ${h(formatBytes(p.planRssBytes))}`,
    [p.note ? `no verdict: ${h(p.note)}` : '', p.note === null && p.unplanned.length ? `not planned: ${h(p.unplanned.join('; '))}` : '', p.status !== 'complete' ? h(p.status) : '']
      .filter(Boolean)
      .map((x) => `<span class="note">${x}</span>`)
      .join('<br>'),
  ]);
  const dims = s.dims.map((d) => `${h(d.label)} (${h(d.values.join(', '))})`).join(' × ');
  return `<h3 id="sweep-${si}">Sweep: ${dims}</h3>
<p>${h(s.runs.length)} A/B run(s) (${h(s.runs.join(', '))}), started ${h(s.startedAt)}; first cell: <code>${h(shellJoin(s.command))}</code>.${s.note ? ` <span class="note">${h(s.note)}</span>` : ''}</p>
${charts}
${sweepTable(
  si,
  [
    ...s.dims.map((d) => ({ label: d.label })),
    { label: 'A/B run', num: true }, { label: 'best allocator' }, { label: 'best plan arm' }, { label: 'median ms alloc / plan', num: true },
    { label: 'latency plan ÷ alloc', num: true }, { label: 'p99 plan ÷ alloc', num: true }, { label: 'peak RSS plan ÷ alloc', num: true },
    { label: 'peak RSS alloc / plan', num: true }, { label: 'note' },
  ],
  rows,
  s.points.map((p) => p.abRunId),
)}`;
}

/** The sweep's cells as a table; each row names its A/B run (a click on the heatmap scrolls to it). */
function sweepTable(si: number, head: { label: string; num?: boolean }[], rows: string[][], runs: number[]): string {
  const th = head.map((c) => `<th${c.num ? ' class="n"' : ''}>${h(c.label)}</th>`).join('');
  const body = rows.map((r, i) => `<tr data-run="${h(runs[i])}">${r.map((cell, j) => `<td${head[j]?.num ? ' class="n"' : ''}>${cell}</td>`).join('')}</tr>`).join('');
  return `<table id="sweep-${si}-table"><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

function renderSweeps(sweeps: AbSweep[]): string {
  return `<section id="sweep"><h2>A/B sweep${sweeps.length > 1 ? 's' : ''}</h2>
${sweeps.map(renderSweep).join('\n')}
${how(`<code>memoplan ab --vary NAME=v1,v2</code> ran one A/B per cell of the grid (each row above is one A/B run at one serving-thread count). Per cell, the fastest plan arm that served its plan (every run serving, at least 99% of allocations from the arena) is compared with the fastest general-purpose allocator arm: the ratio of their median latencies (below 1 the plan is faster; the colour scale is centred at 1 on a log scale, green faster, red slower) and of their median peak RSS. A grey cell has no verdict: no plan arm served its plan, or there was no arm to compare. The numbers are recomputed from the stored rows as <code>memoplan ab</code> prints its grid.`)}
</section>`;
}

let cachedPage: string | null = null;

/** The page code: main/report/page.ts and what it requires (the chart builders of shared/charts/, shared/format), compiled, as one script. */
export function pageScript(): string {
  cachedPage ??= assertInlinable(bundleModules(moduleClosure('main/report/page'), 'main/report/page').replace(/\r\n?/g, '\n'), 'the report page code');
  return cachedPage;
}

export function renderReport(d: ReportData, opts: { echarts?: string } = {}): string {
  const echartsJs = opts.echarts ?? echartsSource();
  const clientJs = pageScript();
  const csp = contentSecurityPolicy([echartsJs, clientJs]);
  const sections = [
    renderTarget(d),
    renderSummary(d),
    renderTimeline(d),
    renderPeak(d),
    renderIterations(d),
    renderPlans(d),
    renderPlanSets(d),
    renderReplays(d),
    d.ab ? renderAb(d.ab) : '',
    d.sweeps.length ? renderSweeps(d.sweeps) : '',
  ].filter(Boolean);
  const nav = [
    ['target', 'Target'],
    ['summary', 'Summary'],
    ['memory', 'Memory'],
    ...(d.peak ? [['peak', 'Peak']] : []),
    ['iterations', 'Iterations'],
    ['plans', 'Plans'],
    ...(d.planSets.length ? [['plan-sets', 'Plan sets']] : []),
    ...(d.replays.length ? [['replay', 'Plan mode']] : []),
    ...(d.ab ? [['ab', 'A/B']] : []),
    ...(d.sweeps.length ? [['sweep', 'Sweep']] : []),
  ]
    .map(([id, label]) => `<a href="#${id}">${h(label)}</a>`)
    .join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${h(csp)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="memoplan ${h(d.memoplanVersion)}">
<title>memoplan report — session ${h(d.target.id)} (${h(d.target.name)})</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>memoplan report — session ${h(d.target.id)}: ${h(d.target.name)}</h1>
<p>Generated ${h(d.generatedAt)} by memoplan ${h(d.memoplanVersion)}. Self-contained: it loads nothing from the network. Charts zoom with the mouse wheel and the slider.</p></header>
<nav>${nav}</nav>
<main>
${sections.join('\n')}
</main>
<script type="application/json" id="report-data">${jsonForScript(d)}</script>
<script>${echartsJs}</script>
<script>${clientJs}</script>
</body>
</html>
`;
}
