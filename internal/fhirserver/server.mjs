#!/usr/bin/env node
// fhirsync FHIR R4 test server. See README.md.
//
//   node internal/fhirserver/server.mjs --port 0
//
// prints "listening http://127.0.0.1:PORT/fhir" on stdout when ready.

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { BASE_PATH, DEFAULTS, createTestServer } from './lib/server.mjs';

const usage = `usage: node server.mjs [flags]
  --port N                                  port on 127.0.0.1 (0 = a free port; default 0)
  --refuse-client-ids                       emulate Medplum: PUT of an unknown id is 404, ids must be UUIDs,
                                            conditional update with a body id and no match is 400
  --version-ids sequential|uuid             versionId style (default sequential: "1", "2", ...)
  --max-transaction-entries N               default ${DEFAULTS.maxTransactionEntries} (0 = unlimited)
  --max-conditional-transaction-entries N   default ${DEFAULTS.maxConditionalTransactionEntries} (0 = unlimited)
  --max-batch-entries N                     default unlimited
  --cap-status 400|413                      HTTP status for an over-cap bundle (default ${DEFAULTS.capStatus})
  --max-body-bytes N                        default ${DEFAULTS.maxBodyBytes}
  --no-validate                             store writes without validating them
  --no-stdin-watch                          do not exit when stdin (a pipe) closes
  --verbose                                 log each request to stderr`;

let args;
try {
  args = parseArgs({
    options: {
      port: { type: 'string' },
      'refuse-client-ids': { type: 'boolean' },
      'version-ids': { type: 'string' },
      'max-transaction-entries': { type: 'string' },
      'max-conditional-transaction-entries': { type: 'string' },
      'max-batch-entries': { type: 'string' },
      'cap-status': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'no-validate': { type: 'boolean' },
      'no-stdin-watch': { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (err) {
  process.stderr.write(`${err.message}\n${usage}\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(usage + '\n');
  process.exit(0);
}

function intFlag(name, def) {
  const v = args[name];
  if (v === undefined) {
    return def;
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`--${name}: want a non-negative integer, got ${v}\n`);
    process.exit(2);
  }
  return n;
}

const versionIds = args['version-ids'] ?? DEFAULTS.versionIds;
if (versionIds !== 'sequential' && versionIds !== 'uuid') {
  process.stderr.write(`--version-ids: want sequential or uuid, got ${versionIds}\n`);
  process.exit(2);
}
const capStatus = intFlag('cap-status', DEFAULTS.capStatus);
if (capStatus !== 400 && capStatus !== 413) {
  process.stderr.write(`--cap-status: want 400 or 413, got ${capStatus}\n`);
  process.exit(2);
}

const { server } = createTestServer({
  port: intFlag('port', 0),
  refuseClientIds: Boolean(args['refuse-client-ids']),
  versionIds,
  maxTransactionEntries: intFlag('max-transaction-entries', DEFAULTS.maxTransactionEntries),
  maxConditionalTransactionEntries: intFlag('max-conditional-transaction-entries', DEFAULTS.maxConditionalTransactionEntries),
  maxBatchEntries: intFlag('max-batch-entries', DEFAULTS.maxBatchEntries),
  capStatus,
  maxBodyBytes: intFlag('max-body-bytes', DEFAULTS.maxBodyBytes),
  validate: !args['no-validate'],
  verbose: Boolean(args.verbose),
});

let closing = false;
function shutdown(code) {
  if (closing) {
    return;
  }
  closing = true;
  server.close(() => process.exit(code));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(code), 2000).unref();
}

process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));

// A parent that started us with a pipe on stdin (the Go test helper does)
// closes it when it exits, even when it crashes: then we exit too.
if (!args['no-stdin-watch']) {
  let isPipe = false;
  try {
    const st = fs.fstatSync(0);
    isPipe = st.isFIFO() || st.isSocket();
  } catch {
    isPipe = false;
  }
  if (isPipe) {
    process.stdin.on('data', () => {});
    process.stdin.on('end', () => shutdown(0));
    process.stdin.on('close', () => shutdown(0));
    process.stdin.on('error', () => shutdown(0));
  }
}

server.on('error', (err) => {
  process.stderr.write(`fhirserver: ${err.message}\n`);
  process.exit(1);
});

server.listen(intFlag('port', 0), DEFAULTS.host, () => {
  const { port } = server.address();
  process.stdout.write(`listening http://${DEFAULTS.host}:${port}${BASE_PATH}\n`);
});
