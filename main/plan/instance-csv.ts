/**
 * Instance files in MiniMalloc's benchmark format: a header line, then one buffer per row.
 *   id,lower,upper,size[,alignment][,offset]   lower inclusive, upper exclusive
 *   buffer,start,end,size[,alignment][,offset] older files: end inclusive (1 is added)
 * Solutions are written as `id,lower,upper,size,offset`. Every error names the line.
 */
import { readFileSync } from 'node:fs';
import type { Buffer } from './types';

export interface Instance {
  buffers: Buffer[];
  /** Offsets when the file has an `offset` column (a solution file). */
  offsets?: number[];
}

const INT = /^-?\d+$/;

export function parseInstanceCsv(text: string, source = 'instance'): Instance {
  const lines = text.split(/\r?\n/);
  let h = 0;
  while (h < lines.length && lines[h].trim() === '') h++;
  if (h === lines.length) throw new Error(`${source}: empty file, expected a header line 'id,lower,upper,size'`);
  const header = lines[h].split(',').map((c) => c.trim().toLowerCase());
  const col = (name: string): number => header.indexOf(name);
  let idC = col('id');
  let loC = col('lower');
  let hiC = col('upper');
  let inclusive = false;
  if (idC < 0 && col('buffer') >= 0 && col('start') >= 0 && col('end') >= 0) {
    idC = col('buffer');
    loC = col('start');
    hiC = col('end');
    inclusive = true;
  }
  const sizeC = col('size');
  if (idC < 0 || loC < 0 || hiC < 0 || sizeC < 0) {
    throw new Error(
      `${source}:${h + 1}: header must name the columns id,lower,upper,size (or buffer,start,end,size), got '${lines[h].trim()}'`,
    );
  }
  const alignC = col('alignment') >= 0 ? col('alignment') : col('align');
  const offC = col('offset');
  const buffers: Buffer[] = [];
  const offsets: number[] = [];
  const seen = new Map<string, number>();
  for (let k = h + 1; k < lines.length; k++) {
    const line = lines[k].trim();
    if (line === '') continue;
    const where = `${source}:${k + 1}`;
    const f = line.split(',').map((c) => c.trim());
    if (f.length < header.length) {
      throw new Error(`${where}: expected ${header.length} fields (${header.join(',')}), got ${f.length}: '${line}'`);
    }
    const int = (c: number, name: string): number => {
      const s = f[c];
      if (s === '') throw new Error(`${where}: missing ${name}`);
      const v = Number(s);
      if (!INT.test(s) || !Number.isSafeInteger(v)) throw new Error(`${where}: ${name} must be an integer, got '${s}'`);
      return v;
    };
    const id = f[idC];
    if (id === '') throw new Error(`${where}: missing id`);
    const prev = seen.get(id);
    if (prev !== undefined) throw new Error(`${where}: duplicate id '${id}' (first on line ${prev})`);
    seen.set(id, k + 1);
    const lower = int(loC, 'lower');
    const upper = int(hiC, 'upper') + (inclusive ? 1 : 0);
    const size = int(sizeC, 'size');
    if (lower < 0) throw new Error(`${where}: lower must be >= 0, got ${lower}`);
    if (upper <= lower) throw new Error(`${where}: upper (${upper}) must be greater than lower (${lower})`);
    if (size < 0) throw new Error(`${where}: size must be >= 0, got ${size}`);
    const b: Buffer = { id, start: lower, end: upper, size };
    if (alignC >= 0) {
      const a = int(alignC, 'alignment');
      if (a <= 0 || !Number.isInteger(Math.log2(a))) throw new Error(`${where}: alignment must be a power of two, got ${a}`);
      b.align = a;
    }
    if (offC >= 0) {
      const o = int(offC, 'offset');
      if (o < 0) throw new Error(`${where}: offset must be >= 0, got ${o}`);
      offsets.push(o);
    }
    buffers.push(b);
  }
  return offC >= 0 ? { buffers, offsets } : { buffers };
}

export function readInstanceCsv(path: string): Instance {
  return parseInstanceCsv(readFileSync(path, 'utf8'), path);
}

/** The capacity MiniMalloc's file names carry (`A.1048576.csv`), or undefined. */
export function capacityFromName(path: string): number | undefined {
  const m = /\.(\d+)\.csv$/i.exec(path);
  return m ? Number(m[1]) : undefined;
}

function alignCol(buffers: readonly Buffer[]): boolean {
  return buffers.some((b) => (b.align ?? 1) !== 1);
}

export function writeInstanceCsv(buffers: readonly Buffer[]): string {
  const a = alignCol(buffers);
  const rows = [a ? 'id,lower,upper,size,alignment' : 'id,lower,upper,size'];
  for (const b of buffers) rows.push(`${b.id},${b.start},${b.end},${b.size}` + (a ? `,${b.align ?? 1}` : ''));
  return rows.join('\n') + '\n';
}

export function writeOffsetsCsv(buffers: readonly Buffer[], offsets: ArrayLike<number>): string {
  if (offsets.length !== buffers.length) throw new Error(`${offsets.length} offsets for ${buffers.length} buffers`);
  const a = alignCol(buffers);
  const rows = [a ? 'id,lower,upper,size,alignment,offset' : 'id,lower,upper,size,offset'];
  buffers.forEach((b, i) => rows.push(`${b.id},${b.start},${b.end},${b.size}` + (a ? `,${b.align ?? 1}` : '') + `,${offsets[i]}`));
  return rows.join('\n') + '\n';
}
