import { spawn } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../main/paths';

export const BIN = path.join(PACKAGE_ROOT, 'bin', 'memoplan.js');
export const NATIVE = path.join(PACKAGE_ROOT, 'build', 'native');
export const WORKLOAD = path.join(PACKAGE_ROOT, 'resources', 'workloads', 'torchvision_infer.py');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `memoplan` CLI as a separate process. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A clear one-line error: "memoplan: ..." on stderr, and no stack trace. */
export function isOneLineError(stderr: string): boolean {
  const lines = stderr.trim().split('\n');
  return lines.length === 1 && lines[0].startsWith('memoplan: ') && !/\n\s+at /.test(stderr);
}
