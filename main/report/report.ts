import fs from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../store/db';
import { PACKAGE_ROOT } from '../paths';
import { UserError } from '../../shared/errors';
import { loadReportData, type ReportOptions } from './data';
import { renderReport } from './render';

/**
 * `memoplan report` and the app's Export step: one self-contained HTML file for a session
 * (its plans, replays of those plans, and optionally an A/B run).
 */

export interface WriteReportOptions extends ReportOptions {
  dbFile: string;
  out: string;
}

export interface WriteReportResult {
  out: string;
  bytes: number;
  /** Memory-map rectangles left out by the cap (0 when the whole plan is drawn). */
  mapOmitted: number;
}

export function memoplanVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function checkOutputPath(out: string): string {
  const abs = path.resolve(out);
  const dir = path.dirname(abs);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`output directory does not exist: ${dir}`);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) throw new UserError(`output path is a directory: ${out}`);
  return abs;
}

/** Builds the report HTML in memory. */
export function buildReportHtml(o: Omit<WriteReportOptions, 'out'>): { html: string; mapOmitted: number } {
  const db = openDatabase(o.dbFile, { create: false });
  try {
    const data = loadReportData(db, { ...o, version: o.version ?? memoplanVersion() });
    return { html: renderReport(data), mapOmitted: data.memoryMap?.omitted ?? 0 };
  } finally {
    db.close();
  }
}

/** Writes the report (replacing an existing file at `out`, through a temporary file). */
export function writeReport(o: WriteReportOptions): WriteReportResult {
  const out = checkOutputPath(o.out);
  const { html, mapOmitted } = buildReportHtml(o);
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.partial-${process.pid}`);
  try {
    fs.writeFileSync(tmp, html);
    fs.renameSync(tmp, out);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new UserError(`cannot write ${o.out}: ${(err as Error).message}`);
  }
  return { out, bytes: Buffer.byteLength(html), mapOmitted };
}
