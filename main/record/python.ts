import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../shared/errors';
import { ENV } from '../../shared/env-vars';

/**
 * Finding a Python that imports torch. Debian's python3-torch lives under /usr/bin/python3,
 * while the python3 first on PATH (pyenv, a venv, conda) may lack it. Order: the --python flag,
 * then MEMOPLAN_PYTHON, then what the command names, then python3 on PATH, then /usr/bin/python3.
 */

export interface PythonInfo {
  executable: string;
  version: string;
  torchVersion: string;
}

const PROBE = 'import sys, torch; print(sys.version.split()[0]); print(torch.__version__)';
/** How long `import torch` may take in the probe (MEMOPLAN_PYTHON_PROBE_SECONDS overrides). */
const PROBE_SECONDS = Number(process.env[ENV.PYTHON_PROBE_SECONDS]) > 0 ? Number(process.env[ENV.PYTHON_PROBE_SECONDS]) : 180;

export function probePython(executable: string): PythonInfo | null {
  const r = spawnSync(executable, ['-c', PROBE], { encoding: 'utf8', timeout: PROBE_SECONDS * 1000 });
  // We could not even start it (too many open files, no memory): not a Python without torch.
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EMFILE' || code === 'ENFILE') {
    throw new UserError(`cannot start ${executable} to check it imports torch: too many open files (ulimit -n is ${openFilesLimit() ?? '?'}); raise the limit`);
  }
  if (code === 'ENOMEM' || code === 'EAGAIN') throw new UserError(`cannot start ${executable} to check it imports torch: ${code} (out of memory or processes)`);
  // It started but `import torch` did not finish in time (a loaded machine, a slow disk): say so,
  // rather than that it cannot import torch.
  if (code === 'ETIMEDOUT') {
    throw new UserError(`${executable} took over ${PROBE_SECONDS} s to import torch (a loaded machine?); try again, or set MEMOPLAN_PYTHON_PROBE_SECONDS`);
  }
  if (r.status !== 0 || !r.stdout) return null;
  const [version, torchVersion] = r.stdout.trim().split('\n');
  return { executable, version, torchVersion };
}

/** The soft limit on open files of this process (ulimit -n), or null when unknown. */
export function openFilesLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : null;
  } catch {
    return null;
  }
}

export function looksLikePython(cmd: string): boolean {
  return /^python[0-9.]*$/.test(path.basename(cmd));
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

/**
 * Resolves the interpreter for a Python target. `explicit` (flag or env) must import torch or
 * the run stops; otherwise the named one is tried, then the usual places.
 */
export function resolvePython(named: string | null, explicit: string | null): { info: PythonInfo; note: string | null } {
  if (explicit) {
    const info = probePython(explicit);
    if (!info) throw new UserError(`${explicit} cannot import torch (given by --python or MEMOPLAN_PYTHON); install torch for it or name another interpreter`);
    return { info, note: null };
  }
  const tried: string[] = [];
  const candidates = [named, onPath('python3'), '/usr/bin/python3'].filter((c): c is string => !!c);
  for (const c of candidates) {
    const full = c.includes('/') ? c : onPath(c) ?? c;
    if (tried.includes(full)) continue;
    tried.push(full);
    const info = probePython(full);
    if (info) {
      const fellBack = named !== null && c !== named;
      const note = fellBack ? `${named} cannot import torch; using ${full} (torch ${info.torchVersion}); pass --python or set MEMOPLAN_PYTHON to choose` : null;
      return { info, note };
    }
  }
  throw new UserError(
    `no Python interpreter that imports torch was found (tried ${tried.join(', ')}); install python3-torch (Debian) or pass --python PATH`,
  );
}
