package restsink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
)

const fhirJSON = "application/fhir+json"

// errorBodyLimit bounds the error body read for a single request.
const errorBodyLimit = 1 << 20

// opError starts the *Error of an op.
func opError(it *item, bundle string, entry int) *Error {
	return &Error{Method: it.method, Type: it.typ, ID: it.id, Conditional: it.cond, Bundle: bundle, Entry: entry}
}

// body returns the JSON an upsert sends: the resource, without its id when
// it is a conditional update and KeepID is off. It marshals a copy:
// google/fhir's marshaller rewrites typed reference ids in the message it is
// given, and the caller's message may be shared.
func (s *Sink) body(it *item) ([]byte, error) {
	r, err := resource.Unwrap(it.op.Resource)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", sink.ErrInvalid, err)
	}
	c := proto.Clone(r)
	if it.cond && !s.opts.KeepID {
		m := c.ProtoReflect()
		if f := m.Descriptor().Fields().ByName(protoreflect.Name("id")); f != nil {
			m.Clear(f)
		}
	}
	b, err := resource.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", sink.ErrInvalid, err)
	}
	return b, nil
}

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// send makes one HTTP request to the base URL plus path.
func (s *Sink) send(ctx context.Context, method, path string, body []byte, ifMatch string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		if s.opts.Gzip {
			var buf bytes.Buffer
			zw := gzipPool.Get().(*gzip.Writer)
			zw.Reset(&buf)
			zw.Write(body)
			zw.Close()
			gzipPool.Put(zw)
			body = buf.Bytes()
		}
		rd = bytes.NewReader(body)
	}
	u := s.base
	if path != "" {
		u += "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range s.opts.Header {
		req.Header[k] = append([]string(nil), v...)
	}
	req.Header.Set("Accept", fhirJSON)
	if body != nil {
		req.Header.Set("Content-Type", fhirJSON)
		if s.opts.Gzip {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}
	req.Header.Set("Prefer", "return=minimal")
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	return s.client.Do(req)
}

// readLimited reads at most n bytes of r; tooLarge reports that more remained.
func readLimited(r io.Reader, n int64) (b []byte, tooLarge bool, err error) {
	b, err = io.ReadAll(io.LimitReader(r, n+1))
	if int64(len(b)) > n {
		return b[:n], true, err
	}
	return b, false, err
}

// closeBody drains a little of the body, so the connection can be reused,
// and closes it.
func closeBody(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func success(status int, method string) bool {
	return status/100 == 2 || method == http.MethodDelete && (status == http.StatusNotFound || status == http.StatusGone)
}

// sendOne writes one op with its own request.
func (s *Sink) sendOne(ctx context.Context, it *item) result {
	var body []byte
	if it.method == http.MethodPut {
		b, err := s.body(it)
		if err != nil {
			e := opError(it, "", 0)
			e.Err = err
			return result{err: e}
		}
		body = b
	}
	resp, err := s.send(ctx, it.method, it.url, body, it.ifMatch)
	if err != nil {
		err, sc := classifyTransport(ctx, opError(it, "", 0), err)
		return result{err: err, scope: sc}
	}
	defer closeBody(resp)
	if success(resp.StatusCode, it.method) {
		return result{}
	}
	b, _, _ := readLimited(resp.Body, min(s.opts.MaxResponseBytes, errorBodyLimit))
	oo := parseOutcome(b)
	e := opError(it, "", 0)
	e.Issues, e.diagnostics = oo.issues, oo.diagnostics
	err, sc := classifyStatus(e, resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), s.now()), false)
	return result{err: err, scope: sc}
}

// sendBundle writes the ops of u in one transaction or batch Bundle and
// returns one result per op. A transaction the server rejects for entries it
// names is sent again without them; one it rejects without naming an entry
// is sent again entry by entry (see the package documentation). aborted
// returns the server-wide failure that stops further requests, or nil.
func (s *Sink) sendBundle(ctx context.Context, u unit, aborted func() error) []result {
	results := make([]result, len(u.items))
	bodies := make([][]byte, len(u.items))
	var live []int // positions in u.items of the entries to send, in order
	for i, it := range u.items {
		if it.method == http.MethodPut {
			b, err := s.body(it)
			if err != nil {
				e := opError(it, "", 0)
				e.Err = err
				results[i] = result{err: e}
				continue
			}
			bodies[i] = b
		}
		live = append(live, i)
	}
	for len(live) > 0 {
		again, isolate := s.sendBundleOnce(ctx, u, live, bodies, results)
		if isolate {
			s.isolate(ctx, u, live, bodies, results, aborted)
			break
		}
		if len(again) == len(live) {
			break // cannot happen; guards the loop
		}
		live = again
	}
	return results
}

// isolate sends each entry live of u in a transaction of its own, one after
// the other in bundle order, and fills in their results: the server refused
// their transaction with a permanent failure that names no entry, so this
// finds the entries at fault and writes the others (the package
// documentation says why that is safe). The caller holds the entries'
// resources, so nothing else is in flight for them. A failure beyond the
// entry (the server unavailable, a configuration error, ctx done) stops the
// re-sending: the entries not sent fail with it.
func (s *Sink) isolate(ctx context.Context, u unit, live []int, bodies [][]byte, results []result, aborted func() error) {
	for k, i := range live {
		if ctx.Err() != nil {
			for _, j := range live[k:] {
				results[j] = result{err: ctx.Err(), scope: scopeFatal}
			}
			return
		}
		if err := aborted(); err != nil {
			for _, j := range live[k:] {
				results[j] = result{err: notAttempted(u.items[j], err, "the server failed an earlier request of this batch")}
			}
			return
		}
		s.sendBundleOnce(ctx, u, []int{i}, bodies, results)
		if r := results[i]; r.scope != scopeOp {
			for _, j := range live[k+1:] {
				results[j] = result{err: notAttempted(u.items[j], r.err, "the server failed an earlier request of this batch")}
			}
			return
		}
	}
}

// sendBundleOnce sends the entries live of u as one bundle and fills in
// their results. It returns the entries to send again: those of a
// transaction that failed only because of other entries, which it has
// failed. isolate reports instead that the server refused a transaction of
// several entries with a permanent failure naming none of them: their
// results are filled in, and the caller sends them again one by one.
func (s *Sink) sendBundleOnce(ctx context.Context, u unit, live []int, bodies [][]byte, results []result) (again []int, isolate bool) {
	var buf bytes.Buffer
	buf.WriteString(`{"resourceType":"Bundle","type":"`)
	buf.WriteString(u.bundle)
	buf.WriteString(`","entry":[`)
	for j, i := range live {
		it := u.items[i]
		if j > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('{')
		if body := bodies[i]; body != nil {
			buf.WriteString(`"fullUrl":`)
			if it.cond {
				writeJSONString(&buf, "urn:uuid:"+uuid4())
			} else {
				writeJSONString(&buf, s.base+"/"+it.typ+"/"+it.id)
			}
			buf.WriteString(`,"resource":`)
			buf.Write(body)
			buf.WriteByte(',')
		}
		buf.WriteString(`"request":{"method":"`)
		buf.WriteString(it.method)
		buf.WriteString(`","url":`)
		writeJSONString(&buf, it.url)
		if it.ifMatch != "" {
			buf.WriteString(`,"ifMatch":`)
			writeJSONString(&buf, it.ifMatch)
		}
		buf.WriteString(`}}`)
	}
	buf.WriteString(`]}`)
	each := func(f func(j int, it *item) result) {
		for j, i := range live {
			results[i] = f(j, u.items[i])
		}
	}

	resp, err := s.send(ctx, http.MethodPost, "", buf.Bytes(), "")
	if err != nil {
		each(func(j int, it *item) result {
			err, sc := classifyTransport(ctx, opError(it, u.bundle, j), err)
			return result{err: err, scope: sc}
		})
		return nil, false
	}
	defer closeBody(resp)
	after := retryAfter(resp.Header.Get("Retry-After"), s.now())
	ok := success(resp.StatusCode, http.MethodPost)

	if ok && u.bundle == "transaction" {
		// All or nothing, and it was all: the entries need not be read.
		each(func(int, *item) result { return result{} })
		return nil, false
	}
	limit := s.opts.MaxResponseBytes
	if !ok {
		limit = min(limit, errorBodyLimit)
	}
	body, tooLarge, rerr := readLimited(resp.Body, limit)

	if !ok {
		// The whole request failed and nothing was applied.
		oo := parseOutcome(body)
		classify := func(j int, it *item) result {
			e := opError(it, u.bundle, j)
			e.Issues, e.diagnostics = oo.issues, oo.diagnostics
			if overCap(resp.StatusCode, oo) {
				// Not this op's fault: a 400 here would fail every op of
				// the bundle permanently as invalid.
				e.StatusCode, e.Err = resp.StatusCode, errBundleTooLarge
				return result{err: e, scope: scopeFatal}
			}
			err, sc := classifyStatus(e, resp.StatusCode, after, true)
			return result{err: err, scope: sc}
		}
		if u.bundle == "transaction" {
			blamed := oo.blamedEntries(len(live))
			if len(blamed) > 0 && len(blamed) < len(live) {
				var again []int
				resend := true
				for j, i := range live {
					if blamed[j] {
						r := classify(j, u.items[i])
						results[i] = r
						if r.scope != scopeOp || sink.IsRetryable(r.err) {
							resend = false
						}
					} else {
						again = append(again, i)
					}
				}
				if resend {
					// The server names the entries at fault and they fail
					// for good: the others go again without them.
					return again, false
				}
			}
			if len(blamed) == 0 && len(live) > 1 {
				each(classify)
				// Refused for good, but the server does not say for which
				// entries: find out entry by entry.
				r := results[live[0]]
				return nil, r.scope == scopeOp && !sink.IsRetryable(r.err)
			}
		}
		each(classify)
		return nil, false
	}

	// A batch: read each entry's status.
	var rb struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Response *struct {
				Status  string          `json:"status"`
				Outcome json.RawMessage `json:"outcome"`
			} `json:"response"`
		} `json:"entry"`
	}
	bad := func(why string) ([]int, bool) {
		each(func(j int, it *item) result {
			e := opError(it, u.bundle, j)
			e.StatusCode = resp.StatusCode
			e.Err = fmt.Errorf("%w: %s", ErrBadResponse, why)
			return result{err: sink.Retryable(e, after)}
		})
		return nil, false
	}
	switch {
	case rerr != nil:
		if ctx.Err() != nil {
			each(func(int, *item) result { return result{err: ctx.Err(), scope: scopeFatal} })
			return nil, false
		}
		return bad("response body cut short")
	case tooLarge:
		return bad("response larger than MaxResponseBytes")
	}
	if err := json.Unmarshal(body, &rb); err != nil || rb.ResourceType != "Bundle" {
		return bad("not a Bundle")
	}
	if len(rb.Entry) != len(live) {
		return bad(fmt.Sprintf("%d entries for %d requests", len(rb.Entry), len(live)))
	}
	each(func(j int, it *item) result {
		r := rb.Entry[j].Response
		e := opError(it, u.bundle, j)
		if r == nil {
			e.Err = fmt.Errorf("%w: entry without response", ErrBadResponse)
			return result{err: sink.Retryable(e, after)}
		}
		status, ok := entryStatus(r.Status)
		if !ok {
			e.Err = fmt.Errorf("%w: entry status not an HTTP status", ErrBadResponse)
			return result{err: sink.Retryable(e, after)}
		}
		if success(status, it.method) {
			return result{}
		}
		if len(r.Outcome) > 0 {
			oo := parseOutcome(r.Outcome)
			e.Issues, e.diagnostics = oo.issues, oo.diagnostics
		}
		err, sc := classifyStatus(e, status, after, true)
		return result{err: err, scope: sc}
	})
	return nil, false
}

// entryStatus reads a Bundle entry's response.status: a three-digit code,
// optionally followed by a reason phrase ("201 Created").
func entryStatus(s string) (int, bool) {
	if len(s) < 3 || (len(s) > 3 && s[3] != ' ') {
		return 0, false
	}
	n, err := strconv.Atoi(s[:3])
	if err != nil || n < 100 || n > 599 {
		return 0, false
	}
	return n, true
}

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	buf.Write(b)
}

// uuid4 returns a random UUID for the fullUrl of a conditional entry.
func uuid4() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
