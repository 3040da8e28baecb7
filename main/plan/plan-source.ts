import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../shared/errors';
import type { DB } from '../store/db';
import { parsePlanSetArg, planFileFromDb, planSetFileFromDb } from './plan-export';
import { PlanFileError, readPlanAny, writePlanFile, writePlanSet } from './plan-file';

/**
 * What `--plan` names (memoplan replay, memoplan ab): a plan id of the database (ID), a plan set
 * of the database (set:ID), or a plan file of either version (a single plan or a set). Plans of
 * the database are written to a temporary file for the interposer; the caller removes tmpDir.
 */

export interface PlanSource {
  file: string;
  /** The single plan's id (a version-2 file's plan_id); null for a set or an undecodable file. */
  planId: number | null;
  /** The plan set's id (set:ID, or a version-3 file's set_id when not 0); null otherwise. */
  setId: number | null;
  /** Plans in the file (1 for a single plan); null when the file could not be decoded. */
  plans: number | null;
  /** Set when the file was written from the database into a temporary folder. */
  tmpDir: string | null;
  /** The plan file could not be decoded: passed on, the interposer refuses it. */
  invalid: string | null;
}

export function resolvePlanArg(db: DB, dbFile: string, arg: string, tmpPrefix = 'memoplan-plan-'): PlanSource {
  const setId = parsePlanSetArg(arg);
  if (setId !== null && !fs.existsSync(arg)) {
    const set = planSetFileFromDb(db, setId);
    const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
    const file = path.join(tmpDir, `set-${setId}.plan`);
    try {
      writePlanSet(file, set);
    } catch (err) {
      fs.rmSync(tmpDir, { recursive: true, force: true });
      throw err;
    }
    return { file, planId: null, setId, plans: set.plans.length, tmpDir, invalid: null };
  }
  if (/^\d+$/.test(arg) && !fs.existsSync(arg)) {
    const pf = planFileFromDb(db, Number(arg));
    const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
    const file = path.join(tmpDir, `plan-${pf.planId}.plan`);
    try {
      writePlanFile(file, pf);
    } catch (err) {
      fs.rmSync(tmpDir, { recursive: true, force: true });
      throw err;
    }
    return { file, planId: pf.planId, setId: null, plans: 1, tmpDir, invalid: null };
  }
  const file = path.resolve(arg);
  if (!fs.existsSync(file)) throw new UserError(`plan not found: ${arg} (neither a plan id or set:ID in ${dbFile} nor a file)`);
  try {
    const pf = readPlanAny(file);
    if (pf.version === 2) return { file, planId: pf.plans[0].plan.planId, setId: null, plans: 1, tmpDir: null, invalid: null };
    return { file, planId: null, setId: pf.setId || null, plans: pf.plans.length, tmpDir: null, invalid: null };
  } catch (err) {
    if (!(err instanceof PlanFileError)) throw err;
    return { file, planId: null, setId: null, plans: null, tmpDir: null, invalid: err.message };
  }
}
