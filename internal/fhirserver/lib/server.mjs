// HTTP front end of the fhirsync FHIR R4 test server: plain node:http around
// Medplum's FhirRouter and the TestRepository, plus the admin and operation
// endpoints Medplum's router does not have ($reset, $validate, $translate,
// /metadata) and the transaction semantics its MemoryRepository lacks.

import http from 'node:http';
import zlib from 'node:zlib';
import {
  OperationOutcomeError,
  allOk,
  badRequest,
  deepClone,
  getResourceTypes,
  getStatus,
  isOperationOutcome,
  multipleMatches,
  normalizeOperationOutcome,
  parseSearchRequest,
  serverError,
} from '@medplum/core';
import { FhirRouter, processBatch } from '@medplum/fhir-router';
import { TestRepository, createdOutcome, outcomeError } from './repo.mjs';
import { toParameters, translate, translateParamsFromParameters, translateParamsFromQuery } from './translate.mjs';
import { formatProblem, isError, issue, loadDefinitions, parseFhirText, validateParsed } from './validation.mjs';

/** BASE_PATH is the path of the FHIR base URL on the server. */
export const BASE_PATH = '/fhir';

/** DEFAULTS are the server options used when a flag is not given. */
export const DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  refuseClientIds: false,
  versionIds: 'sequential',
  maxTransactionEntries: 50,
  maxConditionalTransactionEntries: 8,
  maxBatchEntries: 0,
  capStatus: 413,
  maxBodyBytes: 64 << 20,
  validate: true,
  verbose: false,
};

const SOFTWARE_VERSION = '1.0.0';
const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json-patch+json'];
const NDJSON_TYPES = ['application/fhir+ndjson', 'application/x-ndjson', 'application/ndjson'];

/** Explicit HTTP statuses for outcomes whose status getStatus cannot infer. */
const explicitStatus = new WeakMap();

function withStatus(status, outcome) {
  explicitStatus.set(outcome, status);
  return outcome;
}

function statusOf(outcome) {
  return explicitStatus.get(outcome) ?? getStatus(outcome);
}

function httpError(status, code, text, diagnostics) {
  const outcome = { resourceType: 'OperationOutcome', issue: [issue('error', code, text, undefined, diagnostics)] };
  return new OperationOutcomeError(withStatus(status, outcome));
}

function parseIfMatch(header) {
  if (header === undefined) {
    return undefined;
  }
  const v = String(header).trim();
  const m = /^(?:W\/)?"([^"]*)"$/.exec(v);
  return m ? m[1] : v;
}

function entryStatus(entry) {
  return parseInt(entry?.response?.status ?? '500', 10);
}

const REASONS = { 200: 'OK', 201: 'Created', 204: 'No Content', 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 410: 'Gone', 412: 'Precondition Failed', 422: 'Unprocessable Entity', 500: 'Internal Server Error' };

/**
 * createServer builds the router, repository and HTTP server for options
 * (see DEFAULTS). Call listen() on the result to start.
 */
export function createTestServer(userOptions = {}) {
  const options = { ...DEFAULTS, ...userOptions };
  loadDefinitions();
  const repo = new TestRepository({
    validate: options.validate,
    refuseClientIds: options.refuseClientIds,
    versionIds: options.versionIds,
  });
  const router = new FhirRouter();
  const startedAt = new Date().toISOString();

  // ---- route handlers replacing Medplum's ---------------------------------

  async function updateHandler(req, r) {
    const { resourceType, id } = req.params;
    const resource = req.body;
    if (!resource || typeof resource !== 'object' || Array.isArray(resource)) {
      return [badRequest('Missing resource body')];
    }
    if (resource.resourceType !== resourceType) {
      return [badRequest(`Incorrect resource type: expected ${resourceType}`, 'resourceType')];
    }
    if (resource.id !== id) {
      return [badRequest('Resource id in the body must equal the id in the URL', `${resourceType}.id`)];
    }
    const result = r.upsert(resource, { ifMatch: parseIfMatch(req.headers?.['if-match']) });
    return [result.created ? createdOutcome() : allOk, result.resource];
  }

  async function conditionalUpdateHandler(req, r, _router, routeOptions) {
    const { resourceType } = req.params;
    const resource = req.body;
    if (!resource || typeof resource !== 'object' || Array.isArray(resource)) {
      return [badRequest('Missing resource body')];
    }
    const search = parseSearchRequest(resourceType, req.query);
    const result = await r.conditionalUpdate(resource, search, {
      assignedId: Boolean(routeOptions?.batch),
      ifMatch: parseIfMatch(req.headers?.['if-match']),
    });
    return [result.outcome, result.resource];
  }

  async function deleteHandler(req, r) {
    const { resourceType, id } = req.params;
    await r.deleteResource(resourceType, id, { ifMatch: parseIfMatch(req.headers?.['if-match']) });
    return [allOk];
  }

  // A conditional delete honours If-Match like the plain one: it deletes the
  // one resource the search matches (none: nothing to do; several: 412).
  async function conditionalDeleteHandler(req, r) {
    const { resourceType } = req.params;
    const search = parseSearchRequest(resourceType, req.query);
    const matches = await r.searchResources({ ...search, count: 2, offset: 0, sortRules: undefined });
    if (matches.length > 1) {
      throw outcomeError('precondition-failed', 'multiple-matches', 'Conditional delete matched more than one resource');
    }
    if (matches.length === 1) {
      await r.deleteResource(resourceType, matches[0].id, { ifMatch: parseIfMatch(req.headers?.['if-match']) });
    }
    return [allOk];
  }

  async function historyHandler(req, r) {
    const { resourceType, id } = req.params;
    const one = (k) => {
      const v = req.query?.[k];
      return Array.isArray(v) ? v[v.length - 1] : v;
    };
    const count = one('_count') !== undefined ? parseInt(one('_count'), 10) : undefined;
    const offset = one('_offset') !== undefined ? parseInt(one('_offset'), 10) : undefined;
    const bundle = await r.readHistory(resourceType, id, { limit: count, offset, since: one('_since') });
    return [allOk, bundle];
  }

  async function bundleHandler(req, r) {
    const bundle = req.body;
    if (bundle?.resourceType !== 'Bundle') {
      return [badRequest('Not a bundle')];
    }
    if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
      return [badRequest(`Bundle.type must be batch or transaction, not ${bundle.type}`, 'Bundle.type')];
    }
    const entries = bundle.entry ?? [];
    if (!entries.length) {
      return [badRequest('Missing bundle entries', 'Bundle.entry')];
    }
    checkCaps(bundle);
    const transaction = bundle.type === 'transaction';
    const batchReq = { ...req, config: { ...(req.config ?? {}), transactions: false } };

    const run = async () => {
      const overrides = await preResolve(bundle, r, transaction);
      const result = await processBatch(batchReq, r, router, bundle);
      for (const [idx, outcome] of overrides) {
        result.entry[idx] = { response: { status: String(statusOf(outcome)), outcome } };
      }
      decorateBundleResponse(result);
      if (transaction) {
        const failed = [];
        result.entry.forEach((e, idx) => {
          if (entryStatus(e) >= 400) {
            failed.push(idx);
          }
        });
        if (failed.length) {
          throw new TransactionFailure(failed, result.entry);
        }
      }
      return result;
    };

    if (!transaction) {
      return [allOk, await run()];
    }
    try {
      return [allOk, await r.withTransaction(run)];
    } catch (err) {
      if (err instanceof TransactionFailure) {
        return [err.outcome()];
      }
      throw err;
    }
  }

  function checkCaps(bundle) {
    const entries = bundle.entry;
    const n = entries.length;
    const conditional = entries.some((e) => {
      const method = e?.request?.method;
      const url = e?.request?.url ?? '';
      return Boolean(e?.request?.ifNoneExist) || (['PUT', 'PATCH', 'DELETE'].includes(method) && url.includes('?'));
    });
    const fail = (limit, what) => {
      throw httpError(
        options.capStatus,
        'too-costly',
        `${what} has ${n} entries; this server allows at most ${limit}`,
        'split the bundle into smaller ones'
      );
    };
    if (bundle.type === 'transaction') {
      if (conditional && options.maxConditionalTransactionEntries > 0 && n > options.maxConditionalTransactionEntries) {
        fail(options.maxConditionalTransactionEntries, 'Transaction with conditional entries');
      }
      if (options.maxTransactionEntries > 0 && n > options.maxTransactionEntries) {
        fail(options.maxTransactionEntries, 'Transaction');
      }
    } else if (options.maxBatchEntries > 0 && n > options.maxBatchEntries) {
      fail(options.maxBatchEntries, 'Batch');
    }
  }

  /**
   * preResolve resolves conditional PUT entries before Medplum's batch
   * processor sees them, so that they follow FHIR (update-as-create with the
   * body's id when nothing matches, 412 when several match) and checks that a
   * transaction names each resource once. It returns entry-index → outcome for
   * entries that must fail without being executed.
   */
  async function preResolve(bundle, r, transaction) {
    const overrides = new Map();
    const seen = new Map();
    for (let i = 0; i < bundle.entry.length; i++) {
      const entry = bundle.entry[i];
      const method = entry?.request?.method;
      const url = entry?.request?.url;
      if (typeof url !== 'string' || !['PUT', 'PATCH', 'DELETE'].includes(method)) {
        continue;
      }
      let identity;
      if (url.includes('?')) {
        // The same condition twice in one transaction would name one resource twice.
        const condKey = `?${url}`;
        if (transaction && seen.has(condKey)) {
          throw new OperationOutcomeError(
            badRequest(`Bundle.entry[${seen.get(condKey)}] and Bundle.entry[${i}] have the same condition`, `Bundle.entry[${i}]`)
          );
        }
        seen.set(condKey, i);
        let matches;
        try {
          const search = parseSearchRequest(url);
          matches = await r.searchResources({ ...search, count: 2, offset: 0, sortRules: undefined });
        } catch (err) {
          overrides.set(i, normalizeOperationOutcome(err));
          continue;
        }
        if (matches.length > 1) {
          overrides.set(i, deepClone(multipleMatches));
          continue;
        }
        if (matches.length === 1) {
          identity = `${matches[0].resourceType}/${matches[0].id}`;
        } else if (method === 'PUT' && entry.resource?.id && !options.refuseClientIds) {
          const type = url.split('?')[0];
          const existing = r.types.get(type)?.get(entry.resource.id)?.current;
          if (existing) {
            overrides.set(
              i,
              withStatus(409, {
                resourceType: 'OperationOutcome',
                issue: [issue('error', 'conflict', `Resource ${type}/${entry.resource.id} exists but does not match the condition`)],
              })
            );
            continue;
          }
          entry.request.url = `${type}/${entry.resource.id}`;
          identity = entry.request.url;
        }
      } else {
        identity = url.split('/').filter(Boolean).slice(0, 2).join('/');
      }
      if (transaction && identity) {
        if (seen.has(identity)) {
          throw new OperationOutcomeError(
            badRequest(`Bundle.entry[${seen.get(identity)}] and Bundle.entry[${i}] both change ${identity}`, `Bundle.entry[${i}]`)
          );
        }
        seen.set(identity, i);
      }
    }
    return overrides;
  }

  /** TransactionFailure carries the failed entries of a transaction out of its (rolled back) run. */
  class TransactionFailure extends Error {
    constructor(indexes, entries) {
      super(`transaction entries ${indexes.join(', ')} failed`);
      this.indexes = indexes;
      this.entries = entries;
    }

    /** outcome merges the failed entries' issues, paths prefixed with the entry; status is the first failure's. */
    outcome() {
      const status = entryStatus(this.entries[this.indexes[0]]);
      const issues = [];
      for (const index of this.indexes) {
        const entry = this.entries[index];
        const source = entry.response?.outcome ?? badRequest('Entry failed');
        const prefix = `Bundle.entry[${index}]`;
        for (const i of source.issue ?? []) {
          const copy = deepClone(i);
          const expr = (copy.expression ?? []).map((e) => {
            if (e.startsWith('Bundle.entry[')) {
              return e;
            }
            const dot = e.indexOf('.');
            return `${prefix}.resource${dot < 0 ? '' : e.slice(dot)}`;
          });
          copy.expression = expr.length ? expr : [prefix];
          copy.diagnostics = `${prefix}: ${copy.diagnostics ?? copy.details?.text ?? copy.code}`;
          issues.push(copy);
        }
      }
      return withStatus(status, { resourceType: 'OperationOutcome', issue: issues });
    }
  }

  function replaceRoute(method, path, handler) {
    const segments = path.split('/').filter(Boolean);
    const route = router.router.routes.find(
      (rt) => rt.method === method && rt.path.length === segments.length &&
        rt.path.every((seg, i) => (seg.param ? ':' + seg.value : seg.value) === segments[i])
    );
    if (!route) {
      throw new Error(`no Medplum route ${method} ${path}`);
    }
    route.handler = handler;
  }

  replaceRoute('PUT', ':resourceType/:id', updateHandler);
  replaceRoute('PUT', ':resourceType', conditionalUpdateHandler);
  replaceRoute('GET', ':resourceType/:id/_history', historyHandler);
  replaceRoute('DELETE', ':resourceType/:id', deleteHandler);
  replaceRoute('DELETE', ':resourceType', conditionalDeleteHandler);
  replaceRoute('POST', '', bundleHandler);
  for (const route of router.router.routes) {
    const inner = route.handler;
    route.handler = async (...args) => {
      try {
        return await inner(...args);
      } catch (err) {
        if (err instanceof OperationOutcomeError || isOperationOutcome(err)) {
          throw err;
        }
        process.stderr.write(`fhirserver: internal error: ${err?.stack ?? err}\n`);
        throw new OperationOutcomeError(serverError(err instanceof Error ? err : new Error(String(err))));
      }
    };
  }

  // ---- non-router endpoints -------------------------------------------------

  function capabilityStatement(base) {
    const interactions = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'].map((code) => ({ code }));
    const resource = getResourceTypes()
      .filter((t) => t !== 'Resource' && t !== 'DomainResource')
      .sort()
      .map((type) => ({
        type,
        interaction: interactions,
        versioning: 'versioned-update',
        readHistory: true,
        updateCreate: !options.refuseClientIds,
        conditionalCreate: true,
        conditionalRead: 'not-supported',
        conditionalUpdate: true,
        conditionalDelete: 'single',
        searchParam: [
          { name: '_id', type: 'token' },
          { name: 'identifier', type: 'token' },
        ],
        ...(type === 'ConceptMap'
          ? { operation: [{ name: 'translate', definition: 'http://hl7.org/fhir/OperationDefinition/ConceptMap-translate' }] }
          : undefined),
      }));
    const caps = [
      `transactions: at most ${options.maxTransactionEntries || 'unlimited'} entries, ${options.maxConditionalTransactionEntries || 'unlimited'} when any entry is conditional`,
      `batches: at most ${options.maxBatchEntries || 'unlimited'} entries`,
      options.refuseClientIds ? 'update-as-create is refused (Medplum emulation)' : 'update-as-create is allowed',
    ].join('; ');
    return {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: startedAt,
      kind: 'instance',
      software: { name: 'fhirsync test server (Medplum fhir-router)', version: SOFTWARE_VERSION },
      implementation: { description: 'fhirsync in-memory FHIR R4 test server', url: base },
      fhirVersion: '4.0.1',
      format: ['json'],
      patchFormat: ['application/json-patch+json'],
      rest: [
        {
          mode: 'server',
          documentation: caps,
          resource,
          interaction: [{ code: 'transaction' }, { code: 'batch' }],
          operation: [{ name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' }],
        },
      ],
    };
  }

  function validationOutcome(text, expectedType) {
    const { items, problems } = parseFhirText(text);
    const found = [...problems];
    for (const item of items) {
      let target = item;
      if (expectedType && item.resource?.resourceType === 'Parameters') {
        const inner = item.resource.parameter?.find((p) => p.name === 'resource')?.resource;
        if (!inner) {
          found.push({ line: item.line, ref: 'Parameters', path: 'Parameters.parameter', severity: 'error', code: 'required', message: 'Parameters has no "resource" parameter' });
          continue;
        }
        target = { line: item.line, resource: inner };
      }
      if (expectedType && target.resource?.resourceType !== expectedType) {
        found.push({ line: target.line, ref: '', path: 'resourceType', severity: 'error', code: 'invalid', message: `Expected a ${expectedType}` });
        continue;
      }
      found.push(...validateParsed(target));
    }
    found.sort((a, b) => a.line - b.line);
    const issues = found.map((p) => ({
      severity: p.severity,
      code: p.code,
      details: { text: p.message },
      diagnostics: formatProblem('', p),
      ...(p.path ? { expression: [p.path] } : undefined),
      location: [`line ${p.line}`],
    }));
    if (!issues.some(isError) && !issues.length) {
      issues.push({ severity: 'information', code: 'informational', details: { text: 'All OK' } });
    }
    return { resourceType: 'OperationOutcome', issue: issues };
  }

  async function translateEndpoint(method, rel, query, bodyText) {
    const m = /^ConceptMap\/(?:([^/]+)\/)?\$translate$/.exec(rel);
    const instanceId = m[1];
    let params;
    if (method === 'GET') {
      params = translateParamsFromQuery(query);
    } else {
      params = translateParamsFromParameters(parseJson(bodyText));
    }
    const instance = instanceId ? await repo.readResource('ConceptMap', instanceId) : undefined;
    return toParameters(translate(repo.allCurrent('ConceptMap'), params, instance));
  }

  // ---- HTTP ------------------------------------------------------------------

  let tail = Promise.resolve();
  function serialized(fn) {
    const run = tail.then(fn, fn);
    tail = run.catch(() => {});
    return run;
  }

  function readBody(req) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      let tooBig = false;
      req.on('data', (c) => {
        size += c.length;
        if (size > options.maxBodyBytes) {
          tooBig = true;
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (tooBig) {
          reject(httpError(413, 'too-long', `Request body exceeds ${options.maxBodyBytes} bytes`));
        } else {
          resolve(Buffer.concat(chunks));
        }
      });
      req.on('error', reject);
    });
  }

  function decode(req, raw) {
    const enc = String(req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
    try {
      let out = raw;
      if (enc === 'gzip' || enc === 'x-gzip') {
        out = zlib.gunzipSync(raw, { maxOutputLength: options.maxBodyBytes });
      } else if (enc === 'deflate') {
        out = zlib.inflateSync(raw, { maxOutputLength: options.maxBodyBytes });
      } else if (enc !== 'identity' && enc !== '') {
        throw httpError(415, 'not-supported', `Unsupported Content-Encoding ${enc}`);
      }
      return out.toString('utf8');
    } catch (err) {
      if (err instanceof OperationOutcomeError) {
        throw err;
      }
      if (err?.code === 'ERR_BUFFER_TOO_LARGE' || /Cannot create a Buffer larger|maxOutputLength/i.test(err?.message ?? '')) {
        throw httpError(413, 'too-long', `Decompressed request body exceeds ${options.maxBodyBytes} bytes`);
      }
      throw httpError(400, 'structure', `Invalid ${enc} request body`, err?.message);
    }
  }

  function mediaType(req) {
    return String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  }

  function parseJson(text) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw httpError(400, 'structure', 'Request body is not valid JSON', err.message);
    }
  }

  function queryObject(searchParams) {
    const q = Object.create(null);
    for (const key of new Set(searchParams.keys())) {
      const all = searchParams.getAll(key);
      q[key] = all.length === 1 ? all[0] : all;
    }
    return q;
  }

  function decorateResourceHeaders(headers, resource, base, status, method) {
    const vid = resource?.meta?.versionId;
    if (!vid || !resource.id) {
      return;
    }
    headers.ETag = `W/"${vid}"`;
    if (resource.meta.lastUpdated) {
      headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
    }
    if (status === 201 || (method !== 'GET' && status === 200)) {
      const loc = `${base}/${resource.resourceType}/${resource.id}/_history/${vid}`;
      if (status === 201) {
        headers.Location = loc;
      }
      headers['Content-Location'] = loc;
    }
  }

  function decorateBundleResponse(bundle) {
    for (const entry of bundle.entry ?? []) {
      const res = entry.resource;
      if (!entry.response) {
        continue;
      }
      const code = entryStatus(entry);
      entry.response.status = REASONS[code] ? `${code} ${REASONS[code]}` : String(code);
      if (res?.meta?.versionId && res.id && code < 300) {
        entry.response.location = `${res.resourceType}/${res.id}/_history/${res.meta.versionId}`;
        entry.response.etag = `W/"${res.meta.versionId}"`;
        entry.response.lastModified = res.meta.lastUpdated;
      }
      if (code < 300 && entry.response.outcome?.issue?.every((i) => i.severity === 'information')) {
        delete entry.response.outcome;
      }
    }
  }

  function finishBundle(bundle, base, url) {
    for (const entry of bundle.entry ?? []) {
      if (entry.resource?.id && !entry.fullUrl) {
        entry.fullUrl = `${base}/${entry.resource.resourceType}/${entry.resource.id}`;
      }
    }
    if (bundle.type === 'searchset' || bundle.type === 'history') {
      const self = `${base}${url.pathname.slice(BASE_PATH.length)}${url.search}`;
      bundle.link = [{ relation: 'self', url: self }];
      const count = Number(url.searchParams.get('_count') ?? (bundle.type === 'history' ? 100 : 20));
      const offset = Number(url.searchParams.get('_offset') ?? 0);
      if (count > 0 && bundle.total !== undefined && offset + count < bundle.total) {
        const next = new URLSearchParams(url.searchParams);
        next.set('_offset', String(offset + count));
        next.set('_count', String(count));
        bundle.link.push({ relation: 'next', url: `${base}${url.pathname.slice(BASE_PATH.length)}?${next}` });
      }
    }
  }

  function send(req, res, status, body, headers = {}) {
    let payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
    const h = { ...headers };
    if (body !== undefined) {
      h['Content-Type'] = 'application/fhir+json; charset=utf-8';
    }
    const acceptEncoding = String(req.headers['accept-encoding'] ?? '');
    if (payload.length && /(^|[\s,])(gzip|x-gzip)(\s*;\s*q=(?!0(\.0*)?\s*($|,))[\d.]+)?\s*($|,)/i.test(acceptEncoding)) {
      payload = zlib.gzipSync(payload);
      h['Content-Encoding'] = 'gzip';
    }
    h.Vary = 'Accept-Encoding';
    h['Content-Length'] = String(payload.length);
    res.writeHead(status, h);
    res.end(payload);
  }

  async function dispatch(req, url, rel, bodyText) {
    const method = req.method;
    const base = `http://${req.headers.host ?? `${options.host}`}${BASE_PATH}`;
    const mt = mediaType(req);

    if (rel === 'metadata' && method === 'GET') {
      return { status: 200, body: capabilityStatement(base) };
    }
    if (rel === '$reset' && method === 'POST') {
      repo.clear();
      return { status: 200, body: { resourceType: 'OperationOutcome', issue: [issue('information', 'informational', 'All data deleted')] } };
    }
    if (rel === '$stats' && method === 'GET') {
      const counts = repo.stats();
      return {
        status: 200,
        body: {
          resourceType: 'Parameters',
          parameter: Object.entries(counts).map(([name, valueInteger]) => ({ name, valueInteger })),
        },
      };
    }
    const validateMatch = /^(?:([A-Z][A-Za-z]+)\/)?\$validate$/.exec(rel);
    if (validateMatch && method === 'POST') {
      if (mt && !JSON_TYPES.includes(mt) && !NDJSON_TYPES.includes(mt)) {
        throw httpError(415, 'not-supported', `Unsupported Content-Type ${mt}`);
      }
      return { status: 200, body: validationOutcome(bodyText, validateMatch[1]) };
    }
    if (/^ConceptMap\/(?:[^/]+\/)?\$translate$/.test(rel) && (method === 'GET' || method === 'POST')) {
      return { status: 200, body: await translateEndpoint(method, rel, queryObject(url.searchParams), bodyText) };
    }

    let body;
    if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
      if (mt === 'application/x-www-form-urlencoded' && method === 'POST' && rel.endsWith('/_search')) {
        body = queryObject(new URLSearchParams(bodyText));
      } else {
        if (!JSON_TYPES.includes(mt)) {
          throw httpError(415, 'not-supported', `Unsupported Content-Type ${mt || '(none)'}: use application/fhir+json`);
        }
        body = parseJson(bodyText);
      }
    }
    const fhirReq = {
      method,
      url: rel + url.search,
      pathname: '',
      body,
      params: Object.create(null),
      query: queryObject(url.searchParams),
      headers: req.headers,
      config: { transactions: false },
    };
    const [outcome, resource] = await router.handleRequest(fhirReq, repo);
    const status = statusOf(outcome);
    const headers = {};
    if (resource && status < 300) {
      if (resource.resourceType === 'Bundle' && (resource.type === 'searchset' || resource.type === 'history' || resource.type?.endsWith('-response'))) {
        finishBundle(resource, base, url);
      } else {
        decorateResourceHeaders(headers, resource, base, status, method);
      }
      if (method === 'GET' && headers.ETag && req.headers['if-none-match'] === headers.ETag) {
        return { status: 304, body: undefined, headers };
      }
      const prefer = String(req.headers.prefer ?? '');
      const isBundleResponse = rel === '' && method === 'POST';
      if (isBundleResponse) {
        if (/return=minimal/.test(prefer)) {
          for (const entry of resource.entry ?? []) {
            delete entry.resource;
          }
        }
        return { status, body: resource, headers };
      }
      if (method !== 'GET' && /return=minimal/.test(prefer)) {
        return { status, body: undefined, headers };
      }
      if (method !== 'GET' && /return=OperationOutcome/i.test(prefer)) {
        return { status, body: outcome, headers };
      }
      return { status, body: resource, headers };
    }
    return { status, body: resource ?? outcome, headers };
  }

  async function handle(req, res) {
    const started = process.hrtime.bigint();
    let status = 500;
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      const raw = await readBody(req);
      const path = url.pathname;
      if (path !== BASE_PATH && !path.startsWith(BASE_PATH + '/')) {
        throw httpError(404, 'not-found', `Unknown path; the FHIR base is ${BASE_PATH}`);
      }
      const rel = decodeURIComponent(path.slice(BASE_PATH.length)).replace(/^\/+|\/+$/g, '');
      const bodyText = raw.length ? decode(req, raw) : '';
      const result = await serialized(() => dispatch(req, url, rel, bodyText));
      status = result.status;
      send(req, res, result.status, result.body, result.headers);
    } catch (err) {
      let outcome;
      if (err instanceof OperationOutcomeError) {
        outcome = err.outcome;
      } else {
        process.stderr.write(`fhirserver: internal error: ${err?.stack ?? err}\n`);
        outcome = serverError(err instanceof Error ? err : new Error(String(err)));
      }
      status = statusOf(outcome);
      if (!res.headersSent) {
        send(req, res, status, outcome);
      } else {
        res.destroy();
      }
    } finally {
      if (options.verbose) {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        process.stderr.write(`${req.method} ${url.pathname}${url.search} ${status} ${ms.toFixed(1)}ms\n`);
      }
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res);
  });
  server.keepAliveTimeout = 5000;
  return { server, repo, router, options };
}
