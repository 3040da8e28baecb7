/**
 * The Electron window's security settings, apart from main/app.ts so that a test can check
 * them without the Electron binary: the renderer gets no Node, runs sandboxed and isolated,
 * and may load nothing but the app's own scheme under a strict CSP.
 */
import { csp } from './api/assets';

export interface SecureWebPreferences {
  preload: string;
  contextIsolation: true;
  sandbox: true;
  nodeIntegration: false;
  webSecurity: true;
  webviewTag: false;
}

export function secureWebPreferences(preload: string): SecureWebPreferences {
  return { preload, contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, webviewTag: false };
}

/** CSP header of every app:// response: the page's own policy with no extra connect source. */
export const WINDOW_CSP = csp('');
