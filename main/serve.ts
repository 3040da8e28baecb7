import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openDatabase } from './store/db';
import { listSessions } from './store/sessions';

/**
 * `memoplan serve`: the UI over HTTP on 127.0.0.1, for headless machines and for `npm start`
 * where the Electron binary is missing. Every request must carry the random token printed in
 * the URL, so other local users cannot read or drive it. Until the UI lands this serves the
 * session list only.
 */

export interface ServeOptions {
  dbFile: string;
  port: number;
  /** Called with the URL once listening (the CLI prints it as the first stdout line). */
  onListening?: (url: string) => void;
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'">
<title>memoplan</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}</style>
</head><body>
<h1>memoplan</h1>
<p>Recorded sessions in this workspace. The full app (attach, record, plan, replay, A/B, export) lands view by view.</p>
<table id="sessions"><thead><tr><th>id</th><th>name</th><th>status</th><th>events</th><th>allocations</th><th>iterations</th><th>ops</th></tr></thead><tbody></tbody></table>
<script src="app.js"></script>
</body></html>`;

const SCRIPT = `(async () => {
  const token = new URLSearchParams(location.search).get('token');
  const res = await fetch('api/sessions?token=' + encodeURIComponent(token));
  const rows = await res.json();
  const body = document.querySelector('#sessions tbody');
  for (const r of rows) {
    const tr = document.createElement('tr');
    for (const v of [r.id, r.name, r.status, r.events, r.allocations, r.iterations, r.ops]) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
})();`;

export function createServer(dbFile: string, token: string): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const given = url.searchParams.get('token') ?? '';
    const ok = given.length === token.length && crypto.timingSafeEqual(Buffer.from(given), Buffer.from(token));
    if (!ok) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden: the URL must carry the token memoplan printed\n');
      return;
    }
    const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (url.pathname === '/') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (url.pathname === '/app.js') {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(SCRIPT);
    } else if (url.pathname === '/api/sessions') {
      const db = openDatabase(dbFile);
      try {
        res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(listSessions(db)));
      } finally {
        db.close();
      }
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
}

export async function serve(o: ServeOptions): Promise<http.Server> {
  openDatabase(o.dbFile).close(); // fail early on a bad database
  const token = crypto.randomBytes(24).toString('base64url');
  const server = createServer(o.dbFile, token);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/?token=${token}`;
  if (o.onListening) o.onListening(url);
  else process.stdout.write(url + '\n');
  return server;
}
