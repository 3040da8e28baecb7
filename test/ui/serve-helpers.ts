import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { BIN } from '../helpers/cli';

/** A real `memoplan serve` and a headless Chromium page on it, for the UI test files. */

export const CHROMIUM = process.env.MEMOPLAN_CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS_COPY = '/tmp/memoplan-ui-shots';

export interface UiSession {
  serve: ChildProcess;
  url: string;
  origin: string;
  token: string;
  browser: Browser;
  page: Page;
  consoleErrors: string[];
  call(method: string, body: unknown): Promise<{ status: number; json: any }>;
  view(name: string): Promise<void>;
  shot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startUi(dbFile: string, cwd: string, env?: NodeJS.ProcessEnv): Promise<UiSession> {
  const serve = spawn(process.execPath, [BIN, 'serve', '--db', dbFile, '--port', '0'], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
  let stderr = '';
  serve.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    serve.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    serve.on('close', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  const origin = new URL(url).origin;
  const token = new URL(url).searchParams.get('token')!;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  const shots = path.join(path.dirname(dbFile), 'shots');
  return {
    serve,
    url,
    origin,
    token,
    browser,
    page,
    consoleErrors,
    async call(method, body) {
      const res = await fetch(`${origin}/api/${method}?token=${encodeURIComponent(token)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      let json: any = text;
      try {
        json = JSON.parse(text);
      } catch {
        /* text */
      }
      return { status: res.status, json };
    },
    async view(name) {
      await page.click(`nav button[data-view=${name}]`);
      await page.waitForSelector(`#view-${name}.active`);
    },
    async shot(name) {
      fs.mkdirSync(shots, { recursive: true });
      const file = path.join(shots, `${name}.png`);
      await page.evaluate(() => window.scrollTo(0, 0)); // else the sticky header lands mid-page
      await page.screenshot({ path: file, fullPage: true });
      fs.mkdirSync(SHOTS_COPY, { recursive: true });
      fs.copyFileSync(file, path.join(SHOTS_COPY, `${name}.png`));
    },
    async close() {
      await browser.close();
      if (serve.exitCode === null) {
        const closed = new Promise((r) => serve.once('close', r));
        serve.kill('SIGINT');
        await closed;
      }
    },
  };
}
