package fhirsync

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/terminology"
)

// Options configures [Run]. A nil *Options, and every zero field, means the
// default.
type Options struct {
	// BatchSize is the most ops one Sink.Write is given; 0 means 100. Set it to
	// what the sink's server accepts in one request (restsink cuts bundles
	// itself; see restsink.Options.BundleSize).
	BatchSize int
	// BatchWait is how long a batch that is not full waits for more
	// resources before it is written; 0 means 50ms.
	BatchWait time.Duration
	// Converters is how many messages are converted at once; 0 means
	// GOMAXPROCS. Conversion runs in parallel, but resources reach the sink in
	// the order the source gave their messages.
	Converters int
	// Writers is how many Sink.Write calls may be in flight at once; 0 means
	// 2. Batches that share a resource are never in flight together, nor is
	// a batch with one that writes a resource it references.
	Writers int
	// MaxInFlight bounds the messages read and not yet acked or nacked; 0
	// means 1,000. It bounds Run's memory and, with it, how far reading runs
	// ahead of writing.
	MaxInFlight int
	// Backoff is the delay between retries; the zero value means 100ms
	// doubling to 30s, with 20% jitter. A Retry-After a server sent (in a
	// [sink.RetryableError] from the sink or a converter, or in a
	// terminology.RemoteError) is honoured when it is longer.
	Backoff Backoff
	// MaxAttempts is how many times a conversion or a write is tried before
	// Run gives up on it; 0 means no limit (retry until ctx is done). A
	// message given up on is nacked, never dropped: the source delivers it
	// again later.
	MaxAttempts int
	// MaxReadAttempts is how many times in a row a failing Source.Read is
	// tried before Run stops with its error; 0 means 10. A Read error that
	// matches source.ErrPermanent (see source.Permanent) stops Run at once.
	MaxReadAttempts int
	// Reject records what can never be written: records that do not convert
	// (a syntax or mapping error) and resources the sink refuses for good
	// (an invalid resource). Once a rejection is recorded, its message is
	// acked. When Reject is nil, Run stops at the first permanent failure
	// with an error wrapping it (as Kafka Connect does with
	// errors.tolerance=none): nothing is ever acked unwritten.
	Reject Rejecter
	// Versions is the stale-update guard's memory of the newest source
	// version written per resource. Nil means an in-memory store of the last
	// 100,000 resources (see NewMemoryVersions). Use a shared, durable store
	// when several sources write the same resources.
	Versions VersionStore
	// DisableStaleGuard writes every resource, whatever its source version.
	DisableStaleGuard bool
	// Retryable tells a transient Convert error (a terminology server or
	// claim lookup that could not answer) from a permanent one; nil means
	// [IsRetryable].
	Retryable func(error) bool
	// Logger receives the engine's logs (message ids, resource keys, error
	// texts: never PHI); nil means slog.Default().
	Logger *slog.Logger
	// MeterProvider and TracerProvider receive the engine's metrics and
	// spans; nil means the OpenTelemetry globals.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// Backoff is an exponential back-off: Initial, multiplied by Multiplier at
// each retry up to Max, each delay varied by ±Jitter (a fraction; 0 means
// 0.2, a negative value none).
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Jitter     float64
}

// delay returns the delay before retry n (1 for the first retry).
func (b Backoff) delay(n int) time.Duration {
	d := float64(b.Initial)
	for i := 1; i < n && d < float64(b.Max); i++ {
		d *= b.Multiplier
	}
	d = min(d, float64(b.Max))
	if b.Jitter > 0 {
		d *= 1 + b.Jitter*(2*rand.Float64()-1)
	}
	return time.Duration(d)
}

// withDefaults returns a copy of o (nil allowed) with every default filled in.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 50 * time.Millisecond
	}
	if c.Converters <= 0 {
		c.Converters = runtime.GOMAXPROCS(0)
	}
	if c.Writers <= 0 {
		c.Writers = 2
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1000
	}
	if c.Backoff.Initial <= 0 {
		c.Backoff.Initial = 100 * time.Millisecond
	}
	if c.Backoff.Max <= 0 {
		c.Backoff.Max = 30 * time.Second
	}
	c.Backoff.Max = max(c.Backoff.Max, c.Backoff.Initial)
	if c.Backoff.Multiplier < 1 {
		c.Backoff.Multiplier = 2
	}
	switch {
	case c.Backoff.Jitter == 0 || c.Backoff.Jitter >= 1:
		c.Backoff.Jitter = 0.2
	case c.Backoff.Jitter < 0:
		c.Backoff.Jitter = 0 // none
	}
	if c.MaxReadAttempts <= 0 {
		c.MaxReadAttempts = 10
	}
	if c.Versions == nil && !c.DisableStaleGuard {
		c.Versions = NewMemoryVersions(100_000)
	}
	if c.Retryable == nil {
		c.Retryable = IsRetryable
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// IsRetryable reports whether err is transient: a [sink.RetryableError], a
// terminology server that could not answer (terminology.IsRetryable), a claim
// lookup that failed on the way (a *fhirmap.LookupError whose Temporary is
// true: a transport failure, a cut body, 408, 429 or a 5xx), or a timeout. It is the default
// Options.Retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if sink.IsRetryable(err) || terminology.IsRetryable(err) {
		return true
	}
	var le *fhirmap.LookupError
	if errors.As(err, &le) {
		return le.Temporary()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retryAfter returns the longest delay a server asked for in err: the After
// of a [sink.RetryableError], the RetryAfter of a [terminology.RemoteError].
func retryAfter(err error) time.Duration {
	d := sink.RetryAfter(err)
	var re *terminology.RemoteError
	if errors.As(err, &re) {
		d = max(d, re.RetryAfter)
	}
	return d
}
