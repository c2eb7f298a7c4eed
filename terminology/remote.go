package terminology

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fhirsync/fhirsync/internal/fhiroutcome"
	"github.com/fhirsync/fhirsync/internal/neterr"
)

// RemoteOptions configures a [Remote]. A nil *RemoteOptions means defaults.
type RemoteOptions struct {
	// ConceptMapURL is the canonical url of the map the server should use
	// (operation parameter url). Empty lets the server choose one from the
	// system and target parameters.
	ConceptMapURL string
	// ConceptMapVersion is the version of that map (parameter
	// conceptMapVersion).
	ConceptMapVersion string
	// ConceptMapID, when set, calls the instance-level operation
	// ConceptMap/{id}/$translate instead of the type-level one.
	ConceptMapID string
	// ConceptMap, when set, is sent inline (parameter conceptMap); this
	// forces POST.
	ConceptMap *ConceptMap
	// Source is the canonical url of the source value set (parameter
	// source).
	Source string
	// Target is the canonical url of the target value set (parameter
	// target).
	Target string
	// Method is http.MethodGet or http.MethodPost. Empty means GET. GET
	// puts the code in the URL (codes are not PHI, but they land in access
	// logs); POST sends a Parameters resource.
	Method string
	// Accept decides which equivalences count as a mapping. Nil means
	// [Equivalence.IsMatch].
	Accept func(Equivalence) bool
	// MaxResponseBytes bounds the response body read. Zero means 1 MiB.
	MaxResponseBytes int64
}

// Remote is a [Mapper] that calls ConceptMap/$translate (FHIR R4) on a
// terminology server. Each Translate is one HTTP request: put a [Cache] in
// front of it. Authentication belongs to the *http.Client's transport.
//
// Errors are classified: a [*RemoteError] says whether the failure is
// retryable (429, 408, 5xx but 501, transport failures) or permanent (other
// 4xx, an unreadable answer); see [IsRetryable]. Remote does not retry.
type Remote struct {
	client *http.Client
	base   string
	opts   RemoteOptions
	accept func(Equivalence) bool
	inline []byte // JSON of opts.ConceptMap
	err    error  // configuration error, returned by every call
}

// NewRemote returns a Remote that calls baseURL (the FHIR base, like
// "http://127.0.0.1:8103/fhir/R4") with client. A nil client means
// http.DefaultClient.
func NewRemote(client *http.Client, baseURL string, opts *RemoteOptions) *Remote {
	r := &Remote{client: client, base: strings.TrimRight(baseURL, "/"), accept: Equivalence.IsMatch}
	if r.client == nil {
		r.client = http.DefaultClient
	}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.Accept != nil {
		r.accept = r.opts.Accept
	}
	if r.opts.MaxResponseBytes <= 0 {
		r.opts.MaxResponseBytes = 1 << 20
	}
	switch r.opts.Method {
	case "":
		r.opts.Method = http.MethodGet
	case http.MethodGet, http.MethodPost:
	default:
		r.err = errors.New("terminology: remote: Method must be GET or POST")
	}
	if r.opts.ConceptMap != nil {
		r.opts.Method = http.MethodPost
		r.inline, r.err = json.Marshal(r.opts.ConceptMap)
	}
	if u, err := url.Parse(r.base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.err = errors.New("terminology: remote: base URL must be an absolute http(s) URL")
	}
	return r
}

// TranslateMatch is one match of a $translate answer.
type TranslateMatch struct {
	// Equivalence is the match's equivalence (R5 relationship codes are
	// converted to R4). A match without one is reported as relatedto.
	Equivalence Equivalence
	// Concept is the translated coding.
	Concept Coding
	// Source is the canonical url of the map that produced the match.
	Source string
}

// TranslateResult is a decoded $translate answer.
type TranslateResult struct {
	// Result is the server's "result" parameter: whether it found a
	// mapping at all.
	Result bool
	// Message is the server's "message" parameter. It is the server's free
	// text and may echo the input; do not log it where codes may not go.
	Message string
	// Matches are the server's matches, in its order.
	Matches []TranslateMatch
}

// Translate calls $translate for from and returns the first match whose
// concept is in targetSystem (any system when targetSystem is "") and whose
// equivalence is accepted. result=false is a [*NoMappingError] with
// [ReasonRemote]; result=true without a usable match is one with
// [ReasonExcluded].
func (r *Remote) Translate(ctx context.Context, from Coding, targetSystem string) (Coding, error) {
	res, err := r.Lookup(ctx, from, targetSystem)
	if err != nil {
		return Coding{}, err
	}
	var excludedBy Equivalence
	for _, m := range res.Matches {
		if targetSystem != "" && m.Concept.System != "" && m.Concept.System != targetSystem {
			continue // a match into another system
		}
		if !r.accept(m.Equivalence) {
			if excludedBy == "" {
				excludedBy = m.Equivalence
			}
			continue
		}
		if m.Concept.Code == "" || (targetSystem != "" && m.Concept.System != targetSystem) {
			continue
		}
		c := m.Concept
		c.Equivalence = m.Equivalence
		c.ConceptMap = m.Source
		if c.ConceptMap == "" {
			c.ConceptMap = r.opts.ConceptMapURL
		}
		return c, nil
	}
	if !res.Result && excludedBy == "" {
		return Coding{}, &NoMappingError{From: from, TargetSystem: targetSystem, Reason: ReasonRemote}
	}
	return Coding{}, &NoMappingError{From: from, TargetSystem: targetSystem, Reason: ReasonExcluded, Equivalence: excludedBy}
}

// Lookup calls $translate for from and returns the decoded answer, with
// every match (unfiltered).
func (r *Remote) Lookup(ctx context.Context, from Coding, targetSystem string) (*TranslateResult, error) {
	if r.err != nil {
		return nil, r.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req, err := r.request(ctx, from, targetSystem)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, &RemoteError{Err: transportCause(err), retryable: true}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.opts.MaxResponseBytes+1))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, &RemoteError{StatusCode: resp.StatusCode, Err: transportCause(err), retryable: true}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(resp, body)
	}
	if int64(len(body)) > r.opts.MaxResponseBytes {
		return nil, &RemoteError{StatusCode: resp.StatusCode, Err: errResponseTooLarge}
	}
	res, err := decodeTranslate(body)
	if err != nil {
		return nil, &RemoteError{StatusCode: resp.StatusCode, Err: err}
	}
	return res, nil
}

// request builds the GET or POST request.
func (r *Remote) request(ctx context.Context, from Coding, targetSystem string) (*http.Request, error) {
	endpoint := r.base + "/ConceptMap/$translate"
	if r.opts.ConceptMapID != "" {
		endpoint = r.base + "/ConceptMap/" + url.PathEscape(r.opts.ConceptMapID) + "/$translate"
	}
	params := []struct{ name, value string }{
		{"url", r.opts.ConceptMapURL},
		{"conceptMapVersion", r.opts.ConceptMapVersion},
		{"system", from.System},
		{"version", from.Version},
		{"code", from.Code},
		{"source", r.opts.Source},
		{"target", r.opts.Target},
		{"targetsystem", targetSystem},
	}
	if r.opts.Method == http.MethodGet {
		q := url.Values{}
		for _, p := range params {
			if p.value != "" {
				q.Set(p.name, p.value)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/fhir+json")
		return req, nil
	}
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Parameters","parameter":[`)
	n := 0
	for _, p := range params {
		if p.value == "" {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		typ := "valueUri"
		switch p.name {
		case "code":
			typ = "valueCode"
		case "version", "conceptMapVersion":
			typ = "valueString"
		}
		name, _ := json.Marshal(p.name)
		value, _ := json.Marshal(p.value)
		fmt.Fprintf(&b, `{"name":%s,%q:%s}`, name, typ, value)
	}
	if r.inline != nil {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"name":"conceptMap","resource":`)
		b.Write(r.inline)
		b.WriteByte('}')
	}
	b.WriteString("]}")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, &b)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("Content-Type", "application/fhir+json")
	return req, nil
}

// ---- response decoding ----

type fhirParameters struct {
	ResourceType string          `json:"resourceType"`
	Parameter    []fhirParameter `json:"parameter"`
}

type fhirParameter struct {
	Name           string          `json:"name"`
	ValueBoolean   *bool           `json:"valueBoolean"`
	ValueString    string          `json:"valueString"`
	ValueCode      string          `json:"valueCode"`
	ValueURI       string          `json:"valueUri"`
	ValueCanonical string          `json:"valueCanonical"`
	ValueCoding    *fhirCoding     `json:"valueCoding"`
	Part           []fhirParameter `json:"part"`
}

type fhirCoding struct {
	System  string `json:"system"`
	Version string `json:"version"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

var (
	errResponseTooLarge = errors.New("response body too large")
	errNotParameters    = errors.New("response is not a Parameters resource")
	errBadResponse      = errors.New("response is not valid JSON")
	errBadEquivalence   = errors.New("match has an unknown equivalence code")
)

// decodeTranslate decodes a $translate Parameters answer.
func decodeTranslate(body []byte) (*TranslateResult, error) {
	var p fhirParameters
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, errBadResponse
	}
	if p.ResourceType != "Parameters" {
		return nil, errNotParameters
	}
	res := &TranslateResult{}
	for _, param := range p.Parameter {
		switch param.Name {
		case "result":
			res.Result = param.ValueBoolean != nil && *param.ValueBoolean
		case "message":
			res.Message = param.ValueString
		case "match":
			var m TranslateMatch
			for _, part := range param.Part {
				switch part.Name {
				case "equivalence":
					m.Equivalence = Equivalence(part.ValueCode)
				case "relationship":
					if m.Equivalence == "" {
						e, ok := equivalenceFromR5(part.ValueCode)
						if !ok {
							return nil, errBadEquivalence
						}
						m.Equivalence = e
					}
				case "concept":
					if part.ValueCoding != nil {
						m.Concept = Coding{System: part.ValueCoding.System, Version: part.ValueCoding.Version,
							Code: part.ValueCoding.Code, Display: part.ValueCoding.Display}
					}
				case "source", "originMap":
					if m.Source == "" {
						m.Source = part.ValueURI + part.ValueCanonical
					}
				}
			}
			if m.Equivalence == "" {
				m.Equivalence = EquivalenceRelatedTo
			}
			if !m.Equivalence.Valid() {
				return nil, errBadEquivalence
			}
			res.Matches = append(res.Matches, m)
		}
	}
	return res, nil
}

// ---- errors ----

// RemoteError is a failed call to a terminology server. Its text holds the
// HTTP status, the OperationOutcome issue codes and the transport cause,
// never the server's diagnostics (which may echo the request).
type RemoteError struct {
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// RetryAfter is the server's Retry-After, or 0.
	RetryAfter time.Duration
	// Issues are the issue.code values of the OperationOutcome returned,
	// if any (like "not-found", "invalid").
	Issues []string
	// Err is the underlying cause (transport failure, bad response), if any.
	Err error

	retryable   bool
	diagnostics string
}

// Error returns "terminology: $translate: ..." with the status and cause.
func (e *RemoteError) Error() string {
	var b strings.Builder
	b.WriteString("terminology: $translate: ")
	if e.StatusCode != 0 {
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.StatusCode))
	} else {
		b.WriteString("no response")
	}
	if len(e.Issues) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(e.Issues, ", "))
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.retryable {
		b.WriteString(" [retryable]")
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *RemoteError) Unwrap() error { return e.Err }

// Retryable reports whether trying again later may succeed: HTTP 408, 429,
// 5xx other than 501, or no response at all.
func (e *RemoteError) Retryable() bool { return e.retryable }

// Diagnostics returns the OperationOutcome's diagnostics and details text
// from the server. It is the server's free text, may echo the request, and
// is kept out of Error: do not log it where codes may not go.
func (e *RemoteError) Diagnostics() string { return e.diagnostics }

// IsRetryable reports whether err is a [*RemoteError] that is retryable
// (see [RemoteError.Retryable]). Context cancellation and every other
// error are not.
func IsRetryable(err error) bool {
	var re *RemoteError
	return errors.As(err, &re) && re.retryable
}

// statusError builds the error for a non-2xx response.
func statusError(resp *http.Response, body []byte) *RemoteError {
	code := resp.StatusCode
	e := &RemoteError{
		StatusCode: code,
		retryable:  code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || (code >= 500 && code != http.StatusNotImplemented),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
			Details     struct {
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) == nil && oo.ResourceType == "OperationOutcome" {
		var diag []string
		for _, is := range oo.Issue {
			if fhiroutcome.IsIssueType(is.Code) {
				e.Issues = append(e.Issues, is.Code)
			}
			for _, s := range []string{is.Details.Text, is.Diagnostics} {
				if s != "" {
					diag = append(diag, s)
				}
			}
		}
		e.diagnostics = strings.Join(diag, "; ")
	}
	return e
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// transportCause reduces a transport error to its kind (internal/neterr):
// the *url.Error's text holds the request URL (with the code, for GET), and
// net/http's or a RoundTripper's can quote the server's status line or the
// URL; none of it survives. A timeout stays a net.Error with Timeout true
// and unwraps to its deadline sentinel.
func transportCause(err error) error { return neterr.Classify(err) }
