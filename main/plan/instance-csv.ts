/**
 * Instance files in MiniMalloc's benchmark format: a header line, then one buffer per row.
 *   id,lower,upper,size[,alignment][,offset]   lower inclusive, upper exclusive
 *   buffer,start,end,size[,alignment][,offset] older files: end inclusive (1 is added)
 * Solutions are written as `id,lower,upper,size,offset`. Every error names the line.
 *
 * Parsing is streaming and works on bytes: InstanceParser takes the file a chunk at a time,
 * splits lines and fields in place and reads the integers digit by digit into growable typed
 * arrays (InstanceColumns), so a million rows cost a few tens of bytes each, with no string per
 * line or field. Ids that are plain decimal integers are kept as numbers (a typed array, and an
 * open-addressing hash table to find duplicates); any other id switches the ids to strings.
 * parseInstanceCsv returns Buffer objects on top of it for small inputs. Pure: reading files is
 * instance-file.ts's (readInstanceColumns, readInstanceCsv).
 */
import type { Buffer } from './types';

const utf8 = new TextEncoder();

export interface Instance {
  buffers: Buffer[];
  /** Offsets when the file has an `offset` column (a solution file). */
  offsets?: number[];
}

/** An instance as columns: what the planners work on, without an object per buffer. */
export interface InstanceColumns {
  n: number;
  start: Float64Array;
  end: Float64Array;
  size: Float64Array;
  /** 1 where the file has no alignment column. */
  align: Float64Array;
  /** The file has an alignment column. */
  hasAlign: boolean;
  /** Buffer ids: numbers when every id is a plain decimal integer, else strings. */
  ids: ArrayLike<string | number>;
  /** Offsets when the file has an `offset` column (a solution file). */
  offsets?: Float64Array;
}

const CR = 13;
const LF = 10;
const COMMA = 44;
const MINUS = 45;
const isSpace = (b: number): boolean => b === 32 || (b >= 9 && b <= 13);

class Column {
  a = new Float64Array(1024);
  push(n: number, x: number): void {
    if (n === this.a.length) {
      const b = new Float64Array(n * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[n] = x;
  }
}

/** Streaming parser: push() chunks of the file in order, then end(). */
export class InstanceParser {
  private readonly decoder = new TextDecoder('utf-8');
  private tail: Uint8Array | null = null;
  private lineNo = 0;
  private header: string[] | null = null;
  private idC = -1;
  private loC = -1;
  private hiC = -1;
  private sizeC = -1;
  private alignC = -1;
  private offC = -1;
  private inclusive = false;
  private n = 0;
  private readonly cStart = new Column();
  private readonly cEnd = new Column();
  private readonly cSize = new Column();
  private readonly align = new Column();
  private readonly offset = new Column();
  // Ids: numbers while every id is a plain integer (with a hash table of them), else strings.
  private idNum: Column | null = new Column();
  private idStr: string[] | null = null;
  private seenStr: Map<string, number> | null = null;
  private hKeys = new Float64Array(2048).fill(NaN);
  private hLines = new Int32Array(2048);
  private hCount = 0;
  // Field boundaries of the current line.
  private fs = new Int32Array(16);
  private fe = new Int32Array(16);

  constructor(private readonly source = 'instance') {}

  push(chunk: Uint8Array): void {
    let buf = chunk;
    if (this.tail) {
      buf = new Uint8Array(this.tail.length + chunk.length);
      buf.set(this.tail);
      buf.set(chunk, this.tail.length);
      this.tail = null;
    }
    let ls = 0;
    for (;;) {
      const nl = buf.indexOf(LF, ls);
      if (nl < 0) break;
      this.line(buf, ls, nl);
      ls = nl + 1;
    }
    if (ls < buf.length) this.tail = buf.slice(ls);
  }

  end(): InstanceColumns {
    if (this.tail) {
      const t = this.tail;
      this.tail = null;
      this.line(t, 0, t.length);
    }
    if (!this.header) throw new Error(`${this.source}: empty file, expected a header line 'id,lower,upper,size'`);
    const n = this.n;
    const cols: InstanceColumns = {
      n,
      start: this.cStart.a.slice(0, n),
      end: this.cEnd.a.slice(0, n),
      size: this.cSize.a.slice(0, n),
      align: this.alignC >= 0 ? this.align.a.slice(0, n) : new Float64Array(n).fill(1),
      hasAlign: this.alignC >= 0,
      ids: this.idNum ? this.idNum.a.slice(0, n) : this.idStr!,
    };
    if (this.offC >= 0) cols.offsets = this.offset.a.slice(0, n);
    return cols;
  }

  private text(buf: Uint8Array, a: number, b: number): string {
    return this.decoder.decode(buf.subarray(a, b));
  }

  /** One line: bytes [a, b) without its LF. */
  private line(buf: Uint8Array, a: number, b: number): void {
    this.lineNo++;
    if (b > a && buf[b - 1] === CR) b--;
    // Split into trimmed fields.
    let k = 0;
    let fs = this.fs;
    let fe = this.fe;
    let blank = true;
    let p = a;
    for (;;) {
      let q = p;
      while (q < b && buf[q] !== COMMA) q++;
      let s = p;
      let e = q;
      while (s < e && isSpace(buf[s])) s++;
      while (e > s && isSpace(buf[e - 1])) e--;
      if (e > s) blank = false;
      if (k === fs.length) {
        const f2 = new Int32Array(k * 2);
        f2.set(fs);
        fs = this.fs = f2;
        const e2 = new Int32Array(k * 2);
        e2.set(fe);
        fe = this.fe = e2;
      }
      fs[k] = s;
      fe[k++] = e;
      if (q >= b) break;
      if (q > a || k > 0) blank = false; // a comma makes the line non-blank
      p = q + 1;
    }
    if (blank) return;
    if (!this.header) {
      this.setHeader(this.text(buf, a, b));
      return;
    }
    const header = this.header;
    const where = `${this.source}:${this.lineNo}`;
    if (k < header.length) {
      const line = this.text(buf, a, b).trim();
      throw new Error(`${where}: expected ${header.length} fields (${header.join(',')}), got ${k}: '${line}'`);
    }
    const int = (c: number, name: string): number => {
      const s = fs[c];
      const e = fe[c];
      if (e === s) throw new Error(`${where}: missing ${name}`);
      let i = s;
      const neg = buf[i] === MINUS;
      if (neg) i++;
      let v = 0;
      let ok = i < e && e - i <= 16;
      for (; ok && i < e; i++) {
        const d = buf[i] - 48;
        if (d < 0 || d > 9) ok = false;
        else v = v * 10 + d;
      }
      if (!ok || !Number.isSafeInteger(v)) throw new Error(`${where}: ${name} must be an integer, got '${this.text(buf, s, e)}'`);
      return neg ? -v : v;
    };
    const n = this.n;
    // Id: a plain decimal integer (no sign, no leading zero) stays a number.
    const is = fs[this.idC];
    const ie = fe[this.idC];
    if (ie === is) throw new Error(`${where}: missing id`);
    let num = -1;
    if (this.idNum && ie - is <= 15 && (buf[is] !== 48 || ie - is === 1)) {
      num = 0;
      for (let i = is; i < ie; i++) {
        const d = buf[i] - 48;
        if (d < 0 || d > 9) {
          num = -1;
          break;
        }
        num = num * 10 + d;
      }
    }
    if (num >= 0 && this.idNum) {
      const prev = this.seenNum(num, this.lineNo);
      if (prev >= 0) throw new Error(`${where}: duplicate id '${num}' (first on line ${prev})`);
      this.idNum.push(n, num);
    } else {
      if (this.idNum) this.toStringIds();
      const id = this.text(buf, is, ie);
      const prev = this.seenStr!.get(id);
      if (prev !== undefined) throw new Error(`${where}: duplicate id '${id}' (first on line ${prev})`);
      this.seenStr!.set(id, this.lineNo);
      this.idStr!.push(id);
    }
    const lower = int(this.loC, 'lower');
    const upper = int(this.hiC, 'upper') + (this.inclusive ? 1 : 0);
    const size = int(this.sizeC, 'size');
    if (lower < 0) throw new Error(`${where}: lower must be >= 0, got ${lower}`);
    if (upper <= lower) throw new Error(`${where}: upper (${upper}) must be greater than lower (${lower})`);
    if (size < 0) throw new Error(`${where}: size must be >= 0, got ${size}`);
    if (this.alignC >= 0) {
      const al = int(this.alignC, 'alignment');
      if (al <= 0 || !Number.isInteger(Math.log2(al))) throw new Error(`${where}: alignment must be a power of two, got ${al}`);
      this.align.push(n, al);
    }
    if (this.offC >= 0) {
      const o = int(this.offC, 'offset');
      if (o < 0) throw new Error(`${where}: offset must be >= 0, got ${o}`);
      this.offset.push(n, o);
    }
    this.cStart.push(n, lower);
    this.cEnd.push(n, upper);
    this.cSize.push(n, size);
    this.n = n + 1;
  }

  private setHeader(line: string): void {
    const header = line.split(',').map((c) => c.trim().toLowerCase());
    const col = (name: string): number => header.indexOf(name);
    let idC = col('id');
    let loC = col('lower');
    let hiC = col('upper');
    if (idC < 0 && col('buffer') >= 0 && col('start') >= 0 && col('end') >= 0) {
      idC = col('buffer');
      loC = col('start');
      hiC = col('end');
      this.inclusive = true;
    }
    const sizeC = col('size');
    if (idC < 0 || loC < 0 || hiC < 0 || sizeC < 0) {
      throw new Error(
        `${this.source}:${this.lineNo}: header must name the columns id,lower,upper,size (or buffer,start,end,size), got '${line.trim()}'`,
      );
    }
    this.header = header;
    this.idC = idC;
    this.loC = loC;
    this.hiC = hiC;
    this.sizeC = sizeC;
    this.alignC = col('alignment') >= 0 ? col('alignment') : col('align');
    this.offC = col('offset');
  }

  /** The line a numeric id was first seen on, or -1 (and it is recorded). */
  private seenNum(id: number, line: number): number {
    if (2 * (this.hCount + 1) > this.hKeys.length) this.grow();
    const keys = this.hKeys;
    const mask = keys.length - 1;
    let h = hash(id) & mask;
    for (;;) {
      const k = keys[h];
      if (k !== k) {
        keys[h] = id;
        this.hLines[h] = line;
        this.hCount++;
        return -1;
      }
      if (k === id) return this.hLines[h];
      h = (h + 1) & mask;
    }
  }

  private grow(): void {
    const oldK = this.hKeys;
    const oldL = this.hLines;
    this.hKeys = new Float64Array(oldK.length * 2).fill(NaN);
    this.hLines = new Int32Array(oldK.length * 2);
    this.hCount = 0;
    for (let i = 0; i < oldK.length; i++) if (oldK[i] === oldK[i]) this.seenNum(oldK[i], oldL[i]);
  }

  /** A non-integer id: every id so far becomes a string. */
  private toStringIds(): void {
    const nums = this.idNum!;
    this.idStr = [];
    this.seenStr = new Map();
    for (let i = 0; i < this.n; i++) this.idStr.push(String(nums.a[i]));
    for (let h = 0; h < this.hKeys.length; h++) if (this.hKeys[h] === this.hKeys[h]) this.seenStr.set(String(this.hKeys[h]), this.hLines[h]);
    this.idNum = null;
    this.hKeys = new Float64Array(0);
    this.hLines = new Int32Array(0);
  }
}

function hash(x: number): number {
  let h = Math.imul((x >>> 0) ^ Math.floor(x / 4294967296), 0x9e3779b1);
  h ^= h >>> 15;
  return Math.imul(h, 0x85ebca6b) ^ (h >>> 13);
}

/** Parses a whole instance already in memory (bytes), as columns. */
export function parseInstanceColumns(bytes: Uint8Array, source = 'instance'): InstanceColumns {
  const parser = new InstanceParser(source);
  parser.push(bytes);
  return parser.end();
}

/** Buffer objects (ids as strings, as in the file) from columns. */
export function columnsToInstance(cols: InstanceColumns): Instance {
  const buffers: Buffer[] = [];
  for (let i = 0; i < cols.n; i++) {
    const b: Buffer = { id: String(cols.ids[i]), start: cols.start[i], end: cols.end[i], size: cols.size[i] };
    if (cols.hasAlign) b.align = cols.align[i];
    buffers.push(b);
  }
  return cols.offsets ? { buffers, offsets: Array.from(cols.offsets) } : { buffers };
}

export function parseInstanceCsv(text: string, source = 'instance'): Instance {
  return columnsToInstance(parseInstanceColumns(utf8.encode(text), source));
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

/** The offsets CSV of columns, built a block of rows at a time (bytes, no string per row kept). */
export function offsetsCsvBytes(cols: InstanceColumns, offsets: ArrayLike<number>): Uint8Array {
  if (offsets.length !== cols.n) throw new Error(`${offsets.length} offsets for ${cols.n} buffers`);
  let a = false;
  for (let i = 0; i < cols.n && !a; i++) if (cols.align[i] !== 1) a = true;
  const parts: Uint8Array[] = [utf8.encode(a ? 'id,lower,upper,size,alignment,offset\n' : 'id,lower,upper,size,offset\n')];
  let block = '';
  for (let i = 0; i < cols.n; i++) {
    block += `${cols.ids[i]},${cols.start[i]},${cols.end[i]},${cols.size[i]}` + (a ? `,${cols.align[i]}` : '') + `,${offsets[i]}\n`;
    if ((i & 4095) === 4095) {
      parts.push(utf8.encode(block));
      block = '';
    }
  }
  if (block) parts.push(utf8.encode(block));
  return concat(parts);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
