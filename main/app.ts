/**
 * Electron entry. The window shows the same UI that `memoplan serve` serves, from a server
 * bound to 127.0.0.1 inside this process with its own token. contextIsolation and sandbox on,
 * no nodeIntegration, navigation and new windows blocked.
 */
import { app, BrowserWindow } from 'electron';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { serve } from './serve';

async function open(): Promise<void> {
  let url = '';
  const dbFile = process.env.MEMOPLAN_DB ?? path.join(app.getPath('userData'), 'memoplan.db');
  const server = await serve({ dbFile, port: 0, onListening: (u) => (url = u) });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const win = new BrowserWindow({
    width: 1280,
    height: 860,
    title: 'memoplan',
    webPreferences: { contextIsolation: true, sandbox: true, nodeIntegration: false },
  });
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  win.webContents.on('will-navigate', (e, target) => {
    if (!target.startsWith(origin)) e.preventDefault();
  });
  await win.loadURL(url);
}

app.whenReady().then(open, (err) => {
  console.error(`memoplan: ${(err as Error).message}`);
  app.exit(1);
});
app.on('window-all-closed', () => app.quit());
