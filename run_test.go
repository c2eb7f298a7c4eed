package fhirsync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/memsink"
	"github.com/fhirsync/fhirsync/sink/restsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/filesource"
	"github.com/fhirsync/fhirsync/source/memsource"
	"github.com/fhirsync/fhirsync/terminology"
)

const canary = "ZZCANARYZZ"

// fast are Options for tests: short waits and back-off.
func fast(o *fhirsync.Options) *fhirsync.Options {
	if o == nil {
		o = &fhirsync.Options{}
	}
	o.BatchWait = 5 * time.Millisecond
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Backoff = fhirsync.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}
	return o
}

// patients is a converter for bodies "i rev [canary]": Patient i at revision
// rev, with source version rev (zero-padded) when versioned.
func patients(versioned bool) fhirmap.Converter {
	return fhirmap.ConverterFunc(func(_ context.Context, m *source.Message) ([]proto.Message, error) {
		f := strings.Fields(string(m.Body))
		if len(f) < 2 {
			return nil, &fhirmap.Error{Err: fhirmap.ErrInvalidValue}
		}
		i, err1 := strconv.Atoi(f[0])
		rev, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, &fhirmap.Error{Err: fhirmap.ErrInvalidValue}
		}
		p := sinktest.PatientRev(i, rev)
		if versioned {
			withVersion(p, fmt.Sprintf("%08d", rev))
		}
		return []proto.Message{p}, nil
	})
}

func withVersion(p *ppb.Patient, v string) {
	if p.Meta == nil {
		p.Meta = &dtpb.Meta{}
	}
	p.Meta.Extension = append(p.Meta.Extension, &dtpb.Extension{
		Url:   &dtpb.Uri{Value: fhirmap.ExtSourceVersion},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: &dtpb.String{Value: v}}},
	})
}

func publish(b *memsource.Broker, bodies ...string) {
	for _, s := range bodies {
		b.Publish([]byte(s))
	}
}

func TestRunWritesAndAcksEverything(t *testing.T) {
	b := memsource.NewBroker()
	for i := range 200 {
		publish(b, fmt.Sprintf("%d 1", i))
	}
	dst := memsink.New(nil)
	src := b.Open("sub", &memsource.Options{Finite: true})
	require.NoError(t, fhirsync.Run(context.Background(), src, patients(false), dst, fast(&fhirsync.Options{BatchSize: 16})))
	assert.Equal(t, 200, b.Committed("sub"))
	assert.Equal(t, 200, dst.Len())
	for i := range 200 {
		_, ok := dst.Read("Patient", sinktest.PatientID(i))
		assert.True(t, ok, "patient %d", i)
	}
}

// TestRunPerKeyOrder updates few resources many times with parallel
// conversion (random delays) and several writers: every resource must end
// at its last revision and its history must be in revision order.
func TestRunPerKeyOrder(t *testing.T) {
	const keys, revs = 5, 60
	b := memsource.NewBroker()
	for rev := 1; rev <= revs; rev++ {
		for i := range keys {
			publish(b, fmt.Sprintf("%d %d", i, rev))
		}
	}
	slow := fhirmap.ConverterFunc(func(ctx context.Context, m *source.Message) ([]proto.Message, error) {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		return patients(false).Convert(ctx, m)
	})
	dst := memsink.New(&memsink.Options{VersionEveryWrite: true})
	src := b.Open("sub", &memsource.Options{Finite: true})
	require.NoError(t, fhirsync.Run(context.Background(), src, slow, dst, fast(&fhirsync.Options{BatchSize: 3, Writers: 4, Converters: 4})))
	for i := range keys {
		got, ok := dst.Read("Patient", sinktest.PatientID(i))
		require.True(t, ok)
		assert.Equal(t, revs, sinktest.Revision(got), "patient %d", i)
		last := 0
		for _, v := range dst.History("Patient", sinktest.PatientID(i)) {
			r := sinktest.Revision(v.Resource)
			assert.Greater(t, r, last, "patient %d: history out of order", i)
			last = r
		}
	}
	assert.Equal(t, keys*revs, b.Committed("sub"))
}

func TestRunRetriesRetryableWrites(t *testing.T) {
	b := memsource.NewBroker()
	for i := range 30 {
		publish(b, fmt.Sprintf("%d 1", i))
	}
	dst := memsink.New(nil)
	dst.FailNext(3, memsink.Throttled(2*time.Millisecond))
	dst.FailNext(2, memsink.Unavailable())
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	src := b.Open("sub", &memsource.Options{Finite: true})
	require.NoError(t, fhirsync.Run(context.Background(), src, patients(false), dst, fast(&fhirsync.Options{BatchSize: 10, MeterProvider: mp})))
	assert.Equal(t, 30, dst.Len())
	assert.Equal(t, 30, b.Committed("sub"))
	m := collect(t, reader)
	assert.EqualValues(t, 5, m["fhirsync.write.retries"])
	assert.EqualValues(t, 30, m["fhirsync.resources.written{resource.type=Patient}"])
	assert.EqualValues(t, 30, m["fhirsync.messages.settled{outcome=acked}"])
	assert.EqualValues(t, 30, m["fhirsync.messages.read"])
}

// collect returns the sums of the int64 counters, keyed by name and
// attributes.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, dp := range sum.DataPoints {
				key := m.Name
				if dp.Attributes.Len() > 0 {
					var parts []string
					for _, kv := range dp.Attributes.ToSlice() {
						parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
					}
					key += "{" + strings.Join(parts, ",") + "}"
				}
				out[key] += dp.Value
			}
		}
	}
	return out
}

func TestRunRejectsRefusedResources(t *testing.T) {
	b := memsource.NewBroker()
	for i := range 10 {
		publish(b, fmt.Sprintf("%d 1 %s", i, canary))
	}
	dst := memsink.New(&memsink.Options{Fault: memsink.FailOps(fmt.Errorf("%w: HTTP 422", sink.ErrInvalid), 4, 7)})
	rej, err := fhirsync.NewDirRejecter(t.TempDir())
	require.NoError(t, err)
	src := b.Open("sub", &memsource.Options{Finite: true})
	require.NoError(t, fhirsync.Run(context.Background(), src, patients(false), dst, fast(&fhirsync.Options{BatchSize: 4, Reject: rej, Writers: 1})))
	assert.Equal(t, 10, b.Committed("sub"), "rejected messages are acked once recorded")
	assert.Equal(t, 8, dst.Len())
	var recs []fhirsync.RejectRecord
	for r, err := range rej.Records() {
		require.NoError(t, err)
		recs = append(recs, r)
	}
	require.Len(t, recs, 2)
	for _, r := range recs {
		assert.Equal(t, fhirsync.StageWrite, r.Stage)
		assert.True(t, strings.HasPrefix(r.Resource, "Patient/sinktest-pat-"), r.Resource)
		assert.Contains(t, r.Error, "HTTP 422")
		assert.Contains(t, string(r.Body), canary, "the body is kept for replay")
		assert.NotContains(t, r.Error+r.MessageID+r.Resource, canary)
	}
}

func TestRunRejectsBadMessagesAndPartialFiles(t *testing.T) {
	good, err := os.ReadFile("fhirmap/testdata/837p_simple.x12")
	require.NoError(t, err)
	bad, err := os.ReadFile("x12/testdata/decoder/837p_badclaim.x12")
	require.NoError(t, err)
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: []byte("a test key of at least 16 bytes")}})
	require.NoError(t, err)
	conv := fhirmap.NewX12Converter(m, nil)

	b := memsource.NewBroker()
	b.Publish(good, bad, []byte("not X12 at all "+canary))
	rej, err := fhirsync.NewDirRejecter(t.TempDir())
	require.NoError(t, err)
	dst := memsink.New(nil)
	var logs bytes.Buffer
	src := b.Open("sub", &memsource.Options{Finite: true})
	require.NoError(t, fhirsync.Run(context.Background(), src, conv, dst, fast(&fhirsync.Options{
		Reject: rej,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})))
	assert.Equal(t, 3, b.Committed("sub"))
	claims := 0
	for _, r := range dst.All() {
		if resource.Type(r) == "Claim" {
			claims++
		}
	}
	assert.GreaterOrEqual(t, claims, 2, "the good file's claim and the bad file's good claims")
	var stages []string
	for r, err := range rej.Records() {
		require.NoError(t, err)
		assert.Equal(t, fhirsync.StageConvert, r.Stage)
		stages = append(stages, r.MessageID)
		assert.NotContains(t, r.Error, canary)
	}
	assert.Equal(t, []string{"sub@1", "sub@2"}, stages)
	assert.NotContains(t, logs.String(), canary)
	assert.Contains(t, logs.String(), "fhirsync: rejected")
}

func TestRunStopsWithoutRejecter(t *testing.T) {
	b := memsource.NewBroker()
	publish(b, "0 1", "garbage "+canary, "2 1")
	dst := memsink.New(nil)
	src := b.Open("sub", &memsource.Options{Finite: true})
	err := fhirsync.Run(context.Background(), src, patients(false), dst, fast(nil))
	require.Error(t, err)
	var fe *fhirmap.Error
	assert.ErrorAs(t, err, &fe)
	assert.Contains(t, err.Error(), "no Options.Reject")
	assert.NotContains(t, err.Error(), canary)
	assert.Less(t, b.Committed("sub"), 2, "the failed message is never acked")
}

func TestRunStopsOnPermanentWriteFailure(t *testing.T) {
	b := memsource.NewBroker()
	publish(b, "0 1", "1 1")
	dst := memsink.New(nil)
	require.NoError(t, dst.Close(context.Background()))
	src := b.Open("sub", &memsource.Options{Finite: true})
	err := fhirsync.Run(context.Background(), src, patients(false), dst, fast(nil))
	require.ErrorIs(t, err, sink.ErrClosed)
	assert.Equal(t, 0, b.Committed("sub"))
}

// TestRunNacksWhatItGivesUpOn: with MaxAttempts, a write that keeps failing
// is given up on and its messages nacked; the source delivers them again.
func TestRunNacksWhatItGivesUpOn(t *testing.T) {
	b := memsource.NewBroker()
	publish(b, "0 1", "1 1")
	dst := memsink.New(nil)
	dst.FailNext(1000, memsink.Unavailable())
	var attempts atomic.Int32
	conv := fhirmap.ConverterFunc(func(ctx context.Context, m *source.Message) ([]proto.Message, error) {
		var d *memsource.Delivery
		if m.As(&d) && d.Attempt > 1 {
			attempts.Add(1)
		}
		return patients(false).Convert(ctx, m)
	})
	ctx, cancel := context.WithCancel(context.Background())
	src := b.Open("sub", nil)
	done := make(chan error, 1)
	go func() { done <- fhirsync.Run(ctx, src, conv, dst, fast(&fhirsync.Options{MaxAttempts: 2})) }()
	require.Eventually(t, func() bool { return attempts.Load() >= 2 }, 10*time.Second, time.Millisecond, "nacked messages are delivered again")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, 0, b.Committed("sub"))
	assert.Equal(t, 0, dst.Len())
}

func TestRunStaleUpdateGuard(t *testing.T) {
	for _, batch := range []int{1, 100} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			b := memsource.NewBroker()
			publish(b, "0 5", "0 3", "0 7", "0 6", "1 2")
			dst := memsink.New(&memsink.Options{VersionEveryWrite: true})
			reader := sdkmetric.NewManualReader()
			src := b.Open("sub", &memsource.Options{Finite: true})
			require.NoError(t, fhirsync.Run(context.Background(), src, patients(true), dst, fast(&fhirsync.Options{
				BatchSize: batch, Writers: 1, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
			})))
			got, ok := dst.Read("Patient", sinktest.PatientID(0))
			require.True(t, ok)
			assert.Equal(t, 7, sinktest.Revision(got))
			for _, v := range dst.History("Patient", sinktest.PatientID(0)) {
				assert.NotContains(t, []int{3, 6}, sinktest.Revision(v.Resource), "an older version was written after a newer one")
			}
			assert.EqualValues(t, 2, collect(t, reader)["fhirsync.resources.stale{resource.type=Patient}"])
			assert.Equal(t, 5, b.Committed("sub"), "skipped resources still ack their messages")
		})
	}
	t.Run("disabled", func(t *testing.T) {
		b := memsource.NewBroker()
		publish(b, "0 5", "0 3")
		dst := memsink.New(nil)
		src := b.Open("sub", &memsource.Options{Finite: true})
		require.NoError(t, fhirsync.Run(context.Background(), src, patients(true), dst, fast(&fhirsync.Options{DisableStaleGuard: true, BatchSize: 1, Writers: 1})))
		got, _ := dst.Read("Patient", sinktest.PatientID(0))
		assert.Equal(t, 3, sinktest.Revision(got))
	})
}

func TestRunConverterPanicIsRejectedWithoutItsValue(t *testing.T) {
	b := memsource.NewBroker()
	publish(b, "0 1", "boom")
	conv := fhirmap.ConverterFunc(func(ctx context.Context, m *source.Message) ([]proto.Message, error) {
		if string(m.Body) == "boom" {
			panic("member " + canary)
		}
		return patients(false).Convert(ctx, m)
	})
	var got []*fhirsync.Rejection
	var mu sync.Mutex
	rej := fhirsync.RejecterFunc(func(_ context.Context, r *fhirsync.Rejection) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
		return nil
	})
	src := b.Open("sub", &memsource.Options{Finite: true})
	require.NoError(t, fhirsync.Run(context.Background(), src, conv, memsink.New(nil), fast(&fhirsync.Options{Reject: rej})))
	require.Len(t, got, 1)
	assert.Equal(t, "sub@1", got[0].Message.ID)
	assert.NotContains(t, got[0].Err.Error(), canary)
	assert.Equal(t, 2, b.Committed("sub"))
}

// TestRunRetriesRejecterAndConverter: a transient converter failure and a
// failing Rejecter are retried; nothing is acked before it is recorded.
func TestRunRetriesRejecterAndConverter(t *testing.T) {
	b := memsource.NewBroker()
	publish(b, "0 1", "bad")
	var convCalls, rejCalls atomic.Int32
	conv := fhirmap.ConverterFunc(func(ctx context.Context, m *source.Message) ([]proto.Message, error) {
		if string(m.Body) == "0 1" && convCalls.Add(1) < 3 {
			return nil, sink.Retryable(errors.New("terminology server unavailable"), 0)
		}
		return patients(false).Convert(ctx, m)
	})
	rej := fhirsync.RejecterFunc(func(context.Context, *fhirsync.Rejection) error {
		if rejCalls.Add(1) < 3 {
			return errors.New("dead-letter store unavailable")
		}
		return nil
	})
	dst := memsink.New(nil)
	src := b.Open("sub", &memsource.Options{Finite: true})
	require.NoError(t, fhirsync.Run(context.Background(), src, conv, dst, fast(&fhirsync.Options{Reject: rej})))
	assert.EqualValues(t, 3, convCalls.Load())
	assert.EqualValues(t, 3, rejCalls.Load())
	assert.Equal(t, 1, dst.Len())
	assert.Equal(t, 2, b.Committed("sub"))
}

func TestRunCancel(t *testing.T) {
	b := memsource.NewBroker()
	publish(b, "0 1")
	dst := memsink.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	src := b.Open("sub", nil) // never ends
	done := make(chan error, 1)
	go func() { done <- fhirsync.Run(ctx, src, patients(false), dst, fast(nil)) }()
	require.Eventually(t, func() bool { return b.Committed("sub") == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// flakySource fails its first reads, then reads from src.
type flakySource struct {
	source.Source
	fail atomic.Int32
}

func (f *flakySource) Read(ctx context.Context) ([]*source.Message, error) {
	if f.fail.Add(-1) >= 0 {
		return nil, errors.New("broker unreachable")
	}
	return f.Source.Read(ctx)
}

func TestRunSourceReadFailures(t *testing.T) {
	b := memsource.NewBroker()
	publish(b, "0 1")
	f := &flakySource{Source: b.Open("sub", &memsource.Options{Finite: true})}
	f.fail.Store(3)
	dst := memsink.New(nil)
	require.NoError(t, fhirsync.Run(context.Background(), f, patients(false), dst, fast(nil)))
	assert.Equal(t, 1, dst.Len())

	f = &flakySource{Source: b.Open("other", &memsource.Options{Finite: true})}
	f.fail.Store(100)
	err := fhirsync.Run(context.Background(), f, patients(false), dst, fast(&fhirsync.Options{MaxReadAttempts: 4}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "source read failed 4 times")

	// A permanent failure stops Run at once.
	p := &permanentSource{Source: b.Open("third", &memsource.Options{Finite: true})}
	err = fhirsync.Run(context.Background(), p, patients(false), dst, fast(&fhirsync.Options{MaxReadAttempts: 4}))
	require.ErrorIs(t, err, source.ErrPermanent)
	assert.Equal(t, int32(1), p.reads.Load())
}

// permanentSource fails every read permanently.
type permanentSource struct {
	source.Source
	reads atomic.Int32
}

func (p *permanentSource) Read(context.Context) ([]*source.Message, error) {
	p.reads.Add(1)
	return nil, source.Permanent(errors.New("replication slot dropped"))
}

func TestMemoryVersions(t *testing.T) {
	ctx := context.Background()
	v := fhirsync.NewMemoryVersions(2)
	require.NoError(t, v.Put(ctx, "a", "0002"))
	require.NoError(t, v.Put(ctx, "a", "0001"))
	got, _ := v.Get(ctx, "a")
	assert.Equal(t, "0002", got, "an older version never replaces a newer one")
	require.NoError(t, v.Put(ctx, "b", "1"))
	require.NoError(t, v.Put(ctx, "c", "1"))
	got, _ = v.Get(ctx, "a")
	assert.Equal(t, "", got, "the least recently written key is forgotten")
}

func TestSourceVersion(t *testing.T) {
	p := sinktest.PatientRev(1, 1)
	assert.Equal(t, "", fhirsync.SourceVersion(p))
	withVersion(p, "00000016B374D848")
	assert.Equal(t, "00000016B374D848", fhirsync.SourceVersion(p))
	c, err := resource.Wrap(p)
	require.NoError(t, err)
	assert.Equal(t, "00000016B374D848", fhirsync.SourceVersion(c))
}

// TestRunX12IntoFHIRServer is the batch ETL path end to end against the real
// test FHIR server: X12 files (837P, 835, 834) → X12Converter → restsink in
// transaction bundles. Delivering the same files again overwrites: the
// server holds the same number of resources, each at a new version.
func TestRunX12IntoFHIRServer(t *testing.T) {
	srv := fhirtest.Start(t)
	var files [][]byte
	for _, name := range []string{"sample.837p.x12", "sample.835.x12", "sample.834.x12"} {
		b, err := os.ReadFile("examples/x12tofhir/testdata/" + name)
		require.NoError(t, err)
		files = append(files, b)
	}
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: []byte("a test key of at least 16 bytes")}})
	require.NoError(t, err)
	conv := fhirmap.NewX12Converter(m, nil)
	dst, err := restsink.New(srv.URL(), nil, &restsink.Options{Mode: restsink.Transaction, BundleSize: 50})
	require.NoError(t, err)
	defer dst.Close(context.Background())
	rej, err := fhirsync.NewDirRejecter(t.TempDir())
	require.NoError(t, err)

	counts := func() map[string]int {
		out := map[string]int{}
		for _, typ := range []string{"Claim", "ExplanationOfBenefit", "Patient", "Coverage", "Organization", "Practitioner"} {
			resp, body, err := srv.Do(context.Background(), "GET", "/"+typ+"?_summary=count", nil, nil)
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode, string(body))
			var bundle struct{ Total int }
			require.NoError(t, json.Unmarshal(body, &bundle))
			out[typ] = bundle.Total
		}
		return out
	}
	b := memsource.NewBroker()
	b.Publish(files...)
	require.NoError(t, fhirsync.Run(context.Background(), b.Open("etl", &memsource.Options{Finite: true}), conv, dst, fast(&fhirsync.Options{Reject: rej, BatchSize: 50})))
	assert.Equal(t, 3, b.Committed("etl"))
	first := counts()
	t.Logf("resources on the server: %v", first)
	for typ, n := range first {
		assert.Positive(t, n, typ)
	}
	for r, err := range rej.Records() {
		require.NoError(t, err)
		t.Errorf("unexpected rejection: %s %s %s", r.MessageID, r.Resource, r.Error)
	}

	// Redelivery (a restart before the checkpoint): no duplicates.
	b2 := memsource.NewBroker()
	b2.Publish(files...)
	require.NoError(t, fhirsync.Run(context.Background(), b2.Open("etl", &memsource.Options{Finite: true}), conv, dst, fast(&fhirsync.Options{Reject: rej, BatchSize: 50})))
	assert.Equal(t, first, counts())
}

// TestRunRejectsUnreadableRecords: a message the source could not read
// (source.Message.Err: here a listed file that is missing) is rejected at
// the read stage without conversion, and acked; the others are written.
func TestRunRejectsUnreadableRecords(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	require.NoError(t, os.WriteFile(good, []byte("0 1"), 0o600))
	src, err := filesource.OpenFiles([]string{good, filepath.Join(dir, "missing.txt")}, nil)
	require.NoError(t, err)
	defer src.Close()
	var converted atomic.Int32
	conv := fhirmap.ConverterFunc(func(ctx context.Context, m *source.Message) ([]proto.Message, error) {
		converted.Add(1)
		return patients(false).Convert(ctx, m)
	})
	var got []*fhirsync.Rejection
	var mu sync.Mutex
	rej := fhirsync.RejecterFunc(func(_ context.Context, r *fhirsync.Rejection) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
		return nil
	})
	dst := memsink.New(nil)
	require.NoError(t, fhirsync.Run(context.Background(), src, conv, dst, fast(&fhirsync.Options{Reject: rej})))
	assert.EqualValues(t, 1, converted.Load())
	assert.Equal(t, 1, dst.Len())
	require.Len(t, got, 1)
	assert.Equal(t, fhirsync.StageRead, got[0].Stage)
	var fe *filesource.FileError
	assert.ErrorAs(t, got[0].Err, &fe)
}

// TestRunConvertHonoursRetryAfter: a conversion that failed with a delay the
// server asked for (a terminology server's 429 Retry-After, a
// sink.RetryableError's After) is not tried again before that delay, however
// short the back-off.
func TestRunConvertHonoursRetryAfter(t *testing.T) {
	throttled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"throttled"}]}`))
	}))
	defer throttled.Close()
	remote := terminology.NewRemote(throttled.Client(), throttled.URL+"/fhir", nil)
	for _, tc := range []struct {
		name  string
		fail  func(ctx context.Context) error
		after time.Duration
	}{
		{"sink.RetryableError", func(context.Context) error {
			return sink.Retryable(errors.New("claim lookup throttled"), 300*time.Millisecond)
		}, 300 * time.Millisecond},
		{"terminology 429", func(ctx context.Context) error {
			_, err := remote.Translate(ctx, terminology.Coding{System: "http://example.org/local", Code: "A"}, "http://example.org/std")
			return err
		}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var calls []time.Time
			conv := fhirmap.ConverterFunc(func(ctx context.Context, m *source.Message) ([]proto.Message, error) {
				mu.Lock()
				calls = append(calls, time.Now())
				first := len(calls) == 1
				mu.Unlock()
				if first {
					err := tc.fail(ctx)
					assert.True(t, fhirsync.IsRetryable(err), "%v", err)
					return nil, err
				}
				return patients(false).Convert(ctx, m)
			})
			b := memsource.NewBroker()
			publish(b, "0 1")
			dst := memsink.New(nil)
			require.NoError(t, fhirsync.Run(context.Background(), b.Open("sub", &memsource.Options{Finite: true}), conv, dst, fast(nil)))
			require.Len(t, calls, 2)
			assert.GreaterOrEqual(t, calls[1].Sub(calls[0]), tc.after, "tried again before the Retry-After")
			assert.Equal(t, 1, dst.Len())
		})
	}
}

// TestRunGiveUpMetrics: with MaxAttempts 2, a write that fails twice is
// retried once, then given up on (its message nacked, delivered again and
// written): fhirsync.write.retries counts the one retry, not the give-up.
func TestRunGiveUpMetrics(t *testing.T) {
	b := memsource.NewBroker()
	publish(b, "0 1")
	dst := memsink.New(nil)
	dst.FailNext(2, memsink.Unavailable())
	reader := sdkmetric.NewManualReader()
	src := b.Open("sub", &memsource.Options{Finite: true})
	require.NoError(t, fhirsync.Run(context.Background(), src, patients(false), dst, fast(&fhirsync.Options{
		MaxAttempts: 2, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})))
	assert.Equal(t, 1, dst.Len())
	assert.Equal(t, 1, b.Committed("sub"))
	m := collect(t, reader)
	assert.EqualValues(t, 1, m["fhirsync.write.retries"])
	assert.EqualValues(t, 1, m["fhirsync.messages.settled{outcome=nacked}"])
	assert.EqualValues(t, 1, m["fhirsync.messages.settled{outcome=acked}"])
	assert.EqualValues(t, 2, m["fhirsync.messages.read"])
}

// refCheckSink is a sink with referential integrity on write (as HAPI and
// the Google Cloud Healthcare API have by default): it records a violation
// when an op references a resource of a type in checked that no earlier
// Write, nor an earlier op of the same Write, wrote. Patient writes are slow.
type refCheckSink struct {
	sink.Sink
	checked    map[string]bool
	mu         sync.Mutex
	written    map[string]bool
	violations []string
}

var referenceRE = regexp.MustCompile(`"reference":"([A-Za-z]+)/([A-Za-z0-9.-]+)"`)

func (s *refCheckSink) Write(ctx context.Context, ops []sink.Op) error {
	s.mu.Lock()
	seen := map[string]bool{}
	slow := false
	for _, op := range ops {
		b, err := resource.Marshal(op.Resource)
		if err != nil {
			return err
		}
		for _, m := range referenceRE.FindAllStringSubmatch(string(b), -1) {
			ref := m[1] + "/" + m[2]
			if s.checked[m[1]] && !s.written[ref] && !seen[ref] {
				s.violations = append(s.violations, ref)
			}
		}
		key, _ := resource.Key(op.Resource)
		seen[key] = true
		slow = slow || resource.Type(op.Resource) == "Patient"
	}
	s.mu.Unlock()
	if slow {
		time.Sleep(2 * time.Millisecond)
	}
	if err := s.Sink.Write(ctx, ops); err != nil {
		return err
	}
	s.mu.Lock()
	for k := range seen {
		s.written[k] = true
	}
	s.mu.Unlock()
	return nil
}

// TestRunWritesReferencedResourcesFirst: a converter returns resources
// referenced first (Patient, Coverage, Claim); with several writers and
// batches smaller than a message, a resource is never written before one it
// references that the run is writing.
func TestRunWritesReferencedResourcesFirst(t *testing.T) {
	const n = 40
	b := memsource.NewBroker()
	for i := range n {
		publish(b, strconv.Itoa(i))
	}
	conv := fhirmap.ConverterFunc(func(_ context.Context, m *source.Message) ([]proto.Message, error) {
		i, err := strconv.Atoi(string(m.Body))
		if err != nil {
			return nil, err
		}
		return []proto.Message{sinktest.Patient(i), sinktest.Coverage(i), sinktest.Claim(i)}, nil
	})
	dst := &refCheckSink{Sink: memsink.New(nil), checked: map[string]bool{"Patient": true, "Coverage": true}, written: map[string]bool{}}
	src := b.Open("sub", &memsource.Options{Finite: true})
	require.NoError(t, fhirsync.Run(context.Background(), src, conv, dst, fast(&fhirsync.Options{BatchSize: 1, Writers: 4})))
	assert.Equal(t, n, b.Committed("sub"))
	assert.Empty(t, dst.violations, "resources written before what they reference")
}

// scriptedSink blocks Writes of Patient 0 until release is closed and fails
// those of Patient 1 for good.
type scriptedSink struct {
	sink.Sink
	release chan struct{}
}

func (s *scriptedSink) Write(ctx context.Context, ops []sink.Op) error {
	switch resource.ID(ops[0].Resource) {
	case sinktest.PatientID(0):
		<-s.release // a write that outlives ctx
		return ctx.Err()
	case sinktest.PatientID(1):
		return errors.New("sinktest: HTTP 401")
	}
	return s.Sink.Write(ctx, ops)
}

// signalHandler closes stopped when the engine logs that the run stopped.
type signalHandler struct {
	slog.Handler
	once    sync.Once
	stopped chan struct{}
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *signalHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "fhirsync: run stopped" {
		h.once.Do(func() { close(h.stopped) })
	}
	return nil
}

// TestRunReturnsItsFailureWhenCancelledWhileStopping: a run that stopped on
// a failure returns that failure, even when its ctx is cancelled (a SIGTERM)
// while it waits for its writes to end.
func TestRunReturnsItsFailureWhenCancelledWhileStopping(t *testing.T) {
	b := memsource.NewBroker()
	publish(b, "0 1", "1 1")
	dst := &scriptedSink{Sink: memsink.New(nil), release: make(chan struct{})}
	h := &signalHandler{Handler: slog.DiscardHandler, stopped: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- fhirsync.Run(ctx, b.Open("sub", nil), patients(false), dst, fast(&fhirsync.Options{BatchSize: 1, Writers: 2, Logger: slog.New(h)}))
	}()
	<-h.stopped
	cancel()
	close(dst.release)
	err := <-done
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 401", "the failure that stopped the run, not the later cancellation")
	assert.Equal(t, 0, b.Committed("sub"))
}

// partialSource returns its first messages together with an error.
type partialSource struct {
	source.Source
	once sync.Once
}

func (p *partialSource) Read(ctx context.Context) ([]*source.Message, error) {
	msgs, err := p.Source.Read(ctx)
	failed := false
	p.once.Do(func() { failed = true })
	if failed && err == nil {
		return msgs, errors.New("connection lost after a partial fetch")
	}
	return msgs, err
}

// TestRunKeepsMessagesReadWithAnError: messages a Read returns along with an
// error are processed, not dropped.
func TestRunKeepsMessagesReadWithAnError(t *testing.T) {
	b := memsource.NewBroker()
	publish(b, "0 1", "1 1", "2 1")
	src := &partialSource{Source: b.Open("sub", &memsource.Options{Finite: true, MaxBatch: 2})}
	dst := memsink.New(nil)
	require.NoError(t, fhirsync.Run(context.Background(), src, patients(false), dst, fast(nil)))
	assert.Equal(t, 3, dst.Len())
	assert.Equal(t, 3, b.Committed("sub"))
}

// streamer is a StreamConverter over bodies "n": n patients, emitted one at
// a time; failAt makes the first attempt fail (retryably) after that many
// emits. Its Convert must never be called by Run.
type streamer struct {
	failAt   int
	failed   atomic.Bool // the one failure happened
	attempts atomic.Int32
	emitted  atomic.Int32
}

func (s *streamer) Convert(context.Context, *source.Message) ([]proto.Message, error) {
	panic("Run must stream")
}

func (s *streamer) ConvertStream(ctx context.Context, m *source.Message, emit func([]proto.Message) error) error {
	n, err := strconv.Atoi(string(m.Body))
	if err != nil {
		return &fhirmap.ConvertError{Failed: []fhirmap.RecordError{{Err: &fhirmap.Error{Err: fhirmap.ErrInvalidValue}}}}
	}
	s.attempts.Add(1)
	for i := range n {
		if s.failAt > 0 && i == s.failAt && s.failed.CompareAndSwap(false, true) {
			return sink.Retryable(errors.New("lookup unavailable"), 0)
		}
		if err := emit([]proto.Message{sinktest.Patient(i)}); err != nil {
			return err
		}
		s.emitted.Add(1)
	}
	return nil
}

// TestRunStreamsAStreamConverter: a StreamConverter's resources are written
// as they come (a message of 2,000 records through 16-resource batches), a
// failure in the middle retries the message (re-emitting is harmless), and
// the message is acked once everything is written.
func TestRunStreamsAStreamConverter(t *testing.T) {
	b := memsource.NewBroker()
	publish(b, "2000", "bad", "3")
	conv := &streamer{failAt: 700}
	rej := fhirsync.RejecterFunc(func(context.Context, *fhirsync.Rejection) error { return nil })
	dst := memsink.New(nil)
	src := b.Open("sub", &memsource.Options{Finite: true})
	require.NoError(t, fhirsync.Run(context.Background(), src, conv, dst, fast(&fhirsync.Options{BatchSize: 16, Reject: rej})))
	assert.Equal(t, 2000, dst.Len())
	assert.Equal(t, 3, b.Committed("sub"))
	assert.EqualValues(t, 700+2000+3, conv.emitted.Load(), "the failed attempt's 700, the retry's 2,000, the last message's 3")
}

// TestRunRepeatFilterKeepsNewerSourceVersions: an 834 message holding two
// interchanges whose members are unchanged but whose transaction dates
// differ. The converter's repeat filter must not drop the later copies:
// their source version (meta) is newer, and the stale-update guard must
// remember it, or an older change arriving later would overwrite them.
func TestRunRepeatFilterKeepsNewerSourceVersions(t *testing.T) {
	jan, err := os.ReadFile("fhirmap/testdata/834_full_jan.x12")
	require.NoError(t, err)
	later := bytes.ReplaceAll(jan, []byte("BGN*00*FULL1101*20240101*0600"), []byte("BGN*00*FULL1102*20240201*0600"))
	require.NotEqual(t, jan, later)
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: []byte("a test key of at least 16 bytes")}})
	require.NoError(t, err)
	b := memsource.NewBroker()
	b.Publish(append(append([]byte(nil), jan...), later...))
	versions := fhirsync.NewMemoryVersions(1000)
	dst := memsink.New(nil)
	rej := fhirsync.RejecterFunc(func(_ context.Context, r *fhirsync.Rejection) error {
		t.Errorf("unexpected rejection: %v", r.Err)
		return nil
	})
	require.NoError(t, fhirsync.Run(context.Background(), b.Open("sub", &memsource.Options{Finite: true}), fhirmap.NewX12Converter(m, nil), dst, fast(&fhirsync.Options{Reject: rej, Versions: versions})))
	require.Equal(t, 1, b.Committed("sub"))
	n := 0
	for _, r := range dst.All() {
		if resource.Type(r) != "Patient" {
			continue
		}
		n++
		key, err := resource.Key(r)
		require.NoError(t, err)
		v, err := versions.Get(context.Background(), key)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(v, "20240201"), "%s: version remembered %q, want the later transaction's", key, v)
		assert.True(t, strings.HasPrefix(fhirsync.SourceVersion(r), "20240201"), "%s: written with version %q", key, fhirsync.SourceVersion(r))
	}
	assert.Equal(t, 4, n)
}
