/**
 * Preload of the memoplan window (sandboxed: only 'electron' may be required here, so this file
 * imports types only). Exposes window.memoplan, the MemoplanBridge of shared/api.ts: calls go to
 * main over one invoke channel and are validated there; events come back on one channel.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { ApiEvent, ApiMethod, ApiReply, MemoplanBridge } from '../shared/api';

// Literal copies of IPC_CALL / IPC_EVENT: a sandboxed preload cannot require shared/api.js.
const CALL = 'memoplan:call';
const EVENT = 'memoplan:event';

const bridge: MemoplanBridge = {
  call: (method: ApiMethod, params: unknown) => ipcRenderer.invoke(CALL, String(method), params) as Promise<ApiReply>,
  onEvent(listener: (e: ApiEvent) => void) {
    const h = (_e: IpcRendererEvent, ev: ApiEvent) => listener(ev);
    ipcRenderer.on(EVENT, h);
    return () => {
      ipcRenderer.removeListener(EVENT, h);
    };
  },
};

contextBridge.exposeInMainWorld('memoplan', bridge);
