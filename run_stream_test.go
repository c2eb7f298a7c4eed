package fhirsync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync"
	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/memsink"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/source/filesource"
)

// TestRunStreamedFile runs an X12 file through filesource with Stream: the
// file is decoded from disk (its message holds no body), the sink's refusals
// of several of its resources are recorded with one shared copy of the file,
// and the file is checkpointed as done.
func TestRunStreamedFile(t *testing.T) {
	one, err := os.ReadFile("fhirmap/testdata/837p_simple.x12")
	require.NoError(t, err)
	in := t.TempDir()
	// Many interchanges in one file, larger than a body kept inline.
	content := bytes.Repeat(one, 100)
	require.NoError(t, os.WriteFile(filepath.Join(in, "claims.x12"), content, 0o644))

	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: []byte("a test key of at least 16 bytes")}})
	require.NoError(t, err)
	src, err := filesource.Open(in, &filesource.Options{Stream: true})
	require.NoError(t, err)
	rejDir := t.TempDir()
	rej, err := fhirsync.NewDirRejecter(rejDir)
	require.NoError(t, err)
	dst := memsink.New(&memsink.Options{Fault: memsink.FailOps(fmt.Errorf("%w: HTTP 422", sink.ErrInvalid), 1, 3, 5)})
	require.NoError(t, fhirsync.Run(context.Background(), src, fhirmap.NewX12Converter(m, nil), dst, fast(&fhirsync.Options{Reject: rej, BatchSize: 4})))
	require.NoError(t, src.Close())

	recs := records(t, rej)
	require.Len(t, recs, 3)
	for _, r := range recs {
		assert.Equal(t, fhirsync.StageWrite, r.Stage)
		assert.Equal(t, recs[0].BodyFile, r.BodyFile)
		assert.Equal(t, "claims.x12", r.Metadata["path"])
	}
	require.NotEmpty(t, recs[0].BodyFile, "a streamed body is kept in a body file")
	assert.Equal(t, string(content), body(t, rej, recs[0]))
	assert.Len(t, bodyFiles(t, rejDir), 1)
	assert.Positive(t, dst.Len())

	// Acked: a restart reads nothing.
	src, err = filesource.Open(in, &filesource.Options{Stream: true})
	require.NoError(t, err)
	defer src.Close()
	assert.Empty(t, drainPaths(t, src))
}

// drainPaths reads a finite source to its end, acking, and returns the
// paths of the files read.
func drainPaths(t *testing.T, src *filesource.Source) []string {
	t.Helper()
	var paths []string
	for {
		ms, err := src.Read(context.Background())
		if errors.Is(err, io.EOF) {
			return paths
		}
		require.NoError(t, err)
		for _, m := range ms {
			paths = append(paths, m.Metadata["path"])
			require.NoError(t, m.Ack(context.Background()))
		}
	}
}

// failFirst is a StreamConverter whose first conversion of each message
// fails, retryably, after its first records were emitted; retries convert.
type failFirst struct {
	*fhirmap.X12Converter
	mu       sync.Mutex
	attempts map[string]int
	// change, when set, runs after the first records were emitted (the
	// file changes while it is read) instead of failing.
	change func()
}

func (c *failFirst) ConvertStream(ctx context.Context, m *source.Message, emit func([]proto.Message) error) error {
	c.mu.Lock()
	c.attempts[m.ID]++
	first := c.attempts[m.ID] == 1
	c.mu.Unlock()
	emitted := 0
	return c.X12Converter.ConvertStream(ctx, m, func(rs []proto.Message) error {
		if err := emit(rs); err != nil {
			return err
		}
		if emitted++; first && emitted == 3 {
			if c.change != nil {
				c.change()
				return nil
			}
			return &sink.RetryableError{Err: errors.New("terminology server unavailable")}
		}
		return nil
	})
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd to count file descriptors")
	}
	return len(es)
}

// TestRunStreamedFileRetryAndChange: through Run, a streamed file whose
// conversion fails retryably midway is opened again and read from its
// start (every resource written, none rejected, no descriptor left open);
// one that changes while it is converted is rejected for that version with
// ErrChanged (no copy of a body that is gone), acked, and its new version
// is a new message. No log line, record field or error holds the canary.
func TestRunStreamedFileRetryAndChange(t *testing.T) {
	one, err := os.ReadFile("fhirmap/testdata/837p_simple.x12")
	require.NoError(t, err)
	one = bytes.ReplaceAll(one, []byte("DOE*JANE"), []byte("DOE*"+canary))
	var content []byte // > 64 KiB, read in several pieces; 200 claims of 200 members
	for i := range 200 {
		c := bytes.ReplaceAll(one, []byte("CLM*PCN0001"), fmt.Appendf(nil, "CLM*PCN%04d", i))
		content = append(content, bytes.ReplaceAll(c, []byte("MI*W123456789"), fmt.Appendf(nil, "MI*W%09d", i))...)
	}
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: []byte("a test key of at least 16 bytes")}})
	require.NoError(t, err)

	// What a plain conversion writes.
	want := memsink.New(nil)
	in := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(in, "claims.x12"), content, 0o644))
	src, err := filesource.Open(in, &filesource.Options{Checkpoint: filepath.Join(t.TempDir(), "ckpt")})
	require.NoError(t, err)
	require.NoError(t, fhirsync.Run(context.Background(), src, fhirmap.NewX12Converter(m, nil), want, fast(nil)))
	require.NoError(t, src.Close())
	require.Positive(t, want.Len())

	for _, tc := range []struct {
		name    string
		change  bool
		rejects int
	}{
		{"retried", false, 0},
		{"changed while read", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := t.TempDir()
			p := filepath.Join(in, "claims.x12")
			require.NoError(t, os.WriteFile(p, content, 0o644))
			past := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
			require.NoError(t, os.Chtimes(p, past, past))
			conv := &failFirst{X12Converter: fhirmap.NewX12Converter(m, nil), attempts: map[string]int{}}
			if tc.change {
				conv.change = func() { require.NoError(t, os.Chtimes(p, past.Add(time.Hour), past.Add(time.Hour))) }
			}
			var logs bytes.Buffer
			rejDir := t.TempDir()
			rej, err := fhirsync.NewDirRejecter(rejDir)
			require.NoError(t, err)
			fds := openFDs(t)
			src, err := filesource.Open(in, &filesource.Options{Stream: true})
			require.NoError(t, err)
			dst := memsink.New(nil)
			opts := fast(&fhirsync.Options{Reject: rej, BatchSize: 8})
			opts.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			require.NoError(t, fhirsync.Run(context.Background(), src, conv, dst, opts))
			require.NoError(t, src.Close())
			assert.Equal(t, fds, openFDs(t), "file descriptors left open")
			assert.NotContains(t, logs.String(), canary)

			recs := records(t, rej)
			require.Len(t, recs, tc.rejects)
			if !tc.change {
				assert.Equal(t, 2, conv.attempts["claims.x12@"+strconv.FormatInt(int64(len(content)), 10)+"-"+strconv.FormatInt(past.UnixNano(), 10)])
				assert.Equal(t, want.Len(), dst.Len())
				for _, r := range want.All() {
					key, err := resource.Key(r)
					require.NoError(t, err)
					typ, id, _ := strings.Cut(key, "/")
					got, ok := dst.Read(typ, id)
					if assert.True(t, ok, key) {
						assert.True(t, proto.Equal(stripMeta(r), stripMeta(got)), key)
					}
				}
			} else {
				r := recs[0]
				assert.Equal(t, fhirsync.StageConvert, r.Stage)
				assert.Contains(t, r.Error, filesource.ErrChanged.Error())
				assert.Empty(t, r.BodyFile, "the delivered version is gone")
				assert.Contains(t, r.BodyError, filesource.ErrChanged.Error())
				assert.NotContains(t, r.Error+r.BodyError+r.MessageID+r.Name, canary)
				assert.Empty(t, bodyFiles(t, rejDir))
			}

			// Acked; only a changed file is delivered again, as a new version.
			src, err = filesource.Open(in, &filesource.Options{Stream: true})
			require.NoError(t, err)
			defer src.Close()
			if tc.change {
				assert.Equal(t, []string{"claims.x12"}, drainPaths(t, src))
			} else {
				assert.Empty(t, drainPaths(t, src))
			}
		})
	}
}

// stripMeta returns a copy of r without its meta (version, time).
func stripMeta(r proto.Message) proto.Message {
	c := proto.Clone(r)
	if f := c.ProtoReflect().Descriptor().Fields().ByName("meta"); f != nil {
		c.ProtoReflect().Clear(f)
	}
	return c
}

// TestStreamedBodyFailingMidRead: a streamed body whose reader fails midway
// (a file that changed, an I/O error) fails the whole message with the
// reader's error, for the X12 and the provider CSV converters alike: it is
// no record's fault, so it is no *fhirmap.ConvertError (which would say the
// other records converted, and could never be retried).
func TestStreamedBodyFailingMidRead(t *testing.T) {
	m, err := fhirmap.NewMapper(nil, &fhirmap.Options{IDs: &fhirmap.IDOptions{Key: []byte("a test key of at least 16 bytes")}})
	require.NoError(t, err)
	pm, err := fhirmap.NewProviderMapper(m, nil)
	require.NoError(t, err)
	x12, err := os.ReadFile("fhirmap/testdata/837p_simple.x12")
	require.NoError(t, err)
	var csv strings.Builder
	csv.WriteString("npi,entity_type,last_name,first_name\n")
	for i := range 200 {
		fmt.Fprintf(&csv, "%s,1,%s,ANN\n", npi(t, 155500000+i), canary)
	}
	failure := errors.New("filesource: read in.csv: disk gone")
	for _, tc := range []struct {
		name string
		body []byte
		conv fhirmap.Converter
	}{
		{"x12", bytes.Repeat(x12, 20), fhirmap.NewX12Converter(m, nil)},
		{"provider csv", []byte(csv.String()), fhirmap.NewProviderCSVConverter(pm, &fhirmap.ProviderCSVConverterOptions{CSV: &fhirmap.ProviderCSVOptions{AllowMissingColumns: true}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := source.NewStreamMessage("in@1", func() (io.ReadCloser, error) {
				return io.NopCloser(io.MultiReader(bytes.NewReader(tc.body[:len(tc.body)/2]), errReader{failure})), nil
			}, map[string]string{"file": "in"}, nil, nil)
			_, err := tc.conv.Convert(context.Background(), msg)
			require.Error(t, err)
			assert.ErrorIs(t, err, failure)
			var ce *fhirmap.ConvertError
			assert.False(t, errors.As(err, &ce), "a failing body is reported as a record's error: %v", err)
			assert.NotContains(t, err.Error(), canary)
		})
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// npi returns the valid NPI (Luhn check digit with prefix 80840) whose first
// nine digits are base.
func npi(t *testing.T, base int) string {
	t.Helper()
	digits := "80840" + strconv.Itoa(base)
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return strconv.Itoa(base) + strconv.Itoa((10-sum%10)%10)
}
