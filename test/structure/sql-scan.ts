import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { sourceFiles } from './import-graph';

/**
 * Where the TypeScript sources touch SQLite themselves: a call of a connection's `prepare`,
 * `exec`, `pragma` or `transaction`, or a string that holds SQL. docs/ARCHITECTURE.md
 * ("Layers", rule **sql**): only main/store/ does; test/structure/layers.test.ts checks it.
 *
 * Textual, over the syntax tree (ts.createSourceFile), so comments never count:
 * - `x.prepare(...)`, `x.pragma(...)`, `x.transaction(...)` whatever x is (no other object of
 *   the code base has methods of these names);
 * - `x.exec(...)` where x names a connection (`db`, `o.db`, `this.db()`, `db2`, `src`, ...: its
 *   last name is or ends in db/database/src, any case), since RegExp has exec too;
 * - a string or template literal (a template's parts joined) holding an SQL statement: one of
 *   SQL_PATTERNS, keywords in capitals as the code base writes its SQL.
 */

export interface SqlFinding {
  /** Root-relative posix path of the file. */
  file: string;
  line: number;
  /** `.prepare()` and the like, or `SQL` for a literal. */
  kind: string;
  /** The code or the literal, shortened. */
  text: string;
}

export const SQL_PATTERNS: readonly RegExp[] = [
  /\bSELECT\b[\s\S]*\bFROM\b/,
  /\bINSERT\s+(OR\s+\w+\s+)?INTO\b/,
  /\bUPDATE\s+[\w."]+\s+SET\b/,
  /\bDELETE\s+FROM\b/,
  /\bPRAGMA\s+[\w.]/,
  /\b(ATTACH|DETACH)\s+DATABASE\b/,
  /\b(CREATE|DROP|ALTER)\s+(TABLE|INDEX|VIEW|TRIGGER)\b/,
  /\bBEGIN\s+(IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION)\b/,
  /\bVACUUM\b/,
];

const ALWAYS = new Set(['prepare', 'pragma', 'transaction']);
const CONNECTION = /(db|database|src)\d*$/i;

/** The last name of an expression: `o.db` -> db, `this.db()` -> db, `db2` -> db2. */
function lastName(e: ts.Expression): string {
  if (ts.isCallExpression(e)) return lastName(e.expression);
  if (ts.isPropertyAccessExpression(e)) return e.name.text;
  if (ts.isIdentifier(e)) return e.text;
  if (ts.isParenthesizedExpression(e)) return lastName(e.expression);
  if (ts.isNonNullExpression(e)) return lastName(e.expression);
  return '';
}

const short = (s: string) => {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? one.slice(0, 77) + '...' : one;
};

export function isSql(text: string): boolean {
  return SQL_PATTERNS.some((p) => p.test(text));
}

/** The findings of one source text. */
export function sqlIn(file: string, text: string): SqlFinding[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: SqlFinding[] = [];
  const at = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression)) {
      const m = n.expression.name.text;
      if (ALWAYS.has(m) || (m === 'exec' && CONNECTION.test(lastName(n.expression.expression)))) {
        out.push({ file, line: at(n), kind: `.${m}()`, text: short(n.getText(sf)) });
      }
    }
    let literal: string | null = null;
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) literal = n.text;
    else if (ts.isTemplateExpression(n)) literal = [n.head.text, ...n.templateSpans.map((s) => s.literal.text)].join(' ? ');
    if (literal !== null && isSql(literal)) out.push({ file, line: at(n), kind: 'SQL', text: short(literal) });
    // A template's parts are visited as the whole above, not again one by one.
    if (!ts.isTemplateExpression(n)) ts.forEachChild(n, visit);
    else for (const s of n.templateSpans) visit(s.expression);
  };
  visit(sf);
  return out;
}

/** The findings in every .ts file under tops of root. */
export function sqlFindings(root: string, tops: readonly string[]): SqlFinding[] {
  return sourceFiles(root, tops).flatMap((f) => sqlIn(f, fs.readFileSync(path.join(root, f), 'utf8')));
}
