import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../shared/errors';

/**
 * The checks every command makes on the files it reads and writes (issue 17):
 *   - an output is checked before any work is done or stored: its folder exists, it is not a
 *     directory or a device, and it is none of the command's inputs, whatever the spelling
 *     (symlinks, ./, hard links: compared by st_dev/st_ino);
 *   - an output is written under a temporary name beside it and renamed at the end, and the
 *     temporary file is removed when writing fails;
 *   - an input read in full must be a regular file under a size limit (so /dev/zero or a FIFO
 *     is refused instead of read without end).
 */

export interface FileIdentity {
  dev: number;
  ino: number;
}

/** The identity of the file a path names (symlinks followed), or null when there is none. */
export function fileIdentity(p: string): FileIdentity | null {
  try {
    const st = fs.statSync(p);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return null;
  }
}

/** Whether two paths name the same existing file (symlinks, ./ and hard links included). */
export function sameFile(a: string, b: string): boolean {
  const x = fileIdentity(a);
  const y = fileIdentity(b);
  return x !== null && y !== null && x.dev === y.dev && x.ino === y.ino;
}

/** A database and the files SQLite keeps beside it: none of them may be written over. */
export function databaseFiles(dbFile: string): string[] {
  return [dbFile, `${dbFile}-wal`, `${dbFile}-shm`, `${dbFile}-journal`];
}

export interface OutputCheck {
  /** What it is, for messages: 'plan file', 'report', ... */
  what: string;
  /** The files the command reads (a database: pass databaseFiles(db)). */
  inputs?: string[];
  /** What the inputs are, for messages (default 'database'). */
  inputWhat?: string;
  /** false: an existing file is refused (export without --force). Default true. */
  replace?: boolean;
  /** The option that named it (for messages), e.g. '--out'. */
  option?: string;
}

/**
 * Checks an output path before the command does its work; returns it absolute. Throws a
 * UserError naming the path and what is wrong.
 */
export function checkOutputFile(out: string, c: OutputCheck): string {
  const opt = c.option ? `${c.option} ` : '';
  if (out === '') throw new UserError(`${opt}is empty: give a file name for the ${c.what}`);
  if (out.includes('\0')) throw new UserError(`${opt}contains a NUL character`);
  const abs = path.resolve(out);
  const dir = path.dirname(abs);
  let dst: fs.Stats;
  try {
    dst = fs.statSync(dir);
  } catch {
    throw new UserError(`${opt}${out}: output directory does not exist: ${dir}`);
  }
  if (!dst.isDirectory()) throw new UserError(`${opt}${out}: output directory does not exist: ${dir} is not a folder`);
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${opt}${out}: cannot write in ${dir} (${code === 'EROFS' ? 'read-only file system' : 'permission denied'})`);
  }
  let st: fs.Stats | null = null;
  try {
    st = fs.statSync(abs);
  } catch {
    st = null; // absent (or a dangling symlink, which the rename replaces)
  }
  if (st) {
    if (st.isDirectory()) throw new UserError(`${opt}${out} is a folder; give a file name for the ${c.what}`);
    if (!st.isFile()) throw new UserError(`${opt}${out} exists and is not a regular file; give another name for the ${c.what}`);
    for (const input of c.inputs ?? []) {
      if (sameFile(abs, input)) {
        const same = path.resolve(input) === abs ? '' : ` (the same file as ${input})`;
        throw new UserError(`${opt}${out} is the input ${c.inputWhat ?? 'database'}${same}; refusing to write over it`);
      }
    }
    if (c.replace === false) throw new UserError(`${out} already exists (use --force to overwrite it)`);
  }
  return abs;
}

/** Two outputs of one command must not be the same file. */
export function checkDistinctOutputs(a: { path: string; option: string }, b: { path: string; option: string }): void {
  if (path.resolve(a.path) === path.resolve(b.path) || sameFile(a.path, b.path)) {
    throw new UserError(`${a.option} and ${b.option} name the same file (${a.path})`);
  }
}

/** A temporary name beside `out` (same folder, so the final rename is atomic). */
export function tempBeside(out: string): string {
  const abs = path.resolve(out);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.partial-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

/**
 * Writes `data` to `out` through a temporary file beside it, renamed into place at the end;
 * on failure the temporary file is removed and a UserError says what happened (the disk is
 * full, the folder went away: the user's environment, not our bug).
 */
export function writeFileAtomic(out: string, data: string | Uint8Array, what: string): void {
  const tmp = tempBeside(out);
  try {
    const fd = fs.openSync(tmp, 'wx', 0o644);
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.resolve(out));
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new UserError(`cannot write the ${what} ${out}: ${describeFsError(err)}`);
  }
}

/** Default limit for an input read whole (plan files, instance CSVs). */
export const MAX_INPUT_BYTES = 1024 * 1024 * 1024;

/**
 * Reads an input file whole after checking that it is a regular file of at most `limit`
 * bytes. Reads exactly the size it stat'ed (a file that grows meanwhile is read up to then).
 */
export function readInputFile(file: string, what: string, limit = MAX_INPUT_BYTES): Buffer {
  if (file === '') throw new UserError(`the ${what} path is empty`);
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${what} not found: ${file}`);
    throw new UserError(`cannot read the ${what} ${file}: ${describeFsError(err)}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new UserError(`${file} is a folder, not a ${what}`);
    if (!st.isFile()) throw new UserError(`${file} is not a regular file (a device, FIFO or socket); a ${what} must be a file`);
    if (st.size > limit) throw new UserError(`${file} is ${st.size.toLocaleString('en-US')} bytes, more than a ${what} may be (${limit.toLocaleString('en-US')})`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = fs.readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return off === buf.length ? buf : buf.subarray(0, off);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot read the ${what} ${file}: ${describeFsError(err)}`);
  } finally {
    fs.closeSync(fd);
  }
}

export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EROFS':
      return 'read-only file system';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'the folder does not exist (any more)';
    case 'EISDIR':
      return 'it is a folder';
    case 'EFBIG':
      return 'file too large';
    case 'EIO':
      return 'input/output error';
    default:
      return e.message ?? String(err);
  }
}
