import fs from 'node:fs';
import path from 'node:path';
import type { WorkloadForm } from '../../shared/api';
import { looksLikePython } from '../record/python';
import { ApiInputError } from './validate';

/**
 * The launch form's checks, shared by record.start, replay.live.start and ab.start: an absolute
 * working directory that exists, a .py script that exists, an interpreter that is a Python (a
 * name like python3 or a path to one) or '' (main finds one that imports torch).
 */

export interface CheckedWorkload {
  cwd: string;
  /** Absolute path of the script. */
  script: string;
  /** Absolute path or bare name of the interpreter; null = find one. */
  python: string | null;
  args: string[];
}

export function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function checkWorkload(method: string, req: WorkloadForm): CheckedWorkload {
  if (!path.isAbsolute(req.cwd)) throw new ApiInputError(`${method}: the working directory must be an absolute path`);
  const cwd = path.resolve(req.cwd);
  if (!isDir(cwd)) throw new ApiInputError(`${method}: working directory not found: ${req.cwd}`);
  const script = path.resolve(cwd, req.script);
  if (!script.endsWith('.py')) throw new ApiInputError(`${method}: the script must be a Python file (.py): ${req.script}`);
  if (!isFile(script)) throw new ApiInputError(`${method}: script not found: ${script}`);
  const interpreter = req.interpreter.trim();
  if (interpreter) {
    if (!looksLikePython(interpreter)) {
      throw new ApiInputError(`${method}: the interpreter must be a Python interpreter (python, python3, python3.11 or a path to one), got ${JSON.stringify(interpreter)}`);
    }
    if (interpreter.includes('/') && !isFile(path.resolve(cwd, interpreter))) throw new ApiInputError(`${method}: interpreter not found: ${interpreter}`);
  }
  const python = interpreter ? (interpreter.includes('/') ? path.resolve(cwd, interpreter) : interpreter) : null;
  return { cwd, script, python, args: req.args };
}

/** A recorded argv split back into the launch form: [python, script.py, args...] or [script.py, args...]. */
export function formFromCommand(command: string[], cwd: string): WorkloadForm {
  let i = 0;
  let interpreter = '';
  if (command.length && looksLikePython(command[0])) {
    interpreter = command[0];
    i = 1;
  }
  // python -u script.py ...: skip interpreter options before the script.
  while (i < command.length && command[i].startsWith('-') && !command[i].endsWith('.py')) i++;
  return { interpreter, script: command[i] ?? '', args: command.slice(i + 1), cwd };
}
