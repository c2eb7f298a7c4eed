// The test server's repository: a FhirRepository for Medplum's FhirRouter that
// keeps every version, validates every write, indexes identifiers, and can roll
// back a transaction completely. It replaces Medplum's MemoryRepository, which
// validates nothing, cannot roll back, reverses _history in place and searches
// linearly.

import { randomUUID } from 'node:crypto';
import {
  OperationOutcomeError,
  Operator,
  allOk,
  badRequest,
  conflict,
  convertToSearchableTokens,
  deepClone,
  deepEquals,
  evalFhirPath,
  evalFhirPathTyped,
  globalSchema,
  gone,
  isResourceType,
  matchesSearchRequest,
  multipleMatches,
  normalizeOperationOutcome,
  notFound,
  preconditionFailed,
  splitSearchOnComma,
  stringify,
  toTypedValue,
} from '@medplum/core';
import { FhirRepository } from '@medplum/fhir-router';
import { applyPatch } from 'rfc6902';
import { isError, issue, validateFhirResource } from './validation.mjs';

/** DEFAULT_SEARCH_COUNT is the page size when a search has no _count. */
export const DEFAULT_SEARCH_COUNT = 20;
/** MAX_SEARCH_COUNT caps _count. */
export const MAX_SEARCH_COUNT = 1000;

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Search parameters that are not filters (handled by the search itself or ignored). */
const RESULT_PARAMS = new Set(['_count', '_offset', '_sort', '_total', '_summary', '_format', '_pretty', '_elements', '_include', '_revinclude']);

/**
 * outcomeError builds an OperationOutcomeError with one issue; id, when given,
 * is a Medplum outcome id that fixes the HTTP status (see getStatus).
 */
export function outcomeError(id, code, text, expression, diagnostics) {
  const outcome = { resourceType: 'OperationOutcome', issue: [issue('error', code, text, expression, diagnostics)] };
  if (id) {
    outcome.id = id;
  }
  return new OperationOutcomeError(outcome);
}

/**
 * TestRepository stores resources in memory.
 *
 * Options: validate (default true), refuseClientIds (emulate Medplum: an update
 * of an id that does not exist is 404, and ids must be UUIDs), versionIds
 * ('sequential' "1","2"... or 'uuid').
 */
export class TestRepository extends FhirRepository {
  constructor(options = {}) {
    super();
    this.validate = options.validate ?? true;
    this.refuseClientIds = Boolean(options.refuseClientIds);
    this.versionIds = options.versionIds ?? 'sequential';
    this.clear();
  }

  /** clear drops every resource, version and index entry. */
  clear() {
    this.types = new Map(); // type → Map<id, Record{current, versions[], byVersion Map, tokens[]}>
    this.identifierIndex = new Map(); // type → Map<token, Set<id>>
    this.journal = [];
    this.depth = 0;
  }

  setMode() {
    // A single in-memory store has no reader/writer split.
  }

  generateId() {
    return randomUUID();
  }

  // ---- transactions -------------------------------------------------------

  /**
   * withTransaction runs callback; when it throws, every write it made is
   * undone (nested calls roll back to their own start) and the error rethrown.
   */
  async withTransaction(callback) {
    const mark = this.journal.length;
    this.depth++;
    try {
      const result = await callback(undefined);
      return result;
    } catch (err) {
      this.rollbackTo(mark);
      throw err;
    } finally {
      this.depth--;
      if (this.depth === 0) {
        this.journal = [];
      }
    }
  }

  rollbackTo(mark) {
    while (this.journal.length > mark) {
      const undo = this.journal.pop();
      undo();
    }
  }

  recordUndo(type, id, record) {
    if (this.depth === 0) {
      return;
    }
    if (!record) {
      this.journal.push(() => {
        const rec = this.types.get(type)?.get(id);
        if (rec) {
          this.unindex(type, id, rec);
          this.types.get(type).delete(id);
        }
      });
      return;
    }
    const current = record.current;
    const versionCount = record.versions.length;
    this.journal.push(() => {
      this.unindex(type, id, record);
      const removed = record.versions.splice(versionCount);
      for (const v of removed) {
        record.byVersion.delete(v.versionId);
      }
      record.current = current;
      this.index(type, id, record);
    });
  }

  // ---- identifier index ---------------------------------------------------

  identifierTokens(resource) {
    const param = globalSchema.types[resource.resourceType]?.searchParams?.identifier;
    if (!param?.expression) {
      return [];
    }
    const tokens = convertToSearchableTokens(evalFhirPathTyped(param.expression, [toTypedValue(resource)]));
    const out = new Set();
    for (const t of tokens) {
      if (t.value === undefined) {
        continue;
      }
      const value = String(t.value).toLowerCase();
      out.add(`${(t.system ?? '').toLowerCase()}|${value}`);
      out.add(`*|${value}`);
    }
    return [...out];
  }

  index(type, id, record) {
    record.tokens = record.current ? this.identifierTokens(record.current) : [];
    if (!record.tokens.length) {
      return;
    }
    let byToken = this.identifierIndex.get(type);
    if (!byToken) {
      byToken = new Map();
      this.identifierIndex.set(type, byToken);
    }
    for (const token of record.tokens) {
      let ids = byToken.get(token);
      if (!ids) {
        ids = new Set();
        byToken.set(token, ids);
      }
      ids.add(id);
    }
  }

  unindex(type, id, record) {
    const byToken = this.identifierIndex.get(type);
    for (const token of record.tokens ?? []) {
      const ids = byToken?.get(token);
      if (ids) {
        ids.delete(id);
        if (!ids.size) {
          byToken.delete(token);
        }
      }
    }
    record.tokens = [];
  }

  // ---- writes ---------------------------------------------------------------

  nextVersionId(record) {
    return this.versionIds === 'uuid' ? randomUUID() : String((record?.versions.length ?? 0) + 1);
  }

  checkValid(resource) {
    if (!this.validate) {
      return;
    }
    const issues = validateFhirResource(resource);
    if (issues.some(isError)) {
      throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues.filter(isError) });
    }
  }

  /**
   * writeVersion validates resource and stores it as the next version of
   * Type/id. method is the HTTP method recorded in _history.
   */
  writeVersion(resource, method) {
    const { resourceType: type, id } = resource;
    let byId = this.types.get(type);
    const record = byId?.get(id);
    const { resourceType: _t, id: _i, meta, ...rest } = resource;
    const candidate = {
      resourceType: type,
      id,
      meta: { ...(meta ?? {}), versionId: this.nextVersionId(record), lastUpdated: new Date().toISOString() },
      ...rest,
    };
    this.checkValid(candidate);
    const stored = JSON.parse(stringify(candidate));

    this.recordUndo(type, id, record);
    if (!byId) {
      byId = new Map();
      this.types.set(type, byId);
    }
    const rec = record ?? { current: null, versions: [], byVersion: new Map(), tokens: [] };
    if (!record) {
      byId.set(id, rec);
    }
    this.unindex(type, id, rec);
    const version = {
      versionId: stored.meta.versionId,
      lastUpdated: stored.meta.lastUpdated,
      method,
      status: rec.current ? '200 OK' : '201 Created',
      resource: stored,
    };
    rec.versions.push(version);
    rec.byVersion.set(version.versionId, version);
    rec.current = stored;
    this.index(type, id, rec);
    return deepClone(stored);
  }

  checkType(type) {
    if (!isResourceType(type)) {
      throw outcomeError(undefined, 'not-supported', `Unknown resource type "${type}"`);
    }
  }

  checkId(type, id) {
    if (typeof id !== 'string' || !FHIR_ID.test(id)) {
      throw outcomeError(undefined, 'invalid', 'Invalid resource id', `${type}.id`);
    }
    if (this.refuseClientIds && !UUID.test(id)) {
      throw outcomeError(undefined, 'invalid', 'Invalid id', `${type}.id`);
    }
  }

  /** createResource stores a new resource; the client's id is kept only when options.assignedId is set. */
  async createResource(resource, options) {
    this.checkType(resource.resourceType);
    const id = options?.assignedId && resource.id ? resource.id : this.generateId();
    this.checkId(resource.resourceType, id);
    if (this.types.get(resource.resourceType)?.get(id)?.current) {
      throw new OperationOutcomeError(conflict(`Resource ${resource.resourceType}/${id} already exists`));
    }
    return this.writeVersion({ ...resource, id }, 'POST');
  }

  /**
   * upsert is FHIR update: it creates Type/id when it does not exist (unless
   * refuseClientIds), honours ifMatch, and does not write a version when the
   * content is unchanged. It returns {resource, created}.
   */
  upsert(resource, options) {
    const { resourceType: type, id } = resource;
    this.checkType(type);
    if (!id) {
      throw outcomeError(undefined, 'required', 'Missing id', `${type}.id`);
    }
    this.checkId(type, id);
    const record = this.types.get(type)?.get(id);
    const existing = record?.current;
    if (options?.ifMatch !== undefined) {
      if (!existing) {
        throw outcomeError('precondition-failed', 'conflict', 'If-Match given but the resource does not exist');
      }
      if (existing.meta.versionId !== options.ifMatch) {
        throw outcomeError(
          'precondition-failed',
          'conflict',
          'Version mismatch: If-Match does not name the current version',
          undefined,
          `current version is ${existing.meta.versionId}`
        );
      }
    }
    if (!existing) {
      if (!record && this.refuseClientIds) {
        throw new OperationOutcomeError(notFound);
      }
      return { resource: this.writeVersion(resource, 'PUT'), created: true };
    }
    if (this.isNotModified(existing, resource)) {
      this.checkValid({ ...resource, meta: existing.meta });
      return { resource: deepClone(existing), created: false, unchanged: true };
    }
    return { resource: this.writeVersion(resource, 'PUT'), created: false };
  }

  isNotModified(existing, updated) {
    const strip = (r) => {
      const copy = JSON.parse(stringify(r));
      if (copy.meta) {
        delete copy.meta.versionId;
        delete copy.meta.lastUpdated;
        if (!Object.keys(copy.meta).length) {
          delete copy.meta;
        }
      }
      return copy;
    };
    return deepEquals(strip(existing), strip(updated));
  }

  async updateResource(resource, options) {
    return this.upsert(resource, options).resource;
  }

  async conditionalUpdate(resource, search, options) {
    if (search.resourceType !== resource.resourceType) {
      throw new OperationOutcomeError(badRequest('Search type must match resource type for conditional update'));
    }
    return this.withTransaction(async () => {
      const matches = await this.searchResources({ ...search, count: 2, offset: 0, sortRules: undefined });
      if (matches.length > 1) {
        throw new OperationOutcomeError(multipleMatches);
      }
      if (matches.length === 1) {
        const existing = matches[0];
        if (resource.id && resource.id !== existing.id) {
          throw new OperationOutcomeError(
            badRequest('Resource id does not match the resource found by the condition', `${resource.resourceType}.id`)
          );
        }
        const result = this.upsert({ ...resource, id: existing.id }, options);
        return { resource: result.resource, outcome: allOk };
      }
      if (resource.id && !options?.assignedId) {
        if (this.refuseClientIds) {
          throw new OperationOutcomeError(
            badRequest('Cannot perform create as update with client-assigned ID', `${resource.resourceType}.id`)
          );
        }
        if (this.types.get(resource.resourceType)?.get(resource.id)?.current) {
          throw new OperationOutcomeError(
            conflict(`Resource ${resource.resourceType}/${resource.id} exists but does not match the condition`)
          );
        }
        const result = this.upsert(resource, options);
        return { resource: result.resource, outcome: createdOutcome() };
      }
      const created = await this.createResource(resource, options);
      return { resource: created, outcome: createdOutcome() };
    });
  }

  async patchResource(resourceType, id, patch) {
    const resource = await this.readResource(resourceType, id);
    let errors;
    try {
      errors = applyPatch(resource, patch).filter(Boolean);
    } catch (err) {
      throw new OperationOutcomeError(normalizeOperationOutcome(err));
    }
    if (errors.length) {
      throw new OperationOutcomeError(badRequest(errors.map((e) => e.message).join('\n')));
    }
    if (resource.resourceType !== resourceType || resource.id !== id) {
      throw new OperationOutcomeError(badRequest('Patch must not change resourceType or id'));
    }
    return this.upsert(resource).resource;
  }

  async deleteResource(resourceType, id, options) {
    this.checkType(resourceType);
    const record = this.types.get(resourceType)?.get(id);
    if (!record) {
      throw new OperationOutcomeError(notFound);
    }
    if (options?.ifMatch !== undefined) {
      // If-Match applies to delete as to update (FHIR http.html#concurrency).
      if (!record.current) {
        throw outcomeError('precondition-failed', 'conflict', 'If-Match given but the resource is deleted');
      }
      if (record.current.meta.versionId !== options.ifMatch) {
        throw outcomeError(
          'precondition-failed',
          'conflict',
          'Version mismatch: If-Match does not name the current version',
          undefined,
          `current version is ${record.current.meta.versionId}`
        );
      }
    }
    if (!record.current) {
      return; // already deleted: idempotent
    }
    this.recordUndo(resourceType, id, record);
    this.unindex(resourceType, id, record);
    const version = {
      versionId: this.nextVersionId(record),
      lastUpdated: new Date().toISOString(),
      method: 'DELETE',
      status: '204 No Content',
      resource: undefined,
    };
    record.versions.push(version);
    record.byVersion.set(version.versionId, version);
    record.current = null;
  }

  // ---- reads ----------------------------------------------------------------

  async readResource(resourceType, id) {
    this.checkType(resourceType);
    const record = this.types.get(resourceType)?.get(id);
    if (!record) {
      throw new OperationOutcomeError(notFound);
    }
    if (!record.current) {
      throw new OperationOutcomeError(gone);
    }
    return deepClone(record.current);
  }

  async readReference(reference) {
    const parts = reference.reference?.split('/');
    if (parts?.length !== 2) {
      throw new OperationOutcomeError(badRequest('Invalid reference'));
    }
    return this.readResource(parts[0], parts[1]);
  }

  async readReferences(references) {
    return Promise.all(
      references.map((r) => this.readReference(r).catch((err) => new OperationOutcomeError(normalizeOperationOutcome(err))))
    );
  }

  /**
   * readHistory returns the versions of Type/id newest first, deletions
   * included, without touching the stored version list.
   */
  async readHistory(resourceType, id, options) {
    this.checkType(resourceType);
    const record = this.types.get(resourceType)?.get(id);
    if (!record) {
      throw new OperationOutcomeError(notFound);
    }
    const all = [];
    for (let i = record.versions.length - 1; i >= 0; i--) {
      all.push(record.versions[i]);
    }
    const since = options?.since;
    const filtered = since ? all.filter((v) => v.lastUpdated >= since) : all;
    const offset = options?.offset ?? 0;
    const limit = options?.limit ?? 100;
    const page = filtered.slice(offset, offset + limit);
    return {
      resourceType: 'Bundle',
      type: 'history',
      total: filtered.length,
      entry: page.map((v) => historyEntry(resourceType, id, v)),
    };
  }

  async readVersion(resourceType, id, versionId) {
    this.checkType(resourceType);
    const record = this.types.get(resourceType)?.get(id);
    const version = record?.byVersion.get(versionId);
    if (!version) {
      throw new OperationOutcomeError(notFound);
    }
    if (!version.resource) {
      throw new OperationOutcomeError(gone);
    }
    return deepClone(version.resource);
  }

  // ---- search -----------------------------------------------------------------

  /** candidates returns the ids that may match, using the _id and identifier indexes. */
  candidates(type, filters) {
    const byId = this.types.get(type);
    if (!byId) {
      return [];
    }
    let narrowed;
    const narrow = (ids) => {
      narrowed = narrowed ? new Set([...narrowed].filter((id) => ids.has(id))) : ids;
    };
    for (const f of filters ?? []) {
      if (f.operator !== Operator.EQUALS) {
        continue;
      }
      if (f.code === '_id') {
        narrow(new Set(splitSearchOnComma(f.value)));
      } else if (f.code === 'identifier') {
        const ids = new Set();
        const index = this.identifierIndex.get(type);
        for (const v of splitSearchOnComma(f.value)) {
          const bar = v.indexOf('|');
          let token;
          if (bar < 0) {
            token = `*|${v.toLowerCase()}`;
          } else if (bar === v.length - 1) {
            token = undefined; // system| : any value in the system, not indexed
          } else {
            token = `${v.slice(0, bar).toLowerCase()}|${v.slice(bar + 1).toLowerCase()}`;
          }
          if (token === undefined) {
            ids.clear();
            for (const id of byId.keys()) {
              ids.add(id);
            }
            break;
          }
          for (const id of index?.get(token) ?? []) {
            ids.add(id);
          }
        }
        narrow(ids);
      }
    }
    return narrowed ? [...narrowed] : [...byId.keys()];
  }

  checkSearchRequest(searchRequest) {
    const type = searchRequest.resourceType;
    this.checkType(type);
    const params = globalSchema.types[type]?.searchParams ?? {};
    for (const f of searchRequest.filters ?? []) {
      if (!params[f.code]) {
        throw outcomeError(undefined, 'not-supported', `Unknown search parameter "${f.code}" for ${type}`);
      }
    }
    for (const s of searchRequest.sortRules ?? []) {
      if (!params[s.code]?.expression) {
        throw outcomeError(undefined, 'not-supported', `Unknown sort parameter "${s.code}" for ${type}`);
      }
    }
    if (searchRequest.count !== undefined && (!Number.isInteger(searchRequest.count) || searchRequest.count < 0)) {
      throw outcomeError(undefined, 'invalid', 'Invalid _count');
    }
    if (searchRequest.offset !== undefined && (!Number.isInteger(searchRequest.offset) || searchRequest.offset < 0)) {
      throw outcomeError(undefined, 'invalid', 'Invalid _offset');
    }
  }

  async search(searchRequest) {
    if (searchRequest.resourceType === 'MultipleTypes') {
      throw outcomeError(undefined, 'not-supported', 'System-level search is not supported');
    }
    this.checkSearchRequest(searchRequest);
    const type = searchRequest.resourceType;
    const byId = this.types.get(type) ?? new Map();
    const matched = [];
    const filterOnly = { resourceType: type, filters: searchRequest.filters };
    for (const id of this.candidates(type, searchRequest.filters)) {
      const resource = byId.get(id)?.current;
      if (resource && matchesSearchRequest(resource, filterOnly)) {
        matched.push(resource);
      }
    }
    if (searchRequest.sortRules?.length) {
      const params = globalSchema.types[type].searchParams;
      const keyed = matched.map((r) => ({ r, keys: searchRequest.sortRules.map((s) => JSON.stringify(evalFhirPath(params[s.code].expression, r))) }));
      keyed.sort((a, b) => {
        for (let i = 0; i < searchRequest.sortRules.length; i++) {
          const c = a.keys[i].localeCompare(b.keys[i]);
          if (c) {
            return searchRequest.sortRules[i].descending ? -c : c;
          }
        }
        return 0;
      });
      matched.splice(0, matched.length, ...keyed.map((k) => k.r));
    }
    const offset = searchRequest.offset ?? 0;
    const count = Math.min(searchRequest.count ?? DEFAULT_SEARCH_COUNT, MAX_SEARCH_COUNT);
    const page = matched.slice(offset, offset + count);
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total: matched.length,
      entry: page.map((r) => ({ resource: deepClone(r), search: { mode: 'match' } })),
    };
  }

  async searchByReference(searchRequest, referenceField, references) {
    const results = {};
    for (const reference of references) {
      const bundle = await this.search({
        ...searchRequest,
        filters: [...(searchRequest.filters ?? []), { code: referenceField, operator: Operator.EQUALS, value: reference }],
      });
      results[reference] = (bundle.entry ?? []).map((e) => e.resource);
    }
    return results;
  }

  /** allCurrent returns the live resources of a type (for $translate and counts). */
  allCurrent(type) {
    const out = [];
    for (const rec of this.types.get(type)?.values() ?? []) {
      if (rec.current) {
        out.push(rec.current);
      }
    }
    return out;
  }

  /** stats returns the number of live resources per type. */
  stats() {
    const out = {};
    for (const [type, byId] of this.types) {
      let n = 0;
      for (const rec of byId.values()) {
        if (rec.current) {
          n++;
        }
      }
      if (n) {
        out[type] = n;
      }
    }
    return out;
  }
}

/** createdOutcome is Medplum's "created" OperationOutcome (HTTP 201), freshly allocated. */
export function createdOutcome() {
  return {
    resourceType: 'OperationOutcome',
    id: 'created',
    issue: [{ severity: 'information', code: 'informational', details: { text: 'Created' } }],
  };
}

function historyEntry(type, id, version) {
  const url = `${type}/${id}/_history/${version.versionId}`;
  const entry = {
    request: { method: version.method, url: version.method === 'POST' ? type : `${type}/${id}` },
    response: {
      status: version.status,
      etag: `W/"${version.versionId}"`,
      lastModified: version.lastUpdated,
    },
  };
  if (version.resource) {
    entry.resource = deepClone(version.resource);
  }
  entry.response.location = url;
  return entry;
}
