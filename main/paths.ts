import fs from 'node:fs';
import path from 'node:path';
import { ENV } from '../shared/env-vars';

/**
 * Where memoplan's own files are: the repository root when run from a checkout (dist/main/..),
 * or Electron's resources folder when packaged. Environment overrides exist for each so that a
 * packaged install or a test can point elsewhere.
 */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

function packagedResources(): string | null {
  const rp = (process as { resourcesPath?: string }).resourcesPath;
  return rp && fs.existsSync(path.join(rp, 'agent')) ? rp : null;
}

export function interposerPath(): string {
  const override = process.env[ENV.INTERPOSER];
  if (override) return path.resolve(override);
  const packaged = packagedResources();
  if (packaged) return path.join(packaged, 'native', 'libmemoplan.so');
  return path.join(PACKAGE_ROOT, 'build', 'native', 'libmemoplan.so');
}

/** The native trace ingester (native/ingest), spawned by main/record/native-ingest.ts. */
export function ingesterPath(): string {
  const override = process.env[ENV.INGESTER];
  if (override) return path.resolve(override);
  const packaged = packagedResources();
  if (packaged) return path.join(packaged, 'native', 'memoplan-ingest');
  return path.join(PACKAGE_ROOT, 'build', 'native', 'memoplan-ingest');
}

export function agentDir(): string {
  const packaged = packagedResources();
  return packaged ? path.join(packaged, 'agent') : path.join(PACKAGE_ROOT, 'resources', 'agent');
}

export function workloadsDir(): string {
  const packaged = packagedResources();
  return packaged ? path.join(packaged, 'workloads') : path.join(PACKAGE_ROOT, 'resources', 'workloads');
}
