package restsink

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/fhirsync/fhirsync/sink"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999", 24 * time.Hour},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second}, // IMF-fixdate
		{"Saturday, 01-Mar-25 12:01:00 GMT", time.Minute},   // RFC 850
		{"Sat Mar  1 12:00:10 2025", 10 * time.Second},      // asctime
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0},                // past
		{"Mon, 01 Mar 2027 12:00:00 GMT", 24 * time.Hour},   // capped
		{"Sat, 01 Mar 2025 12:00:30 ZZCANARYZZ", 0},         // malformed
		{"Sat, 01 Mar 2025 12:00:00 GMT", 0},                // now
		{"2147483648", 24 * time.Hour},                      // overflows int32
		{"3 ", 3 * time.Second},                             // trailing space
		{"Sat, 01 Mar 2025 12:02:03 GMT", 2*time.Minute + 3*time.Second},
	} {
		assert.Equal(t, tc.want, retryAfter(tc.in, now), "Retry-After %q", tc.in)
	}
}

func TestParseOutcome(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		issues []Issue
		diag   string
	}{
		{
			name: "issues with paths",
			body: `{"resourceType":"OperationOutcome","issue":[
				{"severity":"error","code":"value","diagnostics":"birthDate ZZCANARYZZ invalid","expression":["Patient.birthDate"]},
				{"severity":"warning","code":"invariant","details":{"text":"name ZZCANARYZZ"},"location":["Patient.name[0].family"]}]}`,
			issues: []Issue{
				{Severity: "error", Code: "value", Expression: []string{"Patient.birthDate"}},
				{Severity: "warning", Code: "invariant", Expression: []string{"Patient.name[0].family"}},
			},
			diag: "birthDate ZZCANARYZZ invalid; name ZZCANARYZZ",
		},
		{
			name: "unsafe expressions and codes dropped",
			body: `{"resourceType":"OperationOutcome","issue":[{"severity":"ZZCANARYZZ","code":"Not A Code",
				"expression":["Patient.identifier.where(value='ZZCANARYZZ')","Bundle.entry[3].resource.status","Patient.name['x']"]}]}`,
			issues: []Issue{{Severity: "unknown", Code: "unknown", Expression: []string{"Bundle.entry[3].resource.status"}}},
		},
		{
			name: "not an outcome",
			body: "<html>Internal error for ZZCANARYZZ</html>",
			diag: "<html>Internal error for ZZCANARYZZ</html>",
		},
		{
			name: "another resource",
			body: `{"resourceType":"Patient","name":[{"family":"ZZCANARYZZ"}]}`,
			diag: `{"resourceType":"Patient","name":[{"family":"ZZCANARYZZ"}]}`,
		},
		{name: "empty", body: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := parseOutcome([]byte(tc.body))
			assert.Equal(t, tc.issues, o.issues)
			assert.Equal(t, tc.diag, o.diagnostics)
			e := &Error{Method: "PUT", Type: "Patient", ID: "p1", StatusCode: 400, Issues: o.issues, Err: sink.ErrInvalid, diagnostics: o.diagnostics}
			assert.NotContains(t, e.Error(), "ZZCANARYZZ")
			assert.Equal(t, tc.diag, e.Diagnostics())
		})
	}
}

func TestBlamedEntries(t *testing.T) {
	o := parseOutcome([]byte(`{"resourceType":"OperationOutcome","issue":[
		{"severity":"error","code":"required","expression":["Bundle.entry[1].resource.status","Bundle.entry[7]"]},
		{"severity":"error","code":"conflict","expression":["Bundle.entry[3]"]},
		{"severity":"error","code":"invalid","expression":["Patient.name"]}]}`))
	assert.Equal(t, map[int]bool{1: true, 3: true}, o.blamedEntries(5))
	assert.Nil(t, parseOutcome([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}`)).blamedEntries(5))
}

func TestEntryStatus(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"201", 201, true},
		{"201 Created", 201, true},
		{"412 Precondition Failed", 412, true},
		{"20", 0, false},
		{"2011", 0, false},
		{"abc", 0, false},
		{"", 0, false},
		{"999", 0, false},
		{"099", 0, false},
	} {
		got, ok := entryStatus(tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		assert.Equal(t, tc.ok, ok, tc.in)
	}
}

func TestClassifyStatus(t *testing.T) {
	const after = 3 * time.Second
	for _, tc := range []struct {
		status    int
		method    string
		bundle    bool
		retryable bool
		target    error
		scope     scope
	}{
		{400, "PUT", false, false, sink.ErrInvalid, scopeOp},
		{422, "PUT", false, false, sink.ErrInvalid, scopeOp},
		{410, "PUT", false, false, sink.ErrInvalid, scopeOp},
		{412, "PUT", false, false, sink.ErrConflict, scopeOp},
		{409, "PUT", false, false, sink.ErrConflict, scopeOp},
		{401, "PUT", false, true, ErrAuth, scopeServer},
		{403, "PUT", false, false, ErrAuth, scopeFatal},
		{404, "PUT", false, false, ErrUnsupported, scopeFatal},
		{404, "PUT", true, false, ErrUnsupported, scopeFatal},
		{404, "DELETE", false, false, sink.ErrInvalid, scopeOp}, // not reached: a DELETE 404 is success
		{405, "PUT", false, false, ErrUnsupported, scopeFatal},
		{415, "PUT", false, false, ErrUnsupported, scopeFatal},
		{413, "POST", true, false, ErrUnsupported, scopeFatal},
		{413, "PUT", false, false, sink.ErrInvalid, scopeOp},
		{408, "PUT", false, true, ErrUnavailable, scopeOp},
		{429, "PUT", false, true, ErrUnavailable, scopeServer},
		{500, "PUT", false, true, ErrUnavailable, scopeOp},
		{501, "PUT", false, false, ErrUnsupported, scopeFatal},
		{502, "PUT", false, true, ErrUnavailable, scopeServer},
		{503, "PUT", false, true, ErrUnavailable, scopeServer},
		{504, "PUT", true, true, ErrUnavailable, scopeServer},
		{599, "PUT", false, true, ErrUnavailable, scopeOp},
		{302, "PUT", false, false, ErrUnsupported, scopeFatal},
		{100, "PUT", false, false, ErrUnsupported, scopeFatal},
	} {
		e := &Error{Method: tc.method, Type: "Patient", ID: "p1"}
		err, sc := classifyStatus(e, tc.status, after, tc.bundle)
		assert.Equal(t, tc.retryable, sink.IsRetryable(err), "HTTP %d %s", tc.status, tc.method)
		assert.ErrorIs(t, err, tc.target, "HTTP %d %s", tc.status, tc.method)
		assert.Equal(t, tc.scope, sc, "HTTP %d %s", tc.status, tc.method)
		if tc.retryable {
			assert.Equal(t, after, sink.RetryAfter(err), "HTTP %d", tc.status)
		}
		var re *Error
		assert.True(t, errors.As(err, &re))
		assert.Equal(t, tc.status, re.StatusCode)
		assert.Contains(t, err.Error(), "Patient/p1")
	}
}

func TestEscapeToken(t *testing.T) {
	assert.Equal(t, "plain", escapeToken("plain"))
	assert.Equal(t, `a\|b\,c\$d\\e`, escapeToken(`a|b,c$d\e`))
}

func TestErrorText(t *testing.T) {
	e := &Error{Method: http.MethodPut, Type: "Claim", Conditional: true, Bundle: "batch", Entry: 4, StatusCode: 400,
		Err: sink.ErrInvalid, Issues: []Issue{{"error", "required", []string{"Claim.status"}}, {"error", "value", nil},
			{"warning", "invariant", nil}, {"error", "structure", nil}, {"error", "invalid", nil}}}
	assert.Equal(t, "restsink: batch entry 4 PUT Claim?identifier: HTTP 400: sink: invalid resource; error required at Claim.status; "+
		"error value; warning invariant; error structure; and 1 more issue(s)", e.Error())
	assert.False(t, strings.Contains(e.Error(), "|"))
}
