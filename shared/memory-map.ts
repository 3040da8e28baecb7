import type { MapReply } from './api';

/**
 * The colour groups of a plan's memory map, the same in the app's Plan view and in the offline
 * report (both draw main/store/memory-map.ts planMap's reply). Pure, loaded by the renderer at
 * run time (main/api/assets.ts SHARED_RUNTIME).
 */

/** The colour group of a module path: its first component under the model (ResNet.layer4.0.conv2 -> layer4). */
export function moduleGroup(module: string): string {
  if (!module) return '(no module)';
  const parts = module.split('.');
  return parts.length >= 2 ? parts[1] : parts[0];
}

/** Most groups coloured on their own; the rest share one, `other modules`. */
export const MAP_GROUPS = 11;

/**
 * The groups of a map's rectangles: names, the biggest by bytes first (`other modules` last when
 * more than MAP_GROUPS), and each rectangle's index into them.
 */
export function mapGroups(m: Pick<MapReply, 'modules' | 'rects'>): { names: string[]; group: number[] } {
  const groupOfModule = m.modules.map(moduleGroup);
  const bytesByGroup = new Map<string, number>();
  for (const r of m.rects) bytesByGroup.set(groupOfModule[r.module], (bytesByGroup.get(groupOfModule[r.module]) ?? 0) + r.size);
  const groups = [...bytesByGroup.entries()].sort((a, b) => b[1] - a[1]).map(([g]) => g);
  const kept = groups.slice(0, MAP_GROUPS);
  const index = new Map(kept.map((g, i) => [g, i]));
  return {
    names: groups.length > MAP_GROUPS ? [...kept, 'other modules'] : kept,
    group: m.rects.map((r) => index.get(groupOfModule[r.module]) ?? MAP_GROUPS),
  };
}
