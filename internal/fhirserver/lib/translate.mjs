// ConceptMap/$translate (FHIR R4, http://hl7.org/fhir/R4/conceptmap-operation-translate.html)
// over the ConceptMaps stored in the test server.

import { OperationOutcomeError, badRequest } from '@medplum/core';
import { stripVersion } from './terminology.mjs';

/** Equivalences that do not count as a successful translation. */
const NOT_TRANSLATED = new Set(['unmatched', 'disjoint']);

/** Reverse-direction equivalence (source and target swapped). */
const REVERSED = { wider: 'narrower', narrower: 'wider', subsumes: 'specializes', specializes: 'subsumes' };

/**
 * translateParamsFromQuery reads $translate input parameters from a URL query
 * (GET form): url, conceptMapVersion, code, system, version, source, target,
 * targetsystem, reverse. coding/codeableConcept are POST-only.
 */
export function translateParamsFromQuery(query) {
  const one = (k) => {
    const v = query[k];
    return Array.isArray(v) ? v[v.length - 1] : v;
  };
  return {
    url: one('url'),
    conceptMapVersion: one('conceptMapVersion'),
    code: one('code'),
    system: one('system'),
    version: one('version'),
    source: one('source'),
    target: one('target'),
    targetsystem: one('targetsystem'),
    reverse: one('reverse') === 'true',
  };
}

/** translateParamsFromParameters reads $translate input from a Parameters resource (POST form). */
export function translateParamsFromParameters(parameters) {
  if (parameters?.resourceType !== 'Parameters') {
    throw new OperationOutcomeError(badRequest('Expected a Parameters resource'));
  }
  const out = { reverse: false };
  for (const p of parameters.parameter ?? []) {
    switch (p.name) {
      case 'url':
      case 'source':
      case 'target':
      case 'targetsystem':
      case 'system':
        out[p.name] = p.valueUri ?? p.valueCanonical ?? p.valueString;
        break;
      case 'conceptMapVersion':
      case 'version':
        out[p.name] = p.valueString;
        break;
      case 'code':
        out.code = p.valueCode ?? p.valueString;
        break;
      case 'coding':
        out.coding = p.valueCoding;
        break;
      case 'codeableConcept':
        out.codeableConcept = p.valueCodeableConcept;
        break;
      case 'conceptMap':
        out.conceptMap = p.resource;
        break;
      case 'reverse':
        out.reverse = p.valueBoolean === true;
        break;
      default:
        break; // dependency and unknown parameters are ignored
    }
  }
  return out;
}

/** sourceCodings normalises the code/system, coding or codeableConcept input into a list of codings. */
function sourceCodings(params) {
  const given = [params.code !== undefined, params.coding !== undefined, params.codeableConcept !== undefined].filter(Boolean);
  if (given.length === 0) {
    throw new OperationOutcomeError(badRequest('One of code (with system), coding or codeableConcept is required'));
  }
  if (given.length > 1) {
    throw new OperationOutcomeError(badRequest('Only one of code, coding or codeableConcept may be given'));
  }
  if (params.code !== undefined) {
    if (!params.system) {
      throw new OperationOutcomeError(badRequest('system is required with code'));
    }
    return [{ system: params.system, code: params.code }];
  }
  if (params.coding) {
    if (!params.coding.code) {
      throw new OperationOutcomeError(badRequest('coding.code is required'));
    }
    return [params.coding];
  }
  const codings = (params.codeableConcept.coding ?? []).filter((c) => c.code);
  if (!codings.length) {
    throw new OperationOutcomeError(badRequest('codeableConcept has no coding with a code'));
  }
  return codings;
}

function mapSource(map) {
  return map.sourceUri ?? map.sourceCanonical;
}

function mapTarget(map) {
  return map.targetUri ?? map.targetCanonical;
}

/**
 * selectMaps picks the ConceptMaps to use: the instance (when invoked on
 * ConceptMap/id), an inline conceptMap, those with the given url (and
 * version), or those whose source/target value sets match; with none of
 * these, every stored map.
 */
export function selectMaps(stored, params, instance) {
  if (instance) {
    return [instance];
  }
  if (params.conceptMap) {
    return [params.conceptMap];
  }
  let maps = stored;
  if (params.url) {
    const url = stripVersion(params.url);
    maps = maps.filter((m) => m.url === url && (!params.conceptMapVersion || m.version === params.conceptMapVersion));
    if (!maps.length) {
      throw new OperationOutcomeError({
        resourceType: 'OperationOutcome',
        id: 'not-found',
        issue: [{ severity: 'error', code: 'not-found', details: { text: `No ConceptMap with url ${url}` } }],
      });
    }
  }
  const [source, target] = params.reverse ? [params.target, params.source] : [params.source, params.target];
  if (source) {
    maps = maps.filter((m) => stripVersion(mapSource(m) ?? '') === stripVersion(source));
  }
  if (target) {
    maps = maps.filter((m) => stripVersion(mapTarget(m) ?? '') === stripVersion(target));
  }
  return maps;
}

/**
 * translate runs $translate over the chosen maps and returns
 * {result, message, match: [{equivalence, concept, source, product}]}.
 */
export function translate(stored, params, instance) {
  const codings = sourceCodings(params);
  const maps = selectMaps(stored, params, instance);
  const byUrl = new Map(stored.map((m) => [m.url, m]));
  const matches = [];
  for (const map of maps) {
    for (const coding of codings) {
      matches.push(...(params.reverse ? reverseInMap(map, coding, params) : forwardInMap(map, coding, params, byUrl, new Set())));
    }
  }
  const result = matches.some((m) => !NOT_TRANSLATED.has(m.equivalence));
  const out = { result, match: matches };
  if (!result) {
    const what = codings.map((c) => `${c.system ?? ''}|${c.code}`).join(', ');
    out.message = maps.length
      ? `No translation found for ${what}${params.targetsystem ? ` to ${params.targetsystem}` : ''}`
      : 'No ConceptMap applies to this request';
  }
  return out;
}

function forwardInMap(map, coding, params, byUrl, visited) {
  visited.add(map.url ?? map);
  const out = [];
  for (const group of map.group ?? []) {
    if (coding.system !== undefined && (group.source ?? '') !== coding.system) {
      continue;
    }
    if (params.targetsystem && group.target !== params.targetsystem) {
      continue;
    }
    const elements = (group.element ?? []).filter((e) => e.code === coding.code);
    if (elements.length) {
      for (const element of elements) {
        if (!element.target?.length) {
          out.push({ equivalence: 'unmatched', source: map.url });
        }
        for (const target of element.target ?? []) {
          out.push(buildMatch(target.equivalence, group.target, group.targetVersion, target.code, target.display, map.url, target.product));
        }
      }
      continue;
    }
    const unmapped = group.unmapped;
    if (!unmapped) {
      continue;
    }
    if (unmapped.mode === 'provided') {
      out.push(buildMatch('equal', group.target, group.targetVersion, coding.code, coding.display, map.url));
    } else if (unmapped.mode === 'fixed') {
      out.push(buildMatch('equivalent', group.target, group.targetVersion, unmapped.code, unmapped.display, map.url));
    } else if (unmapped.mode === 'other-map' && unmapped.url) {
      const other = byUrl.get(stripVersion(unmapped.url));
      if (other && !visited.has(other.url)) {
        out.push(...forwardInMap(other, coding, params, byUrl, visited));
      }
    }
  }
  return out;
}

function reverseInMap(map, coding, params) {
  const out = [];
  for (const group of map.group ?? []) {
    if (coding.system !== undefined && (group.target ?? '') !== coding.system) {
      continue;
    }
    if (params.targetsystem && group.source !== params.targetsystem) {
      continue;
    }
    for (const element of group.element ?? []) {
      for (const target of element.target ?? []) {
        if (target.code === coding.code) {
          const eq = REVERSED[target.equivalence] ?? target.equivalence;
          out.push(buildMatch(eq, group.source, group.sourceVersion, element.code, element.display, map.url));
        }
      }
    }
  }
  return out;
}

function buildMatch(equivalence, system, version, code, display, source, product) {
  const concept = {};
  if (system !== undefined) {
    concept.system = system;
  }
  if (version !== undefined) {
    concept.version = version;
  }
  if (code !== undefined) {
    concept.code = code;
  }
  if (display !== undefined) {
    concept.display = display;
  }
  const match = { equivalence, concept, source };
  if (product?.length) {
    match.product = product;
  }
  return match;
}

/** toParameters renders a translate result as the R4 output Parameters resource. */
export function toParameters(result) {
  const parameter = [{ name: 'result', valueBoolean: result.result }];
  if (result.message) {
    parameter.push({ name: 'message', valueString: result.message });
  }
  for (const m of result.match) {
    const part = [{ name: 'equivalence', valueCode: m.equivalence }];
    if (m.concept && Object.keys(m.concept).length) {
      part.push({ name: 'concept', valueCoding: m.concept });
    }
    for (const p of m.product ?? []) {
      part.push({
        name: 'product',
        part: [
          { name: 'element', valueUri: p.property },
          { name: 'concept', valueCoding: { system: p.system, code: p.value, display: p.display } },
        ],
      });
    }
    if (m.source) {
      part.push({ name: 'source', valueUri: m.source });
    }
    parameter.push({ name: 'match', part });
  }
  return { resourceType: 'Parameters', parameter };
}
