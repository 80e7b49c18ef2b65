#!/usr/bin/env node
// solc.js -- a native-solc-compatible front end for the npm `solc` package
// (solc-js), so that forge can compile offline (foundry.toml: solc = "solc.js").
//
// forge drives the compiler in two ways, and only those are supported:
//   solc.js --version
//       prints the two lines native solc prints; forge parses "Version: X".
//   solc.js [--base-path DIR] [--include-path DIR]... [--allow-paths ...] --standard-json
//       reads Standard JSON input on stdin and writes Standard JSON output on
//       stdout. Imports not present in the input's "sources" are read from the
//       base path, then each include path, in that order (native solc's rule).
//       --allow-paths is accepted and ignored (this script reads only files
//       under the base and include paths anyway).
// Anything else exits with status 2. The solcjs CLI is not used because it
// prints a non-JSON line before its output.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', 'node_modules', 'solc'));

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write('solc, the solidity compiler commandline interface\n' +
                       'Version: ' + solc.version() + '\n');
  process.exit(0);
}

let basePath = process.cwd();
const includePaths = [];
let standardJson = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--standard-json') standardJson = true;
  else if (a === '--base-path') basePath = args[++i];
  else if (a === '--include-path') includePaths.push(args[++i]);
  else if (a === '--allow-paths') i++;
  else if (a.startsWith('--base-path=')) basePath = a.slice(12);
  else if (a.startsWith('--include-path=')) includePaths.push(a.slice(15));
  else if (a.startsWith('--allow-paths=')) { /* ignored */ }
  else {
    process.stderr.write('solc.js: unsupported argument ' + a + '\n');
    process.exit(2);
  }
}
if (!standardJson) {
  process.stderr.write('solc.js: only --version and --standard-json are supported\n');
  process.exit(2);
}

function findImport(p) {
  const roots = [basePath, ...includePaths];
  for (const r of roots) {
    const full = path.isAbsolute(p) ? p : path.join(r, p);
    try {
      return { contents: fs.readFileSync(full, 'utf8') };
    } catch (e) { /* try the next root */ }
    if (path.isAbsolute(p)) break;
  }
  return { error: 'File not found: ' + p };
}

const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImport }));
