import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../shared/errors';
import { agentDir, interposerPath } from '../paths';
import { looksLikePython, openFilesLimit, resolvePython, type PythonInfo } from './python';
import { ENV } from '../../shared/env-vars';

/**
 * Turns what the user typed after `--` into the argv and environment of a traced target:
 * a Python interpreter that imports torch, the interposer preloaded, the agent on PYTHONPATH.
 * Every check that can fail runs here, before a session row exists.
 */

export interface LaunchPlan {
  argv: string[];
  env: NodeJS.ProcessEnv;
  python: PythonInfo | null;
  notes: string[];
}

export interface LaunchOptions {
  command: string[];
  /** --python flag; MEMOPLAN_PYTHON is read when this is null. */
  python: string | null;
  traceDir: string;
  env?: NodeJS.ProcessEnv;
  cwd: string;
}

export function resolveExecutable(cmd: string, cwd: string, env: NodeJS.ProcessEnv): string {
  const isExec = (p: string) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) {
    const p = path.resolve(cwd, cmd);
    if (!fs.existsSync(p)) throw new UserError(`command not found: ${cmd}`);
    if (!isExec(p)) throw new UserError(`not an executable file: ${cmd}`);
    return p;
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExec(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  throw new UserError(`command not found: ${cmd}`);
}

/** Below this many open files memoplan cannot run a recording (its database, the ingester's pipes, Node's own). */
export const MIN_OPEN_FILES = 64;

export function planLaunch(o: LaunchOptions): LaunchPlan {
  if (o.command.length === 0) throw new UserError('no command given: memoplan record [options] -- CMD ARGS...');
  const files = openFilesLimit();
  if (files !== null && files < MIN_OPEN_FILES) {
    throw new UserError(`the open-files limit (ulimit -n) is ${files}: a recording needs at least ${MIN_OPEN_FILES} (the database, the trace ingester, the target's files); raise it`);
  }
  const baseEnv = o.env ?? process.env;
  const lib = interposerPath();
  if (!fs.existsSync(lib)) throw new UserError(`interposer not built (${lib} missing): run npm run build`);
  const notes: string[] = [];
  let argv = [...o.command];
  let python: PythonInfo | null = null;
  const explicit = o.python ?? baseEnv[ENV.PYTHON] ?? null;
  if (argv[0].endsWith('.py')) {
    const script = path.resolve(o.cwd, argv[0]);
    if (!fs.existsSync(script)) throw new UserError(`script not found: ${argv[0]}`);
    argv = ['python3', ...argv];
  }
  if (looksLikePython(argv[0])) {
    const r = resolvePython(argv[0], explicit);
    python = r.info;
    if (r.note) notes.push(r.note);
    argv[0] = r.info.executable;
  } else {
    argv[0] = resolveExecutable(argv[0], o.cwd, baseEnv);
  }
  const env: NodeJS.ProcessEnv = { ...baseEnv };
  env.LD_PRELOAD = [lib, baseEnv.LD_PRELOAD].filter(Boolean).join(':');
  env[ENV.TRACE_DIR] = o.traceDir;
  env[ENV.AGENT] = '1';
  env.PYTHONPATH = [agentDir(), baseEnv.PYTHONPATH].filter(Boolean).join(path.delimiter);
  return { argv, env, python, notes };
}
