// Unit tests of the shared validation and terminology code: node --test test/
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Terminology } from '../lib/terminology.mjs';
import { translate } from '../lib/translate.mjs';
import { entryStartLines, formatProblem, loadDefinitions, validateText } from '../lib/validation.mjs';

const term = loadDefinitions();

test('expands a ValueSet that includes a whole CodeSystem', () => {
  const exp = term.expand('http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1');
  assert.deepEqual([...exp.get('http://hl7.org/fhir/administrative-gender')].sort(), ['female', 'male', 'other', 'unknown']);
});

test('refuses to guess a ValueSet it cannot expand', () => {
  assert.equal(term.expand('http://hl7.org/fhir/ValueSet/mimetypes'), undefined);
  assert.equal(term.checkCoding('http://hl7.org/fhir/ValueSet/mimetypes', 'urn:ietf:bcp:13', 'text/plain'), undefined);
});

test('is-a filters follow the concept hierarchy and exclude abstract concepts', () => {
  const t = new Terminology();
  t.add({
    resourceType: 'CodeSystem', url: 'urn:cs', content: 'complete',
    concept: [{ code: 'A', property: [{ code: 'notSelectable', valueBoolean: true }], concept: [{ code: 'A1' }, { code: 'A2', concept: [{ code: 'A2x' }] }] }, { code: 'B' }],
  });
  t.add({ resourceType: 'ValueSet', url: 'urn:vs', compose: { include: [{ system: 'urn:cs', filter: [{ property: 'concept', op: 'is-a', value: 'A' }] }], exclude: [{ system: 'urn:cs', concept: [{ code: 'A1' }] }] } });
  assert.deepEqual([...t.expand('urn:vs').get('urn:cs')].sort(), ['A2', 'A2x']);
  assert.equal(t.checkCoding('urn:vs', 'urn:cs', 'B'), false);
  assert.equal(t.checkCoding('urn:vs', 'urn:other', 'A2'), false);
});

test('reports each Bundle entry at its own line and reference', () => {
  const text = JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [
    { resource: { resourceType: 'Patient', id: 'a' } },
    { resource: { resourceType: 'Patient', id: 'b', gender: 'mal' } },
  ] }, null, 2);
  const lines = validateText(text).filter((p) => p.severity === 'error').map((p) => formatProblem('f.json', p));
  assert.deepEqual(lines, ['f.json:11: Patient/b: Patient.gender: Value is not in the required value set http://hl7.org/fhir/ValueSet/administrative-gender']);
});

test('NDJSON problems carry their line numbers', () => {
  const text = '{"resourceType":"Patient"}\n\n{"resourceType":"Patient","active":"yes"}\n{oops\n';
  const got = validateText(text).map((p) => `${p.line} ${p.path}`);
  assert.deepEqual(got, ['3 Patient.active', '4 ']);
});

test('entryStartLines finds top-level entries only', () => {
  const text = '{\n "entry": [\n  {"resource": {"entry": [1, 2]}},\n\n  {}\n ],\n "x": {"entry": []}\n}';
  assert.deepEqual(entryStartLines(text), [3, 5]);
});

test('$translate forward, unmapped fixed and reverse', () => {
  const map = { resourceType: 'ConceptMap', url: 'urn:map', group: [{ source: 'urn:s', target: 'urn:t', element: [{ code: 'a', target: [{ code: 'x', equivalence: 'wider' }] }], unmapped: { mode: 'fixed', code: 'z' } }] };
  assert.deepEqual(translate([map], { system: 'urn:s', code: 'a' }).match, [{ equivalence: 'wider', concept: { system: 'urn:t', code: 'x' }, source: 'urn:map' }]);
  assert.equal(translate([map], { system: 'urn:s', code: 'q' }).match[0].concept.code, 'z');
  const rev = translate([map], { system: 'urn:t', code: 'x', reverse: true });
  assert.deepEqual(rev.match[0], { equivalence: 'narrower', concept: { system: 'urn:s', code: 'a' }, source: 'urn:map' });
  assert.equal(translate([map], { system: 'urn:other', code: 'a' }).result, false);
});
