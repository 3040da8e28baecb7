/**
 * Electron entry. The window loads the renderer from the app:// scheme (local files only, no
 * server, no remote content) and talks to main through preload.ts: window.memoplan carries the
 * calls and events of shared/api.ts over IPC to the same ApiService that `memoplan serve` uses.
 * contextIsolation and sandbox on, no nodeIntegration, a strict CSP, every permission refused,
 * navigation and new windows blocked. With preload.ts, the only files that import 'electron'.
 */
import { app, BrowserWindow, dialog, ipcMain, protocol, session, type IpcMainInvokeEvent } from 'electron';
import fs from 'node:fs';
import path from 'node:path';
import { IPC_CALL, IPC_EVENT, type ApiReply } from '../shared/api';
import { appScript, echartsFile, pageHtml, STYLE } from './api/assets';
import { secureWebPreferences, WINDOW_CSP } from './window-config';
import { ApiService } from './api/service';
import { ENV } from '../shared/env-vars';

const ORIGIN = 'app://memoplan';

protocol.registerSchemesAsPrivileged([{ scheme: 'app', privileges: { standard: true, secure: true } }]);

function asset(pathname: string): { type: string; body: string | Buffer } | null {
  switch (pathname) {
    case '/':
    case '/index.html':
      return { type: 'text/html; charset=utf-8', body: pageHtml('', '') };
    case '/style.css':
      return { type: 'text/css; charset=utf-8', body: STYLE };
    case '/app.js':
      return { type: 'text/javascript; charset=utf-8', body: appScript() };
    case '/echarts.min.js':
      return { type: 'text/javascript; charset=utf-8', body: fs.readFileSync(echartsFile()) };
    default:
      return null;
  }
}

async function open(): Promise<void> {
  const dbFile = process.env[ENV.DB] ?? path.join(app.getPath('userData'), 'memoplan.db');
  let win: BrowserWindow | null = null;
  const service = new ApiService({
    dbFile,
    pickDatabase: async () => {
      const r = await dialog.showOpenDialog(win!, {
        title: 'Open a memoplan database',
        properties: ['openFile'],
        filters: [{ name: 'memoplan database', extensions: ['db', 'sqlite', 'sqlite3'] }, { name: 'All files', extensions: ['*'] }],
      });
      return r.canceled || r.filePaths.length === 0 ? null : r.filePaths[0];
    },
    // Exports: the user picks where each file goes; the renderer never names a path.
    pickSavePath: async (o) => {
      const r = await dialog.showSaveDialog(win!, {
        title: o.title,
        defaultPath: path.join(app.getPath('documents'), o.defaultName),
        filters: [...o.filters, { name: 'All files', extensions: ['*'] }],
        properties: ['createDirectory', 'showOverwriteConfirmation'],
      });
      return r.canceled || !r.filePath ? null : r.filePath;
    },
  });

  protocol.handle('app', (req) => {
    const url = new URL(req.url);
    const a = url.host === 'memoplan' ? asset(url.pathname) : null;
    if (!a) return new Response('not found', { status: 404 });
    return new Response(typeof a.body === "string" ? a.body : new Uint8Array(a.body), { headers: { 'content-type': a.type, 'content-security-policy': WINDOW_CSP, 'x-content-type-options': 'nosniff' } });
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));
  session.defaultSession.webRequest.onBeforeRequest((details, cb) => {
    // No remote content: only the app scheme (and devtools) may load anything.
    cb({ cancel: !(details.url.startsWith(ORIGIN + '/') || details.url.startsWith('devtools://')) });
  });

  const fromApp = (e: IpcMainInvokeEvent) => !!e.senderFrame && e.senderFrame.url.startsWith(ORIGIN + '/');
  ipcMain.handle(IPC_CALL, async (e, method: unknown, params: unknown): Promise<ApiReply> => {
    if (!fromApp(e)) return { ok: false, error: { kind: 'bad-request', message: 'calls are accepted from the memoplan window only' } };
    return service.call(method, params);
  });

  win = new BrowserWindow({
    width: 1320,
    height: 900,
    title: 'memoplan',
    webPreferences: secureWebPreferences(path.join(__dirname, 'preload.js')),
  });
  service.onEvent((ev) => {
    if (win && !win.isDestroyed()) win.webContents.send(IPC_EVENT, ev);
  });
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  win.webContents.on('will-navigate', (e) => e.preventDefault());
  win.webContents.on('will-attach-webview', (e) => e.preventDefault());
  app.on('before-quit', (e) => {
    if (service.activeRecordings) {
      e.preventDefault();
      void service.close().then(() => app.exit(0));
    }
  });
  await win.loadURL(ORIGIN + '/');
}

app.whenReady().then(open).catch((err) => {
  console.error(`memoplan: ${(err as Error).message}`);
  app.exit(1);
});
app.on('window-all-closed', () => app.quit());
