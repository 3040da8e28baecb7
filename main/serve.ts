import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ApiService, httpStatus } from './api/service';
import { UserError } from '../shared/errors';
import { appScript, csp, echartsFile, pageHtml, STYLE } from './api/assets';
import type { ApiReply } from '../shared/api';

/**
 * `memoplan serve`: the UI and the API of shared/api.ts over HTTP + WebSocket on 127.0.0.1,
 * for headless machines and for `npm start` where the Electron binary is missing.
 *
 *   GET  /?token=T                  the page (and style.css, app.js, echarts.min.js, each ?token=T)
 *   POST /api/<method>?token=T      JSON request body -> ApiReply (400 refused input, 422 user error, ...)
 *   GET  /ws?token=T (upgrade)      pushed ApiEvent frames (recording progress, session changes)
 *   GET  /download/<id>?token=T     a file export.run wrote into the exports/ folder (only those)
 *
 * Every request must carry the random token printed in the URL (403 otherwise), so other local
 * users and web pages cannot read or drive it; the Host header must name the loopback address
 * (no DNS rebinding) and a WebSocket's Origin, when sent, must be this server's own.
 */

export interface ServeOptions {
  dbFile: string;
  port: number;
  /** Called with the URL once listening (by default it is printed as the first stdout line). */
  onListening?: (url: string) => void;
  /** Stop recordings, close and exit on SIGINT/SIGTERM (the CLI; default true). */
  handleSignals?: boolean;
}

export interface ServeHandle {
  server: http.Server;
  service: ApiService;
  url: string;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

function tokenOk(given: string | null, token: string): boolean {
  if (!given || given.length !== token.length) return false;
  return crypto.timingSafeEqual(Buffer.from(given), Buffer.from(token));
}

export function createServer(service: ApiService, token: string): { server: http.Server; wss: WebSocketServer } {
  const server = http.createServer();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  const port = () => (server.address() as AddressInfo).port;
  const hostOk = (host: string | undefined) => host === `127.0.0.1:${port()}` || host === `localhost:${port()}`;
  const connectSrc = () => `ws://127.0.0.1:${port()} ws://localhost:${port()}`;

  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!hostOk(req.headers.host) || !tokenOk(url.searchParams.get('token'), token)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden: the URL must carry the token memoplan printed\n');
      return;
    }
    const headers = {
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'content-security-policy': csp(connectSrc()),
    };
    const send = (status: number, type: string, body: string | Buffer) => res.writeHead(status, { ...headers, 'content-type': type }).end(body);
    if (url.pathname.startsWith('/api/')) {
      if (req.method !== 'POST') {
        send(405, 'application/json', JSON.stringify({ ok: false, error: { kind: 'bad-request', message: 'API calls are POST requests' } }));
        return;
      }
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
        send(415, 'application/json', JSON.stringify({ ok: false, error: { kind: 'bad-request', message: 'the request body must be application/json' } }));
        return;
      }
      void handleApi(service, url.pathname.slice(5), req).then((reply) => {
        send(reply.ok ? 200 : httpStatus(reply.error), 'application/json', JSON.stringify(reply));
      });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain', 'method not allowed\n');
      return;
    }
    const q = `?token=${encodeURIComponent(token)}`;
    if (url.pathname.startsWith('/download/')) {
      const d = service.download(url.pathname.slice('/download/'.length));
      if (!d) return void send(404, 'text/plain', 'no such export (exports are offered while this serve runs)\n');
      let size: number;
      try {
        size = fs.statSync(d.file).size;
      } catch {
        return void send(404, 'text/plain', 'the exported file is gone\n');
      }
      const ascii = d.name.replace(/[^\w.-]/g, '_');
      res.writeHead(200, {
        ...headers,
        'content-type': d.type,
        'content-length': String(size),
        'content-disposition': `attachment; filename="${ascii}"`,
      });
      if (req.method === 'HEAD') return void res.end();
      fs.createReadStream(d.file).on('error', () => res.destroy()).pipe(res);
      return;
    }
    try {
      switch (url.pathname) {
        case '/':
          return void send(200, 'text/html; charset=utf-8', pageHtml(q, connectSrc()));
        case '/style.css':
          return void send(200, 'text/css; charset=utf-8', STYLE);
        case '/app.js':
          return void send(200, 'text/javascript; charset=utf-8', appScript());
        case '/echarts.min.js':
          return void send(200, 'text/javascript; charset=utf-8', fs.readFileSync(echartsFile()));
        default:
          return void send(404, 'text/plain', 'not found\n');
      }
    } catch (err) {
      send(500, 'text/plain', `memoplan: ${(err as Error).message}\n`);
    }
  });

  server.on('upgrade', (req, socket: Duplex, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const origin = req.headers.origin;
    const originOk = origin === undefined || origin === `http://127.0.0.1:${port()}` || origin === `http://localhost:${port()}`;
    if (url.pathname !== '/ws' || !hostOk(req.headers.host) || !originOk || !tokenOk(url.searchParams.get('token'), token)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const off = service.onEvent((e) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(e));
      });
      ws.on('close', off);
      ws.on('error', off);
      // Calls go over HTTP; the socket only pushes. Anything the page sends is ignored.
      ws.on('message', () => undefined);
    });
  });
  return { server, wss };
}

async function handleApi(service: ApiService, method: string, req: http.IncomingMessage): Promise<ApiReply> {
  let body: Buffer;
  try {
    body = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
        if (n > MAX_BODY) {
          reject(new Error('request body over 1 MiB'));
          req.destroy();
        } else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  } catch (err) {
    return { ok: false, error: { kind: 'bad-request', message: (err as Error).message } };
  }
  let params: unknown;
  try {
    params = body.length ? JSON.parse(body.toString('utf8')) : {};
  } catch {
    return { ok: false, error: { kind: 'bad-request', message: 'the request body is not valid JSON' } };
  }
  return service.call(method, params);
}

export async function serve(o: ServeOptions): Promise<ServeHandle> {
  // A database that cannot be used does not stop the server: the page says why (the Sessions
  // view); stderr says it too.
  const service = new ApiService({ dbFile: o.dbFile });
  const token = crypto.randomBytes(24).toString('base64url');
  const { server, wss } = createServer(service, token);
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new UserError(`port must be 0..65535, got ${o.port}`);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, '127.0.0.1', resolve);
    });
  } catch (err) {
    await service.close();
    wss.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UserError(`port ${o.port} on 127.0.0.1 is in use by another program; choose another --port (0 picks a free one)`);
    if (code === 'EACCES') throw new UserError(`port ${o.port} needs privileges this user lacks; choose another --port (0 picks a free one)`);
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/?token=${token}`;
  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      await service.close();
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    })());
  if (o.handleSignals ?? true) {
    const stop = (sig: NodeJS.Signals) => {
      if (service.activeRecordings) process.stderr.write(`memoplan: ${sig}: stopping the recording and storing its trace\n`);
      void close().then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
  if (o.onListening) o.onListening(url);
  else process.stdout.write(url + '\n');
  const problem = service.dbProblem();
  if (problem) process.stderr.write(`memoplan: ${problem} (the page shows it too)\n`);
  return { server, service, url, close };
}
