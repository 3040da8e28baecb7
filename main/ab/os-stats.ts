import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../paths';
import { ENV } from '../../shared/env-vars';

/**
 * What the kernel counted for one run, as reported by native/launcher/rusage_exec.c (fork,
 * execvp, wait4): the target's own wall time, peak RSS, page faults and context switches.
 */

export interface RunUsage {
  pid: number;
  exitCode: number | null;
  signal: number | null;
  coreDumped: boolean;
  /** errno of a failed execvp, else null. */
  execErrno: number | null;
  wallNs: number;
  utimeUs: number;
  stimeUs: number;
  peakRssBytes: number;
  minorFaults: number;
  majorFaults: number;
  voluntaryCs: number;
  involuntaryCs: number;
}

/** build/native/memoplan-rusage in a checkout; resources/native/ when packaged; MEMOPLAN_LAUNCHER overrides. */
export function launcherPath(): string {
  const override = process.env[ENV.LAUNCHER];
  if (override) return path.resolve(override);
  const rp = (process as { resourcesPath?: string }).resourcesPath;
  if (rp && fs.existsSync(path.join(rp, 'native', 'memoplan-rusage'))) return path.join(rp, 'native', 'memoplan-rusage');
  return path.join(PACKAGE_ROOT, 'build', 'native', 'memoplan-rusage');
}

/** Reads the launcher's JSON; null when it is missing or malformed (the launcher itself failed). */
export function readUsage(file: string): RunUsage | null {
  let j: Record<string, number | null>;
  try {
    j = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
  if (typeof j.pid !== 'number' || typeof j.wall_ns !== 'number') return null;
  const n = (k: string) => (typeof j[k] === 'number' ? (j[k] as number) : 0);
  return {
    pid: j.pid,
    exitCode: typeof j.exit_code === 'number' ? j.exit_code : null,
    signal: typeof j.signal === 'number' ? j.signal : null,
    coreDumped: j.core_dumped === 1,
    execErrno: typeof j.exec_errno === 'number' ? j.exec_errno : null,
    wallNs: n('wall_ns'),
    utimeUs: n('utime_us'),
    stimeUs: n('stime_us'),
    peakRssBytes: n('maxrss_kb') * 1024, // Linux reports ru_maxrss in KiB
    minorFaults: n('minflt'),
    majorFaults: n('majflt'),
    voluntaryCs: n('nvcsw'),
    involuntaryCs: n('nivcsw'),
  };
}

/** "SIGSEGV" for 11. */
export function signalName(sig: number): string {
  const e = Object.entries(os.constants.signals).find(([, v]) => v === sig);
  return e ? e[0] : `signal ${sig}`;
}

/** "ENOENT" for 2. */
export function errnoName(errno: number): string {
  const e = Object.entries(os.constants.errno).find(([, v]) => v === errno);
  return e ? e[0] : `errno ${errno}`;
}
