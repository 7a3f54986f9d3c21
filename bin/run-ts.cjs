#!/usr/bin/env node
// Runs a TypeScript entry point through tsx's CommonJS loader: node bin/run-ts.cjs FILE.ts [args...]
require('./register-ts.cjs');
const path = require('node:path');
const [entry, ...rest] = process.argv.slice(2);
if (!entry) {
  console.error('usage: run-ts.cjs FILE.ts [args...]');
  process.exit(2);
}
process.argv = [process.argv[0], entry, ...rest];
require(path.resolve(entry));
