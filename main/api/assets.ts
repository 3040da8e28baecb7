import fs from 'node:fs';
import path from 'node:path';

/**
 * The renderer's files, the same for both transports: the page, its style sheet, the app
 * script and ECharts. The renderer is TypeScript compiled by the root tsconfig to CommonJS
 * (dist/renderer); `appScript()` joins those files into one classic script with a 20-line
 * module table, so the page needs no bundler and no eval (CSP script-src 'self').
 */

const DIST = path.resolve(__dirname, '..', '..'); // dist/
const RENDERER_DIR = path.join(DIST, 'renderer');
/**
 * shared/ files the renderer may import at run time (everything else there is types): among
 * them the chart builders, which the offline report bundles too (main/report/render.ts).
 */
export const SHARED_RUNTIME = [
  'api',
  'format',
  'memory-map',
  'sweep-heatmap',
  'charts/common',
  'charts/timeline',
  'charts/top-bars',
  'charts/icicle',
  'charts/plan-compare',
  'charts/memory-map',
  'charts/ab',
  'charts/iterations',
];

export function echartsFile(): string {
  return require.resolve('echarts/dist/echarts.min.js');
}

function listJs(dir: string, prefix = ''): { id: string; file: string }[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) return listJs(p, prefix + e.name + '/');
      return e.name.endsWith('.js') ? [{ id: prefix + e.name.slice(0, -3), file: p }] : [];
    });
}

let cachedScript: string | null = null;

/**
 * One classic script from CommonJS modules: each registered by id under a 20-line module table
 * (relative requires resolved against the requiring module's id), then `entry` required. No
 * bundler, no eval: the app's page (below) and the offline report (main/report/render.ts) both
 * load their code this way.
 */
export function bundleModules(mods: { id: string; file: string }[], entry: string): string {
  const parts = [
    `(function () {
'use strict';
var defs = Object.create(null), cache = Object.create(null);
function resolve(from, rel) {
  var parts = from.split('/'); parts.pop();
  rel.split('/').forEach(function (p) { if (p === '..') parts.pop(); else if (p !== '.' && p !== '') parts.push(p); });
  return parts.join('/');
}
function requireFrom(from) {
  return function (rel) {
    var id = resolve(from, rel);
    if (!defs[id]) throw new Error('memoplan: module not found: ' + rel + ' (from ' + from + ')');
    if (!cache[id]) { var m = { exports: {} }; cache[id] = m; defs[id](requireFrom(id), m.exports, m); }
    return cache[id].exports;
  };
}`,
  ];
  for (const m of mods) {
    const src = fs.readFileSync(m.file, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
    parts.push(`defs[${JSON.stringify(m.id)}] = function (require, exports, module) {\n${src}\n};`);
  }
  parts.push(`requireFrom('')(${JSON.stringify('./' + entry)});\n})();\n`);
  return parts.join('\n');
}

/**
 * The compiled module `entry` (an id under dist/, e.g. 'main/report/page') and every module it
 * requires by a relative path, transitively: what bundleModules needs to run it.
 */
export function moduleClosure(entry: string): { id: string; file: string }[] {
  const out = new Map<string, string>();
  const visit = (id: string) => {
    if (out.has(id)) return;
    const file = path.join(DIST, id + '.js');
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run build`);
    out.set(id, file);
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/\brequire\("(\.{1,2}\/[^"]+)"\)/g)) visit(path.posix.normalize(path.posix.join(path.posix.dirname(id), m[1])));
  };
  visit(entry);
  return [...out.entries()].map(([id, file]) => ({ id, file }));
}

/** One script: every compiled renderer module, registered by id, then main started. */
export function appScript(): string {
  if (cachedScript !== null) return cachedScript;
  const mods = listJs(RENDERER_DIR);
  if (!mods.some((m) => m.id === 'main')) throw new Error(`the renderer is not built (${path.join(RENDERER_DIR, 'main.js')} missing): run npm run build`);
  for (const s of SHARED_RUNTIME) {
    const f = path.join(DIST, 'shared', s + '.js');
    if (fs.existsSync(f)) mods.push({ id: 'shared/' + s, file: f });
  }
  cachedScript = bundleModules(mods, 'main');
  return cachedScript;
}

/**
 * The page. `query` is appended to every asset URL (the token over HTTP; '' in Electron).
 * `connect` lists extra connect-src sources (the WebSocket URL over HTTP).
 */
export function pageHtml(query: string, connect: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp(connect, true)}">
<link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>memoplan</title>
<link rel="stylesheet" href="style.css${query}">
</head><body>
<header id="top">
  <span class="brand">memoplan</span>
  <nav id="nav">
    <button data-view="sessions" class="active">Sessions</button>
    <button data-view="attach">Attach</button>
    <button data-view="record">Record</button>
    <button data-view="overview">Memory</button>
    <button data-view="plan">Plan</button>
    <button data-view="replay">Replay</button>
    <button data-view="ab">A/B</button>
    <button data-view="export">Export</button>
  </nav>
  <span id="dbinfo" class="muted"></span>
</header>
<div id="status" role="status" aria-live="polite"></div>
<main id="views"></main>
<script src="echarts.min.js${query}"></script>
<script src="app.js${query}"></script>
</body></html>`;
}

/** The page's Content-Security-Policy; frame-ancestors only works as a header, not in <meta>. */
export function csp(connect: string, meta = false): string {
  const parts = [
    "default-src 'none'",
    "script-src 'self'",
    // ECharts positions its tooltips with inline style attributes; no inline script is allowed.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    `connect-src 'self'${connect ? ' ' + connect : ''}`,
    "base-uri 'none'",
    "form-action 'none'",
  ];
  if (!meta) parts.push("frame-ancestors 'none'");
  return parts.join('; ');
}

export const STYLE = `
:root { --fg:#1d2230; --muted:#6b7280; --line:#e3e6ec; --accent:#2f6fde; --bad:#c0392b; --bg:#fafbfc; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
header#top { display:flex; align-items:center; gap:18px; padding:8px 16px; border-bottom:1px solid var(--line); background:#fff; position:sticky; top:0; z-index:5; }
.brand { font-weight:700; letter-spacing:.02em; }
nav button { border:0; background:none; padding:6px 10px; border-radius:6px; cursor:pointer; font:inherit; color:var(--fg); }
nav button.active { background:#e8effc; color:var(--accent); font-weight:600; }
#dbinfo { margin-left:auto; font-size:12px; max-width:50vw; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
#status { min-height:0; padding:0 16px; }
#status .msg { margin:8px 0; padding:8px 12px; border-radius:6px; background:#eef6ee; border:1px solid #cfe6cf; }
#status .msg.error { background:#fdeeee; border-color:#f3c7c3; color:var(--bad); white-space:pre-wrap; }
main { padding:12px 16px 40px; }
section.view { display:none; }
section.view.active { display:block; }
h2 { font-size:17px; margin:8px 0 12px; }
h3 { font-size:14px; margin:16px 0 8px; }
.muted { color:var(--muted); }
.note { color:var(--muted); font-size:12px; margin:4px 0; }
.note.error { color:var(--bad); }
table { border-collapse:collapse; background:#fff; }
th, td { padding:5px 10px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
tr.best td { font-weight:600; }
tr.selected td { background:#eef3fd; }
button, select, input { font:inherit; }
button.btn { padding:5px 12px; border-radius:6px; border:1px solid #c9d1de; background:#fff; cursor:pointer; }
button.btn.primary { background:var(--accent); border-color:var(--accent); color:#fff; }
button.btn.danger { color:var(--bad); }
button.btn:disabled { opacity:.5; cursor:default; }
.row { display:flex; gap:10px; align-items:center; flex-wrap:wrap; margin:8px 0; }
.form { display:grid; grid-template-columns: 150px minmax(300px, 720px); gap:8px 12px; align-items:center; }
.form input[type=text] { width:100%; padding:5px 8px; border:1px solid #c9d1de; border-radius:5px; }
.chart { width:100%; height:340px; background:#fff; border:1px solid var(--line); border-radius:6px; }
.chart.tall { height:460px; }
.grid2 { display:grid; grid-template-columns: 1fr 1fr; gap:12px; }
.cards { display:flex; gap:12px; flex-wrap:wrap; margin:8px 0; }
.card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:8px 12px; min-width:140px; }
.card .v { font-size:18px; font-weight:600; font-variant-numeric:tabular-nums; }
.card .k { font-size:12px; color:var(--muted); }
input[type=range] { width:min(900px, 100%); }
.empty { padding:24px; color:var(--muted); }
hr { border:0; border-top:1px solid var(--line); margin:28px 0 8px; }
.msg { margin:8px 0; padding:8px 12px; border-radius:6px; background:#eef6ee; border:1px solid #cfe6cf; }
.msg.error { background:#fdeeee; border-color:#f3c7c3; color:var(--bad); }
.mono { font-family:ui-monospace, monospace; font-size:12px; }
td.cmd { max-width:520px; overflow:hidden; text-overflow:ellipsis; }
td.ci { color:var(--muted); font-size:12px; }
td.verdict { white-space:normal; min-width:90px; max-width:130px; }
td.verdict.good { color:#1b7f3b; font-weight:600; }
td.verdict.bad { color:var(--bad); font-weight:600; }
tr.failed td { color:var(--muted); }
.scroll { overflow-x:auto; }
table.dense th, table.dense td { padding:5px 7px; }
#ab-arms label { margin-right:6px; }
.export-file a { font-weight:600; }
pre.stderr { white-space:pre-wrap; word-break:break-word; background:#fff; border:1px solid var(--line); border-radius:6px; padding:8px 10px; max-height:260px; overflow:auto; font-family:ui-monospace, monospace; font-size:12px; color:var(--fg); }
#db-error { margin:8px 0 12px; white-space:normal; }
.chart.flame { height:360px; }
.live-head { display:flex; gap:12px; align-items:center; flex-wrap:wrap; margin:14px 0 6px; }
.live-head h3 { margin:0; }
table.live td.key { max-width:420px; overflow:hidden; text-overflow:ellipsis; }
table.live td.bar { width:120px; }
table.live td.bar span { display:block; height:8px; background:#9db5e8; border-radius:2px; }
`;
