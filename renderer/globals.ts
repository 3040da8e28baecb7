/**
 * Globals of the page: ECharts (loaded as a classic script, echarts.min.js, served locally)
 * and window.memoplan (the desktop app's preload bridge). Only the parts of ECharts the views
 * use are typed here.
 */
import type { MemoplanBridge } from '../shared/api';

export interface EChart {
  setOption(option: object, opts?: boolean | { notMerge?: boolean; replaceMerge?: string[]; lazyUpdate?: boolean }): void;
  getOption(): Record<string, unknown>;
  // Each ECharts event passes its own shape of params; each view types the one it handles.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: string, handler: (params: any) => void): void;
  resize(): void;
  clear(): void;
  dispose(): void;
  isDisposed(): boolean;
  dispatchAction(action: object): void;
  getDom(): HTMLElement;
  getWidth(): number;
  getHeight(): number;
  convertFromPixel(finder: object, value: number[]): number[];
  containPixel(finder: object, value: number[]): boolean;
  getZr(): { on(event: string, handler: (e: { offsetX: number; offsetY: number; target?: unknown }) => void): void };
}

export interface EChartsStatic {
  init(el: HTMLElement, theme?: string | null, opts?: { renderer?: 'canvas' | 'svg' }): EChart;
  graphic: { clipRectByRect(rect: object, clip: object): object | undefined };
}

declare global {
  interface Window {
    memoplan?: MemoplanBridge;
    echarts?: EChartsStatic;
  }
}

export function ec(): EChartsStatic {
  if (!window.echarts) throw new Error('ECharts did not load (echarts.min.js)');
  return window.echarts;
}
