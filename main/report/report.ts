import fs from 'node:fs';
import path from 'node:path';
import { openDatabaseForReading } from '../store/db';
import { PACKAGE_ROOT } from '../paths';
import { checkOutputFile, databaseFiles, writeFileAtomic } from '../fs/files';
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

/** The report's path, checked before any work: never one of the inputs (the database). */
export function checkOutputPath(out: string, dbFile?: string): string {
  return checkOutputFile(out, { what: 'report', option: '--out', inputs: dbFile ? databaseFiles(dbFile) : [] });
}

/** Builds the report HTML in memory. */
export function buildReportHtml(o: Omit<WriteReportOptions, 'out'>): { html: string; mapOmitted: number } {
  const db = openDatabaseForReading(o.dbFile);
  try {
    const data = loadReportData(db, { ...o, version: o.version ?? memoplanVersion() });
    return { html: renderReport(data), mapOmitted: data.memoryMap ? data.memoryMap.total - data.memoryMap.shown : 0 };
  } finally {
    db.close();
  }
}

/** Writes the report (replacing an existing file at `out`, through a temporary file). */
export function writeReport(o: WriteReportOptions): WriteReportResult {
  const out = checkOutputPath(o.out, o.dbFile);
  const { html, mapOmitted } = buildReportHtml(o);
  // Checked again: the database could have been renamed onto that path meanwhile.
  checkOutputPath(o.out, o.dbFile);
  writeFileAtomic(out, html, 'report');
  return { out, bytes: Buffer.byteLength(html), mapOmitted };
}
