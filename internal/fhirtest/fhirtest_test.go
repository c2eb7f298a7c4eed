package fhirtest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
)

func TestMain(m *testing.M) { fhirtest.Main(m) }

// obj is a decoded JSON object.
type obj = map[string]any

// call sends a request and decodes the JSON response body (nil when empty).
func call(t *testing.T, s *fhirtest.Server, method, path string, body any, header http.Header) (*http.Response, obj) {
	t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		data = b
	case string:
		data = []byte(b)
	default:
		var err error
		data, err = json.Marshal(b)
		require.NoError(t, err)
	}
	resp, out, err := s.Do(context.Background(), method, path, data, header)
	require.NoError(t, err)
	if len(out) == 0 {
		return resp, nil
	}
	var m obj
	require.NoError(t, json.Unmarshal(out, &m), "response body: %s", out)
	return resp, m
}

func patient(id, gender string, identifier ...string) obj {
	p := obj{"resourceType": "Patient"}
	if id != "" {
		p["id"] = id
	}
	if gender != "" {
		p["gender"] = gender
	}
	if len(identifier) == 2 {
		p["identifier"] = []any{obj{"system": identifier[0], "value": identifier[1]}}
	}
	return p
}

func issues(t *testing.T, oo obj) []obj {
	t.Helper()
	require.Equal(t, "OperationOutcome", oo["resourceType"], "%v", oo)
	var out []obj
	for _, i := range oo["issue"].([]any) {
		out = append(out, i.(obj))
	}
	return out
}

func expressions(t *testing.T, oo obj) []string {
	var out []string
	for _, i := range issues(t, oo) {
		for _, e := range asSlice(i["expression"]) {
			out = append(out, e.(string))
		}
	}
	return out
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func versionID(r obj) string {
	return r["meta"].(obj)["versionId"].(string)
}

func searchTotal(t *testing.T, s *fhirtest.Server, query string) int {
	t.Helper()
	resp, b := call(t, s, http.MethodGet, query, nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", b)
	return int(b["total"].(float64))
}

func TestValidationRejectsInvalidWrites(t *testing.T) {
	s := fhirtest.Shared(t)
	tests := []struct {
		name      string
		method    string
		path      string
		body      any
		status    int
		issueCode string
		expr      string
	}{
		{"bad required code", "PUT", "Patient/p1", patient("p1", "mal"), 400, "code-invalid", "Patient.gender"},
		{"unknown element", "PUT", "Patient/p1", obj{"resourceType": "Patient", "id": "p1", "nickname": "x"}, 400, "structure", "Patient.nickname"},
		{"wrong primitive type", "PUT", "Patient/p1", obj{"resourceType": "Patient", "id": "p1", "active": "yes"}, 400, "structure", "Patient.active"},
		{"bad date", "POST", "Patient", obj{"resourceType": "Patient", "birthDate": "1990-13-45"}, 400, "structure", "Patient.birthDate"},
		{"array expected", "POST", "Patient", obj{"resourceType": "Patient", "name": obj{"family": "X"}}, 400, "structure", "Patient.name"},
		{"missing required element", "POST", "Coverage", obj{"resourceType": "Coverage", "status": "active"}, 400, "structure", "Coverage.beneficiary"},
		{"required code in backbone", "POST", "Patient", obj{"resourceType": "Patient", "contact": []any{obj{"gender": "x"}}}, 400, "code-invalid", "Patient.contact[0].gender"},
		{"required CodeableConcept binding", "POST", "Claim", claim("bogus-use"), 400, "code-invalid", "Claim.use"},
		{"body type differs from URL", "PUT", "Patient/p1", obj{"resourceType": "Observation", "id": "p1"}, 400, "invalid", ""},
		{"unknown resource type", "POST", "Pateint", obj{"resourceType": "Pateint"}, 400, "not-supported", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, oo := call(t, s, tc.method, tc.path, tc.body, nil)
			require.Equal(t, tc.status, resp.StatusCode, "%v", oo)
			is := issues(t, oo)
			require.NotEmpty(t, is)
			codes := []string{}
			for _, i := range is {
				codes = append(codes, i["code"].(string))
				assert.Equal(t, "error", i["severity"])
			}
			assert.Contains(t, codes, tc.issueCode)
			if tc.expr != "" {
				assert.Contains(t, expressions(t, oo), tc.expr)
			}
		})
	}
	assert.Equal(t, 0, searchTotal(t, s, "Patient?_count=0"), "nothing invalid was stored")

	resp, ok := call(t, s, "POST", "Claim", claim("claim"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "a valid Claim is accepted: %v", ok)
}

func claim(use string) obj {
	return obj{
		"resourceType": "Claim",
		"status":       "active",
		"type":         obj{"coding": []any{obj{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}}},
		"use":          use,
		"patient":      obj{"reference": "Patient/p1"},
		"created":      "2024-01-02",
		"provider":     obj{"reference": "Organization/o1"},
		"priority":     obj{"coding": []any{obj{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}}},
		"insurance":    []any{obj{"sequence": 1, "focal": true, "coverage": obj{"reference": "Coverage/c1"}}},
	}
}

func TestTransactionRollsBackCompletely(t *testing.T) {
	s := fhirtest.Shared(t)
	orgURN := "urn:uuid:7f5a2c3e-1b2d-4c5e-8f9a-0b1c2d3e4f50"
	bundle := obj{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		obj{"fullUrl": orgURN, "resource": obj{"resourceType": "Organization", "name": "Payer"}, "request": obj{"method": "POST", "url": "Organization"}},
		obj{"resource": obj{"resourceType": "Patient", "id": "t1", "managingOrganization": obj{"reference": orgURN}}, "request": obj{"method": "PUT", "url": "Patient/t1"}},
		obj{"resource": patient("", "female", "urn:oid:1.2.3", "M1"), "request": obj{"method": "PUT", "url": "Patient?identifier=urn:oid:1.2.3|M1"}},
		obj{"resource": patient("t3", "mal"), "request": obj{"method": "PUT", "url": "Patient/t3"}},
	}}
	resp, oo := call(t, s, "POST", "", bundle, nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%v", oo)
	assert.Contains(t, expressions(t, oo), "Bundle.entry[3].resource.gender")

	assert.Equal(t, 0, searchTotal(t, s, "Organization?_count=0"))
	assert.Equal(t, 0, searchTotal(t, s, "Patient?_count=0"))
	resp, _ = call(t, s, "GET", "Patient/t1", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	// The same transaction without the bad entry commits all of it, with the
	// urn:uuid reference rewritten to the created Organization.
	bundle["entry"] = asSlice(bundle["entry"])[:3]
	resp, out := call(t, s, "POST", "", bundle, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	assert.Equal(t, "transaction-response", out["type"])
	entries := asSlice(out["entry"])
	require.Len(t, entries, 3)
	for _, e := range entries {
		r := e.(obj)["response"].(obj)
		assert.Equal(t, "201 Created", r["status"])
		assert.Regexp(t, `^(Organization|Patient)/[^/]+/_history/1$`, r["location"])
		assert.Equal(t, `W/"1"`, r["etag"])
	}
	orgID := entries[0].(obj)["resource"].(obj)["id"].(string)
	_, p := call(t, s, "GET", "Patient/t1", nil, nil)
	assert.Equal(t, "Organization/"+orgID, p["managingOrganization"].(obj)["reference"])
}

func TestTransactionPreconditionFailureRollsBack(t *testing.T) {
	s := fhirtest.Shared(t)
	resp, _ := call(t, s, "PUT", "Patient/v1", patient("v1", "male"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	bundle := obj{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		obj{"resource": patient("n1", "female"), "request": obj{"method": "PUT", "url": "Patient/n1"}},
		obj{"resource": patient("v1", "female"), "request": obj{"method": "PUT", "url": "Patient/v1", "ifMatch": `W/"9"`}},
	}}
	resp, oo := call(t, s, "POST", "", bundle, nil)
	require.Equal(t, http.StatusPreconditionFailed, resp.StatusCode, "%v", oo)
	resp, _ = call(t, s, "GET", "Patient/n1", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	_, p := call(t, s, "GET", "Patient/v1", nil, nil)
	assert.Equal(t, "male", p["gender"])
}

func TestTransactionRejectsDuplicateResource(t *testing.T) {
	s := fhirtest.Shared(t)
	bundle := obj{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		obj{"resource": patient("d1", "female"), "request": obj{"method": "PUT", "url": "Patient/d1"}},
		obj{"resource": patient("d1", "male"), "request": obj{"method": "PUT", "url": "Patient/d1"}},
	}}
	resp, oo := call(t, s, "POST", "", bundle, nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%v", oo)
	assert.Equal(t, 0, searchTotal(t, s, "Patient?_count=0"))
}

func TestBatchIsPerEntry(t *testing.T) {
	s := fhirtest.Shared(t)
	bundle := obj{"resourceType": "Bundle", "type": "batch", "entry": []any{
		obj{"resource": patient("b1", "male"), "request": obj{"method": "PUT", "url": "Patient/b1"}},
		obj{"resource": patient("b2", "mal"), "request": obj{"method": "PUT", "url": "Patient/b2"}},
		obj{"resource": patient("b3", "other"), "request": obj{"method": "PUT", "url": "Patient/b3"}},
	}}
	resp, out := call(t, s, "POST", "", bundle, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	assert.Equal(t, "batch-response", out["type"])
	var statuses []string
	for _, e := range asSlice(out["entry"]) {
		statuses = append(statuses, e.(obj)["response"].(obj)["status"].(string))
	}
	assert.Equal(t, []string{"201 Created", "400 Bad Request", "201 Created"}, statuses)
	bad := asSlice(out["entry"])[1].(obj)["response"].(obj)["outcome"].(obj)
	assert.Contains(t, expressions(t, bad), "Patient.gender")
	assert.Equal(t, 2, searchTotal(t, s, "Patient?_count=0"))
}

func TestHistoryNewestFirstAndStable(t *testing.T) {
	s := fhirtest.Shared(t)
	for _, g := range []string{"male", "female", "other"} {
		resp, out := call(t, s, "PUT", "Patient/h1", patient("h1", g), nil)
		require.Less(t, resp.StatusCode, 300, "%v", out)
	}
	// Medplum's MemoryRepository reverses the stored list on every read, so
	// a second read came back in the opposite order: read twice.
	for range 2 {
		resp, h := call(t, s, "GET", "Patient/h1/_history", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "history", h["type"])
		var versions, genders []string
		for _, e := range asSlice(h["entry"]) {
			r := e.(obj)["resource"].(obj)
			versions = append(versions, versionID(r))
			genders = append(genders, r["gender"].(string))
		}
		assert.Equal(t, []string{"3", "2", "1"}, versions)
		assert.Equal(t, []string{"other", "female", "male"}, genders)
	}
	resp, v1 := call(t, s, "GET", "Patient/h1/_history/1", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "male", v1["gender"])
}

func TestUnchangedUpdateKeepsVersion(t *testing.T) {
	s := fhirtest.Shared(t)
	resp, _ := call(t, s, "PUT", "Patient/u1", patient("u1", "male"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	resp, p := call(t, s, "PUT", "Patient/u1", patient("u1", "male"), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "1", versionID(p), "an identical rewrite does not make a version")
}

func TestConditionalUpdateByIdentifier(t *testing.T) {
	s := fhirtest.Shared(t)
	const cond = "Patient?identifier=http://payer.example/member|ZZCANARY-1"
	resp, first := call(t, s, "PUT", cond, patient("", "male", "http://payer.example/member", "ZZCANARY-1"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", first)
	resp, second := call(t, s, "PUT", cond, patient("", "female", "http://payer.example/member", "ZZCANARY-1"), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", second)
	assert.Equal(t, first["id"], second["id"])
	assert.Equal(t, "2", versionID(second))

	_, found := call(t, s, "GET", cond, nil, nil)
	assert.EqualValues(t, 1, found["total"])
	r := asSlice(found["entry"])[0].(obj)["resource"].(obj)
	assert.Equal(t, "female", r["gender"])
	assert.Equal(t, "2", versionID(r))

	// Two matches: 412.
	resp, _ = call(t, s, "POST", "Patient", patient("", "male", "http://payer.example/member", "ZZCANARY-1"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	resp, oo := call(t, s, "PUT", cond, patient("", "male", "http://payer.example/member", "ZZCANARY-1"), nil)
	assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode, "%v", oo)
}

func TestConditionalCreate(t *testing.T) {
	s := fhirtest.Shared(t)
	h := http.Header{"If-None-Exist": {"identifier=urn:x|1"}}
	resp, a := call(t, s, "POST", "Patient", patient("", "male", "urn:x", "1"), h)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", a)
	resp, b := call(t, s, "POST", "Patient", patient("", "male", "urn:x", "1"), h)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", b)
	assert.Equal(t, a["id"], b["id"])
	assert.Equal(t, 1, searchTotal(t, s, "Patient?_count=0"))
}

func TestIfMatch(t *testing.T) {
	s := fhirtest.Shared(t)
	resp, p := call(t, s, "PUT", "Patient/m1", patient("m1", "male"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	etag := resp.Header.Get("ETag")
	assert.Equal(t, `W/"1"`, etag)
	assert.NotEmpty(t, resp.Header.Get("Last-Modified"))
	assert.Equal(t, s.URL()+"/Patient/m1/_history/1", resp.Header.Get("Location"))
	assert.Equal(t, "1", versionID(p))

	resp, p = call(t, s, "PUT", "Patient/m1", patient("m1", "female"), http.Header{"If-Match": {etag}})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", p)
	assert.Equal(t, `W/"2"`, resp.Header.Get("ETag"))

	resp, oo := call(t, s, "PUT", "Patient/m1", patient("m1", "other"), http.Header{"If-Match": {etag}})
	assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode)
	assert.Equal(t, "conflict", issues(t, oo)[0]["code"])

	resp, _ = call(t, s, "PUT", "Patient/m2", patient("m2", "other"), http.Header{"If-Match": {`W/"1"`}})
	assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode, "If-Match on a resource that does not exist")

	resp, _ = call(t, s, "GET", "Patient/m1", nil, http.Header{"If-None-Match": {`W/"2"`}})
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
}

func TestDeleteAndGone(t *testing.T) {
	s := fhirtest.Shared(t)
	resp, _ := call(t, s, "PUT", "Patient/x1", patient("x1", "male", "urn:x", "del"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	resp, _ = call(t, s, "DELETE", "Patient/x1", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = call(t, s, "GET", "Patient/x1", nil, nil)
	assert.Equal(t, http.StatusGone, resp.StatusCode)
	assert.Equal(t, 0, searchTotal(t, s, "Patient?identifier=urn:x|del"), "a deleted resource leaves the identifier index")
	resp, _ = call(t, s, "DELETE", "Patient/x1", nil, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "deleting again is idempotent")
	resp, _ = call(t, s, "DELETE", "Patient/never", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	_, h := call(t, s, "GET", "Patient/x1/_history", nil, nil)
	first := asSlice(h["entry"])[0].(obj)
	assert.Equal(t, "DELETE", first["request"].(obj)["method"])
	resp, p := call(t, s, "PUT", "Patient/x1", patient("x1", "female"), nil)
	assert.Equal(t, http.StatusCreated, resp.StatusCode, "a deleted resource can be created again")
	assert.Equal(t, "3", versionID(p))
}

func TestSearch(t *testing.T) {
	s := fhirtest.Shared(t)
	for i := range 25 {
		resp, _ := call(t, s, "PUT", fmt.Sprintf("Patient/s%d", i), patient(fmt.Sprintf("s%d", i), "male", "urn:s", fmt.Sprint(i)), nil)
		require.Equal(t, http.StatusCreated, resp.StatusCode)
	}
	_, b := call(t, s, "GET", "Patient?_id=s3,s4", nil, nil)
	assert.EqualValues(t, 2, b["total"])
	_, b = call(t, s, "GET", "Patient?identifier=7", nil, nil)
	assert.EqualValues(t, 1, b["total"], "a value without system matches any system")
	_, b = call(t, s, "GET", "Patient?identifier=urn:other|7", nil, nil)
	assert.EqualValues(t, 0, b["total"])
	_, b = call(t, s, "GET", "Patient?identifier=urn:s|", nil, nil)
	assert.EqualValues(t, 25, b["total"], "system| matches every value of the system")

	_, b = call(t, s, "GET", "Patient", nil, nil)
	assert.EqualValues(t, 25, b["total"])
	assert.Len(t, asSlice(b["entry"]), 20, "default page size")
	var next string
	for _, l := range asSlice(b["link"]) {
		if l.(obj)["relation"] == "next" {
			next = l.(obj)["url"].(string)
		}
	}
	require.NotEmpty(t, next)
	_, b = call(t, s, "GET", strings.TrimPrefix(next, s.URL()), nil, nil)
	assert.Len(t, asSlice(b["entry"]), 5)
	_, b = call(t, s, "GET", "Patient?_count=3", nil, nil)
	assert.Len(t, asSlice(b["entry"]), 3)

	resp, oo := call(t, s, "GET", "Patient?nickname=x", nil, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%v", oo)
}

func TestMetadata(t *testing.T) {
	s := fhirtest.Shared(t)
	resp, cs := call(t, s, "GET", "metadata", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "CapabilityStatement", cs["resourceType"])
	assert.Equal(t, "4.0.1", cs["fhirVersion"])
	rest := asSlice(cs["rest"])[0].(obj)
	var patientRes obj
	for _, r := range asSlice(rest["resource"]) {
		if r.(obj)["type"] == "Patient" {
			patientRes = r.(obj)
		}
	}
	require.NotNil(t, patientRes)
	var codes []string
	for _, i := range asSlice(patientRes["interaction"]) {
		codes = append(codes, i.(obj)["code"].(string))
	}
	assert.Subset(t, codes, []string{"read", "vread", "update", "delete", "history-instance", "create", "search-type"})
	assert.Equal(t, true, patientRes["updateCreate"])
	assert.Equal(t, true, patientRes["conditionalUpdate"])
	var sys []string
	for _, i := range asSlice(rest["interaction"]) {
		sys = append(sys, i.(obj)["code"].(string))
	}
	assert.ElementsMatch(t, []string{"transaction", "batch"}, sys)
}

func TestReset(t *testing.T) {
	s := fhirtest.Shared(t)
	resp, _ := call(t, s, "PUT", "Patient/r1", patient("r1", "male"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	s.Reset(t)
	resp, _ = call(t, s, "GET", "Patient/r1", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, 0, searchTotal(t, s, "Patient?_count=0"))
}

func TestGzip(t *testing.T) {
	s := fhirtest.Shared(t)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, err := zw.Write([]byte(`{"resourceType":"Patient","id":"g1","gender":"female"}`))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	resp, raw, err := s.Do(context.Background(), "PUT", "Patient/g1", zipped.Bytes(), http.Header{
		"Content-Encoding": {"gzip"},
		"Accept-Encoding":  {"gzip"},
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", raw)
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	var p obj
	require.NoError(t, json.Unmarshal(plain, &p))
	assert.Equal(t, "female", p["gender"])

	resp, raw, err = s.Do(context.Background(), "PUT", "Patient/g2", []byte("not gzip"), http.Header{"Content-Encoding": {"gzip"}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", raw)
}

func TestUnsupportedContentType(t *testing.T) {
	s := fhirtest.Shared(t)
	resp, oo := call(t, s, "POST", "Patient", `<Patient xmlns="http://hl7.org/fhir"/>`, http.Header{"Content-Type": {"application/fhir+xml"}})
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, "%v", oo)
	resp, oo = call(t, s, "POST", "Patient", `{"resourceType":`, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%v", oo)
}

func bundleOf(typ string, n int, conditional bool) obj {
	entries := make([]any, n)
	for i := range entries {
		id := fmt.Sprintf("cap%d", i)
		e := obj{"resource": patient(id, "", "urn:cap", id)}
		if conditional {
			delete(e["resource"].(obj), "id")
			e["request"] = obj{"method": "PUT", "url": "Patient?identifier=urn:cap|" + id}
		} else {
			e["request"] = obj{"method": "PUT", "url": "Patient/" + id}
		}
		entries[i] = e
	}
	return obj{"resourceType": "Bundle", "type": typ, "entry": entries}
}

func TestTransactionCaps(t *testing.T) {
	s := fhirtest.Shared(t)
	tests := []struct {
		n           int
		conditional bool
		status      int
	}{
		{8, true, http.StatusOK},
		{9, true, http.StatusRequestEntityTooLarge},
		{50, false, http.StatusOK},
		{51, false, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d_conditional=%v", tc.n, tc.conditional), func(t *testing.T) {
			s.Reset(t)
			resp, out := call(t, s, "POST", "", bundleOf("transaction", tc.n, tc.conditional), nil)
			require.Equal(t, tc.status, resp.StatusCode, "%v", out)
			if tc.status != http.StatusOK {
				assert.Equal(t, "too-costly", issues(t, out)[0]["code"])
				assert.Equal(t, 0, searchTotal(t, s, "Patient?_count=0"))
			} else {
				assert.Equal(t, tc.n, searchTotal(t, s, "Patient?_count=0"))
			}
		})
	}
	resp, out := call(t, s, "POST", "", bundleOf("batch", 120, true), nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "batches are not capped by default: %v", out)
}

func TestTransactionCapOptions(t *testing.T) {
	s := fhirtest.Start(t, fhirtest.TransactionCaps(3, 2), fhirtest.BatchCap(4), fhirtest.CapStatus(400))
	resp, _ := call(t, s, "POST", "", bundleOf("transaction", 3, true), nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, _ = call(t, s, "POST", "", bundleOf("transaction", 2, true), nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = call(t, s, "POST", "", bundleOf("transaction", 4, false), nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, _ = call(t, s, "POST", "", bundleOf("batch", 5, false), nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, _ = call(t, s, "POST", "", bundleOf("batch", 4, false), nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestUpdateAsCreateByDefault(t *testing.T) {
	s := fhirtest.Shared(t)
	resp, p := call(t, s, "PUT", "Patient/client-chosen-1", patient("client-chosen-1", "male"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", p)
	assert.Equal(t, "client-chosen-1", p["id"])

	// Conditional update that matches nothing but carries an id: update-as-create with that id.
	bundle := obj{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		obj{"resource": patient("client-chosen-2", "male", "urn:m", "2"), "request": obj{"method": "PUT", "url": "Patient?identifier=urn:m|2"}},
	}}
	resp, out := call(t, s, "POST", "", bundle, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	resp, _ = call(t, s, "GET", "Patient/client-chosen-2", nil, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// POST ignores a client id, as FHIR create does.
	resp, p = call(t, s, "POST", "Patient", patient("ignored", "male"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.NotEqual(t, "ignored", p["id"])
}

func TestRefuseClientIDs(t *testing.T) {
	s := fhirtest.Start(t, fhirtest.RefuseClientIDs(), fhirtest.UUIDVersionIDs())
	const id = "0b7f8a52-5a0e-4c39-9d2e-3f1d1b2a9c11"
	resp, oo := call(t, s, "PUT", "Patient/"+id, patient(id, "male"), nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%v", oo)

	resp, oo = call(t, s, "PUT", "Patient?identifier=urn:m|1", patient(id, "male", "urn:m", "1"), nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%v", oo)

	// The fallback a client uses: create (server id), then update by that id.
	resp, p := call(t, s, "PUT", "Patient?identifier=urn:m|1", patient("", "male", "urn:m", "1"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", p)
	newID := p["id"].(string)
	assert.Regexp(t, `^[0-9a-f-]{36}$`, newID)
	assert.Regexp(t, `^[0-9a-f-]{36}$`, versionID(p), "versionIds are UUIDs")
	p["gender"] = "female"
	resp, p2 := call(t, s, "PUT", "Patient/"+newID, p, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", p2)

	_, cs := call(t, s, "GET", "metadata", nil, nil)
	res := asSlice(asSlice(cs["rest"])[0].(obj)["resource"])[0].(obj)
	assert.Equal(t, false, res["updateCreate"])
}

func TestRestartSamePort(t *testing.T) {
	s := fhirtest.Start(t)
	url := s.URL()
	resp, _ := call(t, s, "PUT", "Patient/r1", patient("r1", "male"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	s.Restart(t)
	assert.Equal(t, url, s.URL())
	resp, _ = call(t, s, "GET", "Patient/r1", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "data does not survive a restart")

	s.Kill()
	_, _, err := s.Do(context.Background(), "GET", "metadata", nil, nil)
	require.Error(t, err, "a killed server refuses connections")
	s.Restart(t)
	resp, _ = call(t, s, "GET", "metadata", nil, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestTranslate(t *testing.T) {
	s := fhirtest.Shared(t)
	cm := obj{
		"resourceType": "ConceptMap", "id": "x12-gender", "status": "active",
		"url": "http://fhirsync.example/ConceptMap/x12-gender",
		"group": []any{obj{
			"source": "urn:x12:gender", "target": "http://hl7.org/fhir/administrative-gender",
			"element": []any{
				obj{"code": "M", "target": []any{obj{"code": "male", "equivalence": "equivalent"}}},
				obj{"code": "F", "target": []any{obj{"code": "female", "equivalence": "equivalent"}}},
			},
		}},
	}
	resp, out := call(t, s, "PUT", "ConceptMap/x12-gender", cm, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", out)

	params := func(p obj) map[string][]any {
		m := map[string][]any{}
		for _, x := range asSlice(p["parameter"]) {
			m[x.(obj)["name"].(string)] = append(m[x.(obj)["name"].(string)], x)
		}
		return m
	}
	resp, out = call(t, s, "GET", "ConceptMap/$translate?url=http://fhirsync.example/ConceptMap/x12-gender&system=urn:x12:gender&code=F", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	ps := params(out)
	assert.Equal(t, true, ps["result"][0].(obj)["valueBoolean"])
	require.Len(t, ps["match"], 1)
	parts := map[string]obj{}
	for _, p := range asSlice(ps["match"][0].(obj)["part"]) {
		parts[p.(obj)["name"].(string)] = p.(obj)
	}
	assert.Equal(t, "equivalent", parts["equivalence"]["valueCode"])
	assert.Equal(t, obj{"system": "http://hl7.org/fhir/administrative-gender", "code": "female"}, parts["concept"]["valueCoding"])
	assert.Equal(t, "http://fhirsync.example/ConceptMap/x12-gender", parts["source"]["valueUri"])

	body := obj{"resourceType": "Parameters", "parameter": []any{
		obj{"name": "coding", "valueCoding": obj{"system": "urn:x12:gender", "code": "U"}},
		obj{"name": "targetsystem", "valueUri": "http://hl7.org/fhir/administrative-gender"},
	}}
	resp, out = call(t, s, "POST", "ConceptMap/$translate", body, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	ps = params(out)
	assert.Equal(t, false, ps["result"][0].(obj)["valueBoolean"])
	assert.NotEmpty(t, ps["message"])

	resp, _ = call(t, s, "GET", "ConceptMap/$translate?code=F", nil, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "code without system")
}

func TestValidateHelper(t *testing.T) {
	valid, err := os.ReadFile(filepath.Join("testdata", "valid-bundle.json"))
	require.NoError(t, err)
	assert.Empty(t, fhirtest.Validate(t, valid))
	fhirtest.RequireValid(t, valid)

	invalid, err := os.ReadFile(filepath.Join("testdata", "invalid.ndjson"))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"2: Patient/n2: Patient.gender: Value is not in the required value set http://hl7.org/fhir/ValueSet/administrative-gender",
		"3: Patient/n3: Patient.nickname: Invalid additional property \"nickname\"",
	}, fhirtest.Validate(t, invalid))

	bundle, err := os.ReadFile(filepath.Join("testdata", "invalid-bundle.json"))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"9: Coverage/cov1: Coverage.status: Value is not in the required value set http://hl7.org/fhir/ValueSet/fm-status",
	}, fhirtest.Validate(t, bundle))
}

func BenchmarkIdentifierSearch20k(b *testing.B) {
	s := fhirtest.Start(b)
	const n = 20000
	const per = 1000
	for start := 0; start < n; start += per {
		entries := make([]any, per)
		for i := range entries {
			k := start + i
			entries[i] = obj{
				"resource": obj{"resourceType": "Patient", "identifier": []any{obj{"system": "urn:bench", "value": fmt.Sprint(k)}}},
				"request":  obj{"method": "PUT", "url": fmt.Sprintf("Patient?identifier=urn:bench|%d", k)},
			}
		}
		data, err := json.Marshal(obj{"resourceType": "Bundle", "type": "batch", "entry": entries})
		require.NoError(b, err)
		resp, out, err := s.Do(context.Background(), "POST", "", data, nil)
		require.NoError(b, err)
		require.Equal(b, http.StatusOK, resp.StatusCode, "%s", out)
	}
	b.Run("search", func(b *testing.B) {
		i := 0
		for b.Loop() {
			resp, out, err := s.Do(context.Background(), "GET", fmt.Sprintf("Patient?identifier=urn:bench|%d", (i*7919)%n), nil, nil)
			if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte(`"total":1`)) {
				b.Fatalf("search: %v %v %s", err, resp, out)
			}
			i++
		}
	})
	b.Run("conditional-update", func(b *testing.B) {
		i := 0
		for b.Loop() {
			k := (i * 7919) % n
			body := fmt.Sprintf(`{"resourceType":"Patient","active":%v,"identifier":[{"system":"urn:bench","value":"%d"}]}`, i%2 == 0, k)
			resp, out, err := s.Do(context.Background(), "PUT", fmt.Sprintf("Patient?identifier=urn:bench|%d", k), []byte(body), nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("update: %v %v %s", err, resp, out)
			}
			i++
		}
	})
}

func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		s := fhirtest.Start(b)
		_ = s.Close()
	}
}

func TestConditionalUpdateIfMatchAndDuplicateCondition(t *testing.T) {
	s := fhirtest.Shared(t)
	const cond = "Patient?identifier=urn:c|1"
	resp, p := call(t, s, "PUT", cond, patient("", "male", "urn:c", "1"), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", p)
	resp, _ = call(t, s, "PUT", cond, patient("", "female", "urn:c", "1"), http.Header{"If-Match": {`W/"7"`}})
	assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode)
	resp, _ = call(t, s, "PUT", cond, patient("", "female", "urn:c", "1"), http.Header{"If-Match": {`W/"1"`}})
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	bundle := obj{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		obj{"resource": patient("", "male", "urn:c", "2"), "request": obj{"method": "PUT", "url": "Patient?identifier=urn:c|2"}},
		obj{"resource": patient("", "female", "urn:c", "2"), "request": obj{"method": "PUT", "url": "Patient?identifier=urn:c|2"}},
	}}
	resp, oo := call(t, s, "POST", "", bundle, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%v", oo)
	assert.Equal(t, 0, searchTotal(t, s, "Patient?identifier=urn:c|2&_count=0"))
}
