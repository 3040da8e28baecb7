import fs from 'node:fs';
import os from 'node:os';

/** What the machine is, stored with every session so that numbers keep their context. */
export interface HostInfo {
  cpu: string;
  cores: number;
  memory_bytes: number;
  kernel: string;
  hostname: string;
  platform: string;
}

export function hostInfo(): HostInfo {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /model name\s*:\s*(.+)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    /* not Linux */
  }
  return {
    cpu,
    cores: os.cpus().length,
    memory_bytes: os.totalmem(),
    kernel: os.release(),
    hostname: os.hostname(),
    platform: `${os.platform()}-${os.arch()}`,
  };
}
