#!/usr/bin/env node
// Validates FHIR R4 JSON (a resource, or a Bundle whose entries are each
// reported) or NDJSON with the same checks as the test server's writes.
//
//   node internal/fhirserver/validate.mjs [-w] FILE...   ("-" reads stdin)
//
// Prints one line per error, "file:line: ResourceType/id: path: message"
// (ResourceType alone when the resource has no id), and exits 1 if there was
// any error, 2 on a usage or I/O error, 0 otherwise. -w also prints warnings.

import fs from 'node:fs';
import { formatProblem, isError, loadDefinitions, validateText } from './lib/validation.mjs';

const argv = process.argv.slice(2);
let warnings = false;
const files = [];
for (const a of argv) {
  if (a === '-w' || a === '--warnings') {
    warnings = true;
  } else if (a === '-h' || a === '--help') {
    process.stdout.write('usage: node validate.mjs [-w] FILE... ("-" = stdin)\n');
    process.exit(0);
  } else {
    files.push(a);
  }
}
if (!files.length) {
  process.stderr.write('usage: node validate.mjs [-w] FILE... ("-" = stdin)\n');
  process.exit(2);
}

loadDefinitions();
let errors = 0;
let ioError = false;
for (const file of files) {
  let text;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    process.stderr.write(`${file}: ${err.message}\n`);
    ioError = true;
    continue;
  }
  const name = file === '-' ? '<stdin>' : file;
  for (const p of validateText(text)) {
    if (isError({ severity: p.severity })) {
      errors++;
      process.stdout.write(formatProblem(name, p) + '\n');
    } else if (warnings) {
      process.stdout.write(`${formatProblem(name, p)} (${p.severity})\n`);
    }
  }
}
process.exitCode = ioError ? 2 : errors ? 1 : 0;
