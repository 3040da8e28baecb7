import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DB } from '../store/db';
import { UserError } from '../../shared/errors';
import type { ExportFile, ExportReply, ExportRequest } from '../../shared/api';
import { writeReport } from '../report/report';
import { exportSessionDatabase } from '../report/export-db';
import { ApiInputError } from './validate';
import { sessionExists } from '../store/sessions';
import { planSessionId } from '../store/plans';
import { abRunExists, hasAbTables } from '../store/ab-runs';

/**
 * The Export view: the offline HTML report (main/report) and a copy of the session as its own
 * database. The renderer never names a path:
 *   - desktop: main shows a save dialog per file (pickSavePath) and writes where the user chose;
 *   - `memoplan serve`: main writes into an `exports/` folder next to the database, under names
 *     it makes up, and hands out an unguessable download id per file; the page downloads it
 *     from /download/<id>?token=T (serve.ts), which serves only files registered here.
 */

export interface SaveDialog {
  (o: { title: string; defaultName: string; filters: { name: string; extensions: string[] }[] }): Promise<string | null>;
}

export interface Download {
  file: string;
  name: string;
  type: string;
}

const MAX_DOWNLOADS = 200;

export class Exports {
  private readonly downloads = new Map<string, Download>();

  constructor(private readonly o: { dbFile: () => string; db: () => DB; pickSavePath?: SaveDialog }) {}

  /** The folder `memoplan serve` writes exports to. */
  exportDir(): string {
    return path.join(path.dirname(this.o.dbFile()), 'exports');
  }

  download(id: string): Download | null {
    const d = this.downloads.get(id);
    if (!d || !fs.existsSync(d.file)) return null;
    return d;
  }

  private register(file: string, name: string, type: string): string {
    const id = crypto.randomBytes(18).toString('base64url');
    this.downloads.set(id, { file, name, type });
    while (this.downloads.size > MAX_DOWNLOADS) this.downloads.delete(this.downloads.keys().next().value!);
    return id;
  }

  private check(req: ExportRequest): void {
    if (!req.report && !req.database) throw new ApiInputError('export.run: choose the report, the database copy, or both');
    const db = this.o.db();
    if (!sessionExists(db, req.session)) throw new UserError(`no session ${req.session} in this database`);
    if (req.plan !== undefined) {
      const of = planSessionId(db, req.plan);
      if (of === undefined) throw new UserError(`no plan ${req.plan} in this database`);
      if (of !== req.session) throw new UserError(`plan ${req.plan} belongs to session ${of}, not to session ${req.session}`);
    }
    if (req.ab !== undefined && !hasAbTables(db)) {
      throw new UserError(`no A/B run ${req.ab}: this database has no A/B runs`);
    }
    if (req.ab !== undefined && !abRunExists(db, req.ab)) throw new UserError(`no A/B run ${req.ab} in this database`);
    if (!req.report && (req.plan !== undefined || req.ab !== undefined)) throw new ApiInputError('export.run: a plan or an A/B run only goes into the report');
  }

  async run(req: ExportRequest): Promise<ExportReply> {
    this.check(req);
    const dbFile = this.o.dbFile();
    const files: ExportFile[] = [];
    const cancelled: ExportReply['cancelled'] = [];
    const desktop = !!this.o.pickSavePath;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/Z$/, '');
    const reportName = `memoplan-session-${req.session}-report-${stamp}.html`;
    const dbName = `memoplan-session-${req.session}-${stamp}.db`;
    let dir: string | null = null;
    if (!desktop) {
      dir = this.exportDir();
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    }
    if (req.report) {
      const out = desktop
        ? await this.o.pickSavePath!({ title: 'Save the memoplan report', defaultName: `memoplan-session-${req.session}-report.html`, filters: [{ name: 'HTML', extensions: ['html'] }] })
        : path.join(dir!, reportName);
      if (out === null) cancelled.push('report');
      else {
        const r = writeReport({ dbFile, sessionId: req.session, planId: req.plan, abId: req.ab, out });
        files.push({
          kind: 'report', name: path.basename(r.out), bytes: r.bytes, path: desktop ? r.out : null,
          download: desktop ? null : this.register(r.out, path.basename(r.out), 'text/html; charset=utf-8'),
        });
      }
    }
    if (req.database) {
      const out = desktop
        ? await this.o.pickSavePath!({ title: 'Save the session as a database', defaultName: `memoplan-session-${req.session}.db`, filters: [{ name: 'memoplan database', extensions: ['db'] }] })
        : path.join(dir!, dbName);
      if (out === null) cancelled.push('database');
      else {
        // The save dialog asked before replacing a file; over HTTP the name is new.
        const r = exportSessionDatabase({ dbFile, sessionId: req.session, out, force: desktop });
        files.push({
          kind: 'database', name: path.basename(r.out), bytes: r.bytes, path: desktop ? r.out : null,
          download: desktop ? null : this.register(r.out, path.basename(r.out), 'application/vnd.sqlite3'),
        });
      }
    }
    return { files, cancelled, exportDir: dir };
  }
}
