#!/usr/bin/env node
// `npm run lint`, and the first step of `npm test`: ESLint over the repository with
// eslint.config.mjs (main/, shared/, renderer/, test/, bench/, scripts/). Any error or warning
// (an unused eslint-disable comment included) fails the run. Arguments: files or folders to
// lint instead of the whole repository.
'use strict';
const path = require('node:path');

const root = path.join(__dirname, '..');

async function main() {
  let ESLint;
  try {
    ({ ESLint } = require('eslint'));
  } catch {
    console.error('lint: eslint is not installed; run `npm run setup` (npm ci) first');
    return 2;
  }
  const started = Date.now();
  const eslint = new ESLint({ cwd: root });
  const targets = process.argv.slice(2);
  const results = await eslint.lintFiles(targets.length ? targets : ['.']);
  const errors = results.reduce((n, r) => n + r.errorCount + r.fatalErrorCount, 0);
  const warnings = results.reduce((n, r) => n + r.warningCount, 0);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (errors + warnings === 0) {
    console.log(`lint: ${results.length} files clean (${seconds} s)`);
    return 0;
  }
  const formatter = await eslint.loadFormatter('stylish');
  console.error(await formatter.format(results));
  console.error(`lint FAILED: ${errors} error(s) and ${warnings} warning(s) in ${results.filter((r) => r.messages.length).length} file(s).`);
  console.error('  Fix them, or where a rule does not fit the code, say why in eslint.config.mjs or in an');
  console.error('  eslint-disable-next-line comment. `npm run lint` runs the linter alone.');
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`lint: eslint could not run: ${err && err.stack ? err.stack : err}`);
    process.exit(2);
  },
);
