#!/usr/bin/env node
// The duo-sync ops CLI. Runs the compiled lib/cli/main.js after `npm run build`; in a checkout
// without a build it registers ts-node (transpile-only) and runs src/cli/main.ts.
'use strict';

const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const compiled = path.join(root, 'lib', 'cli', 'main.js');

function load() {
  if (existsSync(compiled)) return require(compiled);
  require('ts-node').register({ transpileOnly: true, project: path.join(root, 'tsconfig.json') });
  return require(path.join(root, 'src', 'cli', 'main.ts'));
}

load()
  .runCli(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`duo-sync: ${err && err.message ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
