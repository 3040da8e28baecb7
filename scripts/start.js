#!/usr/bin/env node
// `npm start`: the Electron app where its binary is installed; otherwise the same UI served on
// 127.0.0.1 (memoplan serve), with a note saying why.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const root = path.join(__dirname, '..');
let electron = null;
try {
  electron = require('electron'); // the path of the binary, when it was downloaded
  if (typeof electron !== 'string' || !fs.existsSync(electron)) electron = null;
} catch {
  electron = null;
}
const hasDisplay = !!(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
if (electron && hasDisplay) {
  const child = spawn(electron, [path.join(root, 'dist', 'main', 'app.js')], { stdio: 'inherit' });
  child.on('close', (code) => process.exit(code ?? 1));
} else {
  console.error(
    electron
      ? 'memoplan: no display found; serving the UI on 127.0.0.1 instead (open the URL below in a browser)'
      : 'memoplan: the Electron binary is not installed (its download was skipped); serving the UI on 127.0.0.1 instead (open the URL below in a browser)',
  );
  const args = [path.join(root, 'bin', 'memoplan.js'), 'serve', ...process.argv.slice(2)];
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  child.on('close', (code) => process.exit(code ?? 1));
}
