import fs from 'node:fs';
import { columnsToInstance, InstanceParser, type Instance, type InstanceColumns } from './instance-csv';

/** Instance files read from disk (instance-csv.ts parses; this file does the I/O, so the planners stay pure). */

/** Reads an instance file a megabyte at a time, as columns. */
export function readInstanceColumns(path: string): InstanceColumns {
  const parser = new InstanceParser(path);
  const fd = fs.openSync(path, 'r');
  try {
    const chunk = new Uint8Array(1 << 20);
    for (;;) {
      const got = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (got === 0) break;
      parser.push(chunk.subarray(0, got));
    }
  } finally {
    fs.closeSync(fd);
  }
  return parser.end();
}

export function readInstanceCsv(path: string): Instance {
  return columnsToInstance(readInstanceColumns(path));
}
