/**
 * The renderer's one door to main. In the desktop app preload.ts exposes window.memoplan (IPC);
 * in a browser the page talks to `memoplan serve` over HTTP (calls) and a WebSocket (events),
 * with the token from the page's own URL. Views call api() and onEvent() and never know which.
 */
import type { ApiEvent, ApiMethod, ApiReply, ApiRequest, ApiResponse } from '../shared/api';

export class ApiError extends Error {
  constructor(readonly kind: string, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

const bridge = window.memoplan;
const token = new URLSearchParams(location.search).get('token') ?? '';

export const transport: 'ipc' | 'http' = bridge ? 'ipc' : 'http';

export async function api<M extends ApiMethod>(method: M, req: ApiRequest<M>): Promise<ApiResponse<M>> {
  let reply: ApiReply;
  if (bridge) {
    reply = await bridge.call(method, req);
  } else {
    let res: Response;
    try {
      res = await fetch(`api/${method}?token=${encodeURIComponent(token)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(req),
      });
    } catch {
      throw new ApiError('network', 'cannot reach memoplan serve (did it stop?)');
    }
    try {
      reply = (await res.json()) as ApiReply;
    } catch {
      throw new ApiError('network', `memoplan serve answered ${res.status} without a reply`);
    }
  }
  if (!reply.ok) throw new ApiError(reply.error.kind, reply.error.message);
  return reply.result as ApiResponse<M>;
}

type Listener = (e: ApiEvent) => void;
const listeners = new Set<Listener>();

export function onEvent(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

function dispatch(e: ApiEvent): void {
  for (const l of listeners) {
    try {
      l(e);
    } catch (err) {
      console.warn('memoplan: event handler failed', err);
    }
  }
}

let connected = false;
let retry = 500;

/** Starts the event stream (once). */
export function connectEvents(onState?: (up: boolean) => void): void {
  if (connected) return;
  connected = true;
  if (bridge) {
    bridge.onEvent(dispatch);
    onState?.(true);
    return;
  }
  const open = () => {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?token=${encodeURIComponent(token)}`);
    ws.onopen = () => {
      retry = 500;
      onState?.(true);
    };
    ws.onmessage = (m) => {
      try {
        dispatch(JSON.parse(String(m.data)) as ApiEvent);
      } catch {
        /* not an event */
      }
    };
    ws.onclose = () => {
      onState?.(false);
      setTimeout(open, retry);
      retry = Math.min(retry * 2, 10_000);
    };
  };
  open();
}

/** The URL of a file export.run produced over HTTP (null in the desktop app, where files are saved by a dialog). */
export function downloadUrl(id: string): string | null {
  return bridge ? null : `download/${encodeURIComponent(id)}?token=${encodeURIComponent(token)}`;
}
