package fhirtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// IntegrationEnv is the environment variable that turns a missing Node
// toolchain or server install from a skip into a test failure.
const IntegrationEnv = "FHIRSYNC_INTEGRATION"

// NodeEnv names an environment variable that, when set, is the node binary
// to run instead of the one found on PATH.
const NodeEnv = "FHIRSYNC_NODE"

// enableHint tells a skipped test's reader how to get the server.
const enableHint = "run scripts/test, or: cd internal/fhirserver && npm ci"

// readyTimeout bounds how long Start waits for the server's ready line.
const readyTimeout = 60 * time.Second

// Option changes how [Start] runs the server.
type Option func(*config)

type config struct {
	refuseClientIDs    bool
	uuidVersionIDs     bool
	maxTransaction     int
	maxConditional     int
	maxBatch           int
	capStatus          int
	noValidation       bool
	verbose            bool
	transactionCapsSet bool
	conditionalCapsSet bool
	batchCapSet        bool
	capStatusSet       bool
	logWriter          io.Writer
}

// RefuseClientIDs makes the server behave like Medplum: PUT Type/id for an
// id that does not exist is 404 Not Found (no update-as-create), ids must be
// UUIDs, and a conditional update that matches nothing but carries an id is
// 400. Use it to test a client's fallback to server-assigned ids.
func RefuseClientIDs() Option {
	return func(c *config) { c.refuseClientIDs = true }
}

// UUIDVersionIDs makes versionIds random UUIDs, as Medplum's are, instead of
// "1", "2", "3"..., to test that a client treats them as opaque.
func UUIDVersionIDs() Option {
	return func(c *config) { c.uuidVersionIDs = true }
}

// TransactionCaps sets the largest transaction Bundle the server accepts:
// maxEntries entries, or maxConditional when any entry is conditional
// (If-None-Exist, or a PUT/PATCH/DELETE URL with a query). 0 means unlimited.
// The defaults are 50 and 8. An over-cap transaction is rejected whole with
// an OperationOutcome (issue code too-costly) and HTTP 413, or the status
// set by [CapStatus].
func TransactionCaps(maxEntries, maxConditional int) Option {
	return func(c *config) {
		c.maxTransaction, c.maxConditional = maxEntries, maxConditional
		c.transactionCapsSet, c.conditionalCapsSet = true, true
	}
}

// BatchCap sets the largest batch Bundle the server accepts (default: no cap).
func BatchCap(maxEntries int) Option {
	return func(c *config) { c.maxBatch, c.batchCapSet = maxEntries, true }
}

// CapStatus sets the HTTP status of an over-cap Bundle: 413 (default) or 400,
// which is what Medplum answers.
func CapStatus(status int) Option {
	return func(c *config) { c.capStatus, c.capStatusSet = status, true }
}

// NoValidation makes the server store writes without validating them.
func NoValidation() Option {
	return func(c *config) { c.noValidation = true }
}

// Verbose makes the server log every request (method, path, status, time) to w.
func Verbose(w io.Writer) Option {
	return func(c *config) { c.verbose, c.logWriter = true, w }
}

func (c *config) args() []string {
	var a []string
	if c.refuseClientIDs {
		a = append(a, "--refuse-client-ids")
	}
	if c.uuidVersionIDs {
		a = append(a, "--version-ids", "uuid")
	}
	if c.transactionCapsSet {
		a = append(a, "--max-transaction-entries", strconv.Itoa(c.maxTransaction))
	}
	if c.conditionalCapsSet {
		a = append(a, "--max-conditional-transaction-entries", strconv.Itoa(c.maxConditional))
	}
	if c.batchCapSet {
		a = append(a, "--max-batch-entries", strconv.Itoa(c.maxBatch))
	}
	if c.capStatusSet {
		a = append(a, "--cap-status", strconv.Itoa(c.capStatus))
	}
	if c.noValidation {
		a = append(a, "--no-validate")
	}
	if c.verbose {
		a = append(a, "--verbose")
	}
	return a
}

// Server is a running test FHIR server. Its methods are safe for concurrent
// use, but Reset and Restart affect every user of the server.
type Server struct {
	node   string
	dir    string
	cfg    config
	client *http.Client

	mu   sync.Mutex
	url  string
	port int
	proc *process
}

// process is one run of the Node program.
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan struct{}
	stderr *tailBuffer
}

// Start starts a server for the test, waits until it answers, and stops it
// when the test ends. It skips the test when node or the server's npm install
// is missing, unless FHIRSYNC_INTEGRATION=1, when it fails it.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := newServer(t, opts...)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	node, dir, err := locate()
	if err != nil {
		skipOrFail(t, err)
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{node: node, dir: dir, cfg: cfg, client: &http.Client{Timeout: 2 * time.Minute}}
	if err := s.start(0); err != nil {
		t.Fatalf("fhirtest: start server: %v", err)
	}
	return s
}

// skipOrFail skips t with a hint, or fails it under FHIRSYNC_INTEGRATION=1.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(IntegrationEnv) == "1" {
		t.Fatalf("fhirtest: FHIR test server unavailable (%s=1): %v", IntegrationEnv, err)
	}
	t.Skipf("fhirtest: FHIR test server unavailable: %v (%s)", err, enableHint)
}

// ErrUnavailable reports that the Node test server cannot be run here.
var ErrUnavailable = errors.New("fhirtest: node or internal/fhirserver/node_modules missing")

// locate finds the node binary and the internal/fhirserver directory with its
// npm install.
func locate() (node, dir string, err error) {
	dir, err = serverDir()
	if err != nil {
		return "", "", err
	}
	if node = os.Getenv(NodeEnv); node == "" {
		node, err = exec.LookPath("node")
		if err != nil {
			return "", "", fmt.Errorf("%w: node not found on PATH", ErrUnavailable)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@medplum", "fhir-router", "package.json")); err != nil {
		return "", "", fmt.Errorf("%w: %s has no npm install", ErrUnavailable, filepath.Join(dir, "node_modules"))
	}
	return node, dir, nil
}

// serverDir returns internal/fhirserver of this module: found by walking up
// from the working directory to go.mod, or else next to this source file.
func serverDir() (string, error) {
	if wd, err := os.Getwd(); err == nil {
		if root, ok := findModuleRoot(wd); ok {
			d := filepath.Join(root, "internal", "fhirserver")
			if isServerDir(d) {
				return d, nil
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Join(filepath.Dir(file), "..", "fhirserver")
		if isServerDir(d) {
			return filepath.Clean(d), nil
		}
	}
	return "", fmt.Errorf("%w: cannot find internal/fhirserver/server.mjs above the working directory", ErrUnavailable)
}

// findModuleRoot walks up from dir to the directory holding go.mod.
func findModuleRoot(dir string) (string, bool) {
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isServerDir(d string) bool {
	fi, err := os.Stat(filepath.Join(d, "server.mjs"))
	return err == nil && !fi.IsDir()
}

// start runs the Node server on port (0 = any free port) and waits for it.
func (s *Server) start(port int) error {
	args := append([]string{filepath.Join(s.dir, "server.mjs"), "--port", strconv.Itoa(port)}, s.cfg.args()...)
	cmd := exec.Command(s.node, args...)
	cmd.Dir = s.dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr := &tailBuffer{max: 64 << 10, also: s.cfg.logWriter}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, stdin: stdin, done: make(chan struct{}), stderr: stderr}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				ready <- sc.Text()
				first = false
			}
		}
		if first {
			close(ready)
		}
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-ready:
		if !ok {
			<-p.done
			return fmt.Errorf("server exited before it was ready: %s", strings.TrimSpace(stderr.String()))
		}
		base, found := strings.CutPrefix(line, "listening ")
		if !found {
			p.kill()
			return fmt.Errorf("unexpected first line %q from server", line)
		}
		u := strings.TrimSpace(base)
		i := strings.LastIndex(u, ":")
		portStr := u[i+1:]
		if j := strings.Index(portStr, "/"); j >= 0 {
			portStr = portStr[:j]
		}
		gotPort, err := strconv.Atoi(portStr)
		if err != nil {
			p.kill()
			return fmt.Errorf("bad ready line %q", line)
		}
		s.mu.Lock()
		s.url, s.port, s.proc = u, gotPort, p
		s.mu.Unlock()
		return nil
	case <-timer.C:
		p.kill()
		return fmt.Errorf("server not ready after %v: %s", readyTimeout, strings.TrimSpace(stderr.String()))
	}
}

// kill stops the process: SIGTERM, then SIGKILL after a grace period.
func (p *process) kill() {
	_ = p.stdin.Close()
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// URL returns the server's FHIR base URL, "http://127.0.0.1:PORT/fhir",
// without a trailing slash. It stays the same across [Server.Restart].
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Stderr returns the last 64 KiB the server wrote to stderr (errors, and the
// request log under [Verbose]).
func (s *Server) Stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.stderr.String()
}

// Reset deletes every resource and version on the server.
func (s *Server) Reset(t testing.TB) {
	t.Helper()
	resp, err := s.client.Post(s.URL()+"/$reset", "application/fhir+json", nil)
	if err != nil {
		t.Fatalf("fhirtest: reset: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fhirtest: reset: HTTP %d", resp.StatusCode)
	}
}

// Restart kills the server and starts it again on the same port, as a fault
// test's "server restart mid-batch" needs. Data is lost: the server comes back
// empty. Requests in flight fail with connection errors. Restart waits until
// the new process answers.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	p, port := s.proc, s.port
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.kill()
	}
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err = s.start(port); err == nil {
			return
		}
		if !strings.Contains(err.Error(), "EADDRINUSE") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("fhirtest: restart on port %d: %v", port, err)
}

// Kill stops the server abruptly (SIGKILL) without starting it again, for
// tests of a client facing a dead server; [Server.Restart] brings it back.
func (s *Server) Kill() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Close stops the server. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.kill()
	}
	return nil
}

// Do sends a request with a JSON body (nil for none) to the server, path
// being relative to the base URL ("Patient/1", "/metadata", "" for the base),
// and returns the response with its body read. It is a convenience for
// tests of the server itself and of raw HTTP behaviour.
func (s *Server) Do(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Response, []byte, error) {
	u := s.URL()
	if p := strings.TrimPrefix(path, "/"); p != "" {
		u += "/" + p
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

// Validate validates data, a FHIR JSON resource, a Bundle (each entry is
// reported against its own resource) or NDJSON, with the server's validator
// (the same one that guards writes), and returns one line per error:
// "LINE: ResourceType/id: path: message". It returns nil when data is valid.
func (s *Server) Validate(t testing.TB, data []byte) []string {
	t.Helper()
	ct := "application/fhir+json"
	if !json.Valid(data) {
		ct = "application/fhir+ndjson"
	}
	resp, body, err := s.Do(context.Background(), http.MethodPost, "$validate", data, http.Header{"Content-Type": {ct}})
	if err != nil {
		t.Fatalf("fhirtest: validate: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fhirtest: validate: HTTP %d: %s", resp.StatusCode, body)
	}
	var oo struct {
		Issue []struct {
			Severity    string `json:"severity"`
			Diagnostics string `json:"diagnostics"`
			Details     struct {
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &oo); err != nil {
		t.Fatalf("fhirtest: validate: decode OperationOutcome: %v", err)
	}
	var lines []string
	for _, i := range oo.Issue {
		if i.Severity != "error" && i.Severity != "fatal" {
			continue
		}
		msg := i.Diagnostics
		if msg == "" {
			msg = i.Details.Text
		}
		lines = append(lines, msg)
	}
	return lines
}

// RequireValid fails the test now, listing every error, unless data is
// valid FHIR R4 (see [Server.Validate]).
func (s *Server) RequireValid(t testing.TB, data []byte) {
	t.Helper()
	if errs := s.Validate(t, data); len(errs) > 0 {
		t.Fatalf("fhirtest: invalid FHIR (%d errors):\n\t%s", len(errs), strings.Join(errs, "\n\t"))
	}
}

// tailBuffer keeps the last max bytes written to it, and copies writes to also.
type tailBuffer struct {
	mu   sync.Mutex
	buf  []byte
	max  int
	also io.Writer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.also != nil {
		_, _ = b.also.Write(p)
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
