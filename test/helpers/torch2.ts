import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../main/paths';

/**
 * The tests' torch 2.x: the virtual environment scripts/setup.sh makes (torch 2.13 CPU and
 * transformers) for `npm test`, beside Debian's torch 1.13 under /usr/bin/python3.
 * MEMOPLAN_TORCH2_PYTHON names another interpreter.
 */

export const TORCH2_VENV = path.join(PACKAGE_ROOT, '.venv-torch2');
export const HF_WORKLOAD = path.join(PACKAGE_ROOT, 'resources', 'workloads', 'hf_infer.py');

/** The interpreter, or why there is none (a test's skip reason). */
export function torch2Python(): { python: string; skip?: undefined } | { python?: undefined; skip: string } {
  const env = process.env.MEMOPLAN_TORCH2_PYTHON;
  const python = env || path.join(TORCH2_VENV, 'bin', 'python');
  try {
    fs.accessSync(python, fs.constants.X_OK);
  } catch {
    return {
      skip: env
        ? `MEMOPLAN_TORCH2_PYTHON=${env} is not an executable`
        : `no torch 2.x environment at ${TORCH2_VENV}: run \`npm test\` (its setup makes it) or \`MEMOPLAN_TORCH2_VENV=1 bash scripts/setup.sh\``,
    };
  }
  return { python };
}
