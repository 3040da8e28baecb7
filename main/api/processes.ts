import fs from 'node:fs';
import path from 'node:path';
import type { ProcessesReply, TorchProcess } from '../../shared/api';

/**
 * The local processes that have torch loaded, read from /proc: a process "has torch" when its
 * /proc/PID/maps lists a libtorch*.so or a torch/_C*.so. The Python version comes from a
 * libpython or python binary in the maps, else from /proc/PID/exe. Other users' processes
 * cannot be read (EACCES) and are only counted. The Attach view shows this list, and
 * attach.start accepts only a pid this list shows.
 */

export const SCAN_INTERVAL_MS = 2000;
/** How long the scanner keeps going after the last processes.list call. */
export const WATCH_MS = 30_000;

const TORCH_LIB = /\s(\/\S*\/(?:libtorch[\w.-]*\.so[\w.]*|torch\/_C[\w.-]*\.so))$/;
const LIBPYTHON = /\/libpython(\d+\.\d+)[\w.]*\.so/;
const PYTHON_BIN = /\/python(\d+\.\d+)$/;

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function pageSize(): number {
  return 4096;
}

/** One process, or null when it has no torch (or vanished, or cannot be read). */
export function inspectProcess(pid: number): TorchProcess | null | 'unreadable' {
  const dir = `/proc/${pid}`;
  let maps: string;
  try {
    maps = fs.readFileSync(`${dir}/maps`, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EACCES' || code === 'EPERM' ? 'unreadable' : null;
  }
  let torchLib: string | null = null;
  let pythonVersion: string | null = null;
  for (const line of maps.split('\n')) {
    if (!torchLib) {
      const m = TORCH_LIB.exec(line);
      if (m) torchLib = m[1];
    }
    if (!pythonVersion) {
      const p = LIBPYTHON.exec(line);
      if (p) pythonVersion = p[1];
      else {
        const file = line.slice(line.lastIndexOf(' ') + 1);
        const b = PYTHON_BIN.exec(file);
        if (b) pythonVersion = b[1];
      }
    }
    if (torchLib && pythonVersion) break;
  }
  if (!torchLib) return null;
  let exe: string | null = null;
  try {
    exe = fs.readlinkSync(`${dir}/exe`);
  } catch {
    /* gone or not ours */
  }
  if (!pythonVersion && exe) {
    const b = PYTHON_BIN.exec(exe.replace(/ \(deleted\)$/, ''));
    if (b) pythonVersion = b[1];
  }
  const cmdline = readText(`${dir}/cmdline`);
  const command = cmdline ? cmdline.split('\0').filter((x, i, a) => x !== '' || i < a.length - 1) : [];
  const statm = readText(`${dir}/statm`);
  const rssPages = statm ? Number(statm.split(' ')[1]) : 0;
  return { pid, command: command.length ? command : [exe ? path.basename(exe) : `pid ${pid}`], rssBytes: rssPages * pageSize(), pythonVersion, torchLib, exe };
}

export function scanProcesses(): ProcessesReply {
  const processes: TorchProcess[] = [];
  let unreadable = 0;
  let names: string[] = [];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    /* no /proc: an empty list */
  }
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const pid = Number(n);
    if (pid === process.pid) continue;
    const p = inspectProcess(pid);
    if (p === 'unreadable') unreadable++;
    else if (p) processes.push(p);
  }
  processes.sort((a, b) => a.pid - b.pid);
  return { scannedAt: Date.now(), processes, unreadable, intervalMs: SCAN_INTERVAL_MS };
}

/** Scans every 2 s while someone watches (a list call in the last WATCH_MS); pushes changes. */
export class ProcessWatcher {
  private last: ProcessesReply | null = null;
  private lastKey = '';
  private timer: ReturnType<typeof setInterval> | null = null;
  private watchedUntil = 0;

  constructor(private readonly onChange: (r: ProcessesReply) => void) {}

  list(): ProcessesReply {
    this.watchedUntil = Date.now() + WATCH_MS;
    if (!this.last || Date.now() - this.last.scannedAt > SCAN_INTERVAL_MS / 2) this.tick(false);
    if (!this.timer) {
      this.timer = setInterval(() => {
        if (Date.now() > this.watchedUntil) this.stop();
        else this.tick(true);
      }, SCAN_INTERVAL_MS);
      this.timer.unref();
    }
    return this.last!;
  }

  private tick(push: boolean): void {
    const r = scanProcesses();
    // RSS moves all the time: a change is a process coming or going, or RSS moving by 1 MiB.
    const key = r.processes.map((p) => `${p.pid}:${p.pythonVersion}:${Math.round(p.rssBytes / (1 << 20))}`).join(',') + `|${r.unreadable}`;
    this.last = r;
    if (key !== this.lastKey) {
      this.lastKey = key;
      if (push) this.onChange(r);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
