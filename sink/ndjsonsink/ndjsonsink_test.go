package ndjsonsink_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/ndjsonsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func fixedNow() time.Time { return time.Date(2024, 2, 3, 4, 5, 6, 789e6, time.UTC) }

func up(m proto.Message) sink.Op  { return sink.Op{Resource: m} }
func del(m proto.Message) sink.Op { return sink.Op{Resource: m, Delete: true} }

// setOf reads a set back as "Type/id@rev" (rev only for patients), in file
// order, and checks line numbering: consecutive in a sealed file, increasing
// in a work file (whose superseded lines are skipped).
func setOf(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	last := map[string]int{}
	for l, err := range ndjsonsink.Lines(dir) {
		require.NoError(t, err)
		if strings.HasPrefix(l.File, ".ndjsonsink") {
			require.Greater(t, l.Number, last[l.File], "line numbers of %s", l.File)
		} else {
			require.Equal(t, last[l.File]+1, l.Number, "line numbers of %s", l.File)
		}
		last[l.File] = l.Number
		m, err := l.Resource()
		require.NoError(t, err)
		require.Equal(t, l.Type, resource.Type(m))
		require.Equal(t, l.ID, resource.ID(m))
		s := l.Type + "/" + l.ID
		if l.Type == "Patient" {
			s += fmt.Sprintf("@%d", sinktest.Revision(m))
		}
		out = append(out, s)
	}
	return out
}

func pat(i, rev int) proto.Message { return sinktest.PatientRev(i, rev) }

// TestOneLinePerResource writes sequences of batches and checks the sealed
// set holds exactly the latest line of each resource, whatever the rotation.
func TestOneLinePerResource(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		batches     [][]sink.Op
		wantSet     []string // sorted
		wantDeleted []string
	}{
		{"rewrite", [][]sink.Op{{up(pat(1, 0))}, {up(pat(1, 0))}, {up(pat(1, 0))}},
			[]string{"Patient/sinktest-pat-1@0"}, nil},
		{"update across batches", [][]sink.Op{{up(pat(1, 0)), up(pat(2, 0))}, {up(pat(1, 1))}, {up(pat(3, 0)), up(pat(1, 2))}},
			[]string{"Patient/sinktest-pat-1@2", "Patient/sinktest-pat-2@0", "Patient/sinktest-pat-3@0"}, nil},
		{"update within a batch", [][]sink.Op{{up(pat(1, 1)), up(pat(2, 0)), up(pat(1, 2)), up(pat(1, 3))}},
			[]string{"Patient/sinktest-pat-1@3", "Patient/sinktest-pat-2@0"}, nil},
		{"delete", [][]sink.Op{{up(pat(1, 0)), up(pat(2, 0))}, {del(pat(1, 0))}},
			[]string{"Patient/sinktest-pat-2@0"}, []string{"Patient/sinktest-pat-1"}},
		{"delete unknown", [][]sink.Op{{del(sinktest.Coverage(9))}},
			nil, []string{"Coverage/sinktest-cov-9"}},
		{"delete then upsert", [][]sink.Op{{up(pat(1, 0)), del(pat(1, 0))}, {up(pat(1, 4))}},
			[]string{"Patient/sinktest-pat-1@4"}, nil},
		{"upsert delete upsert delete in one batch", [][]sink.Op{{up(pat(1, 0)), del(pat(1, 0)), up(pat(1, 1)), del(pat(1, 0))}},
			nil, []string{"Patient/sinktest-pat-1"}},
		{"types are separate", [][]sink.Op{{up(sinktest.Coverage(1)), up(pat(1, 0)), del(sinktest.Coverage(1)), up(sinktest.Claim(1))}},
			[]string{"Claim/sinktest-claim-1", "Patient/sinktest-pat-1@0"}, []string{"Coverage/sinktest-cov-1"}},
		{"everything superseded", [][]sink.Op{{up(pat(1, 0)), up(pat(2, 0)), up(pat(3, 0))}, {del(pat(1, 0)), del(pat(2, 0)), del(pat(3, 0))}},
			nil, []string{"Patient/sinktest-pat-1", "Patient/sinktest-pat-2", "Patient/sinktest-pat-3"}},
	} {
		for _, opts := range []ndjsonsink.Options{{}, {MaxFileLines: 1}, {MaxFileLines: 2}, {MaxFileBytes: 1}} {
			t.Run(fmt.Sprintf("%s/lines=%d,bytes=%d", tc.name, opts.MaxFileLines, opts.MaxFileBytes), func(t *testing.T) {
				dir := t.TempDir()
				s, err := ndjsonsink.New(dir, &opts)
				require.NoError(t, err)
				for _, b := range tc.batches {
					require.NoError(t, s.Write(ctx, b))
				}
				// The unsealed set reads back as the sealed one will.
				unsealed := setOf(t, dir)
				sort.Strings(unsealed)
				assert.Equal(t, tc.wantSet, unsealed, "unsealed")
				del, err := ndjsonsink.Deleted(dir)
				require.NoError(t, err)
				assert.Equal(t, tc.wantDeleted, del, "unsealed deleted")
				st := s.Stats()
				assert.Equal(t, len(tc.wantSet), st.Resources)
				assert.Equal(t, len(tc.wantDeleted), st.Deleted)

				require.NoError(t, s.Close(ctx))
				got := setOf(t, dir)
				sort.Strings(got)
				assert.Equal(t, tc.wantSet, got)
				del, err = ndjsonsink.Deleted(dir)
				require.NoError(t, err)
				assert.Equal(t, tc.wantDeleted, del)
				checkManifest(t, dir)
			})
		}
	}
}

// checkManifest checks that the manifest lists exactly the files in dir,
// with their true line counts, numbered from 1 per type without gaps, that
// no file exceeds the rotation limits it was written with, and that the work
// directory is gone.
func checkManifest(t *testing.T, dir string) *ndjsonsink.Manifest {
	t.Helper()
	m, err := ndjsonsink.ReadManifest(dir)
	require.NoError(t, err)
	listed := []string{ndjsonsink.ManifestName}
	next := map[string]int{}
	for _, f := range append(slices.Clone(m.Output), m.Deleted...) {
		name := filepath.Base(f.URL)
		listed = append(listed, name)
		prefix := f.Type
		if f.Type == "Bundle" {
			prefix = "deleted"
		}
		next[prefix]++
		assert.Equal(t, fmt.Sprintf("%s.%06d.ndjson", prefix, next[prefix]), name)
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, f.Count, bytes.Count(b, []byte{'\n'}), name)
		assert.True(t, f.Count > 0, "empty file %s listed", name)
		assert.True(t, bytes.HasSuffix(b, []byte{'\n'}), name)
	}
	assert.NotNil(t, m.Error)
	assert.Empty(t, m.Error)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var present []string
	for _, e := range entries {
		present = append(present, e.Name())
	}
	slices.Sort(listed)
	assert.Equal(t, listed, present, "files in the sealed directory")
	return m
}

func TestManifestGolden(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := ndjsonsink.New(dir, &ndjsonsink.Options{
		MaxFileLines: 2, DeleteBundleSize: 2, Now: fixedNow,
		BaseURL: "s3://bucket/imports/2024-02-03/", Request: "urn:example:nightly-837",
	})
	require.NoError(t, err)
	var ops []sink.Op
	for i := range 3 {
		for _, m := range sinktest.Related(i) {
			ops = append(ops, up(m))
		}
	}
	ops = append(ops, del(pat(2, 0)), del(sinktest.Claim(0)), del(sinktest.Claim(7)), up(pat(0, 1)))
	require.NoError(t, s.Write(ctx, ops))
	require.NoError(t, s.Close(ctx))
	checkManifest(t, dir)
	got, err := os.ReadFile(filepath.Join(dir, ndjsonsink.ManifestName))
	require.NoError(t, err)
	golden(t, "manifest.golden.json", got)
	deleted, err := os.ReadFile(filepath.Join(dir, "deleted.000001.ndjson"))
	require.NoError(t, err)
	golden(t, "deleted.golden.ndjson", deleted)
	// Each deleted line is a valid R4 transaction Bundle.
	for line := range bytes.SplitSeq(bytes.TrimSpace(deleted), []byte{'\n'}) {
		m, err := resource.Unmarshal(line)
		require.NoError(t, err)
		assert.Equal(t, "Bundle", resource.Type(m))
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), string(got))
}

func TestRotationBySize(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	claim, err := resource.Marshal(sinktest.Claim(1))
	require.NoError(t, err)
	limit := int64(len(claim)) + 20 // two Claims never fit in one file
	s, err := ndjsonsink.New(dir, &ndjsonsink.Options{MaxFileBytes: limit})
	require.NoError(t, err)
	var ops []sink.Op
	var patientBytes int64
	for i := range 40 {
		ops = append(ops, up(pat(i, 0)))
		b, err := resource.Marshal(pat(i, 0))
		require.NoError(t, err)
		patientBytes += int64(len(b)) + 1
	}
	require.NoError(t, s.Write(ctx, append(ops, up(sinktest.Claim(1)), up(sinktest.Claim(2)))))
	require.NoError(t, s.Close(ctx))
	m := checkManifest(t, dir)
	files := map[string]int{}
	for _, f := range m.Output {
		files[f.Type]++
		fi, err := os.Stat(filepath.Join(dir, f.URL))
		require.NoError(t, err)
		assert.LessOrEqual(t, fi.Size(), limit, f.URL)
	}
	assert.GreaterOrEqual(t, int64(files["Patient"]), (patientBytes+limit-1)/limit)
	assert.Equal(t, 2, files["Claim"])
	assert.Len(t, setOf(t, dir), 42)
}

func TestIfMatchUnsupported(t *testing.T) {
	ctx := context.Background()
	s, err := ndjsonsink.New(t.TempDir(), nil)
	require.NoError(t, err)
	defer s.Close(ctx)
	err = s.Write(ctx, []sink.Op{up(pat(1, 0)), {Resource: pat(2, 0), IfMatch: "1"}})
	var be *sink.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 1)
	assert.Equal(t, 1, be.Failed[0].Index)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Equal(t, 1, s.Stats().Resources)
}

func TestNewRefuses(t *testing.T) {
	ctx := context.Background()
	t.Run("sealed", func(t *testing.T) {
		dir := t.TempDir()
		s, err := ndjsonsink.New(dir, nil)
		require.NoError(t, err)
		require.NoError(t, s.Write(ctx, sink.Upserts(pat(1, 0))))
		require.NoError(t, s.Close(ctx))
		_, err = ndjsonsink.New(dir, nil)
		assert.ErrorIs(t, err, ndjsonsink.ErrSealed)
	})
	t.Run("sealed with work files left", func(t *testing.T) {
		dir := t.TempDir()
		s, err := ndjsonsink.New(dir, nil)
		require.NoError(t, err)
		require.NoError(t, s.Write(ctx, sink.Upserts(pat(1, 0))))
		require.NoError(t, s.Close(ctx))
		// A crash between the manifest and the removal of the work files.
		require.NoError(t, os.MkdirAll(filepath.Join(dir, ".ndjsonsink"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, ".ndjsonsink", "Patient.000001.ndjson"), []byte("{}\n"), 0o644))
		_, err = ndjsonsink.New(dir, nil)
		assert.ErrorIs(t, err, ndjsonsink.ErrSealed)
		_, err = os.Stat(filepath.Join(dir, ".ndjsonsink"))
		assert.ErrorIs(t, err, fs.ErrNotExist)
		checkManifest(t, dir)
	})
	t.Run("foreign file", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644))
		_, err := ndjsonsink.New(dir, nil)
		assert.ErrorIs(t, err, ndjsonsink.ErrNotSet)
	})
	t.Run("outputs without work files", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "Patient.000001.ndjson"), nil, 0o644))
		_, err := ndjsonsink.New(dir, nil)
		assert.ErrorIs(t, err, ndjsonsink.ErrNotSet)
	})
	t.Run("a file, not a directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "f")
		require.NoError(t, os.WriteFile(path, nil, 0o644))
		_, err := ndjsonsink.New(path, nil)
		assert.Error(t, err)
	})
	t.Run("locked", func(t *testing.T) {
		dir := t.TempDir()
		s, err := ndjsonsink.New(dir, nil)
		require.NoError(t, err)
		_, err = ndjsonsink.New(dir, nil)
		assert.ErrorIs(t, err, ndjsonsink.ErrLocked)
		require.NoError(t, s.Detach(ctx))
		s2, err := ndjsonsink.New(dir, nil)
		require.NoError(t, err)
		require.NoError(t, s2.Close(ctx))
	})
	t.Run("nested new directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b", "set")
		s, err := ndjsonsink.New(dir, nil)
		require.NoError(t, err)
		require.NoError(t, s.Close(ctx))
		assert.Empty(t, setOf(t, dir))
	})
}

// TestResume detaches (as a stopping service would, or as a crash leaves
// things, since every write was fsynced) and resumes a set, with damage a
// crash can cause, and checks the resumed set.
func TestResume(t *testing.T) {
	ctx := context.Background()
	work := func(dir, name string) string { return filepath.Join(dir, ".ndjsonsink", name) }
	appendTo := func(t *testing.T, path, s string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		require.NoError(t, err)
		_, err = f.WriteString(s)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr error
	}{
		{"clean", func(*testing.T, string) {}, nil},
		{"torn part line", func(t *testing.T, dir string) {
			appendTo(t, work(dir, "Patient.000002.ndjson"), `{"resourceType":"Patient","id":"sinktest-pat-1","name":[{"fam`)
		}, nil},
		{"zero-filled tail", func(t *testing.T, dir string) {
			appendTo(t, work(dir, "Patient.000002.ndjson"), "\x00\x00\x00\x00\x00\x00\x00\x00")
		}, nil},
		{"torn journal line", func(t *testing.T, dir string) {
			appendTo(t, work(dir, "deletes.journal"), `{"type":"Patient","id":"sinktest-pat-2","af`)
		}, nil},
		{"leftover temporary files", func(t *testing.T, dir string) {
			appendTo(t, work(dir, "publish.tmp"), "partial")
			appendTo(t, work(dir, "manifest.json.tmp"), "{")
		}, nil},
		{"leftover outputs of a stopped seal", func(t *testing.T, dir string) {
			appendTo(t, filepath.Join(dir, "Patient.000001.ndjson"), "{}\n")
			appendTo(t, filepath.Join(dir, "deleted.000001.ndjson"), "{}\n")
		}, nil},
		{"corrupt complete line", func(t *testing.T, dir string) {
			appendTo(t, work(dir, "Patient.000002.ndjson"), `{"resourceType":"Coverage","id":"x"}`+"\n")
		}, ndjsonsink.ErrCorrupt},
		{"corrupt journal", func(t *testing.T, dir string) {
			appendTo(t, work(dir, "deletes.journal"), "not json\n")
		}, ndjsonsink.ErrCorrupt},
		{"unknown work file", func(t *testing.T, dir string) {
			appendTo(t, work(dir, "stray"), "x")
		}, ndjsonsink.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := &ndjsonsink.Options{MaxFileLines: 3}
			s, err := ndjsonsink.New(dir, opts)
			require.NoError(t, err)
			// Patient lines: 1@0 2@0 3@0 | 1@1 4@0, then 2 deleted.
			require.NoError(t, s.Write(ctx, sink.Upserts(pat(1, 0), pat(2, 0), pat(3, 0))))
			require.NoError(t, s.Write(ctx, []sink.Op{up(pat(1, 1)), up(pat(4, 0)), del(pat(2, 0))}))
			require.NoError(t, s.Detach(ctx))
			assert.ErrorIs(t, s.Write(ctx, sink.Upserts(pat(5, 0))), sink.ErrClosed)
			require.NoError(t, s.Close(ctx), "Close after Detach does nothing")

			tc.damage(t, dir)
			s, err = ndjsonsink.New(dir, opts)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				sinktest.CheckNoCanary(t, err)
				return
			}
			require.NoError(t, err)
			// Appends continue after the repaired tail; 3@1 and 2@1 supersede.
			require.NoError(t, s.Write(ctx, []sink.Op{up(pat(3, 1)), up(pat(2, 1)), del(pat(4, 0))}))
			require.NoError(t, s.Close(ctx))
			got := setOf(t, dir)
			sort.Strings(got)
			assert.Equal(t, []string{"Patient/sinktest-pat-1@1", "Patient/sinktest-pat-2@1", "Patient/sinktest-pat-3@1"}, got)
			deleted, err := ndjsonsink.Deleted(dir)
			require.NoError(t, err)
			assert.Equal(t, []string{"Patient/sinktest-pat-4"}, deleted)
			checkManifest(t, dir)
		})
	}
}

// countdown is a context whose Err turns to Canceled after n calls: it stops
// a Close partway through, deterministically.
type countdown struct {
	context.Context
	n int
}

func (c *countdown) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

func TestInterruptedClose(t *testing.T) {
	for stopAt := 1; stopAt <= 6; stopAt++ {
		t.Run(fmt.Sprint(stopAt), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			opts := &ndjsonsink.Options{MaxFileLines: 2, DeleteBundleSize: 1}
			s, err := ndjsonsink.New(dir, opts)
			require.NoError(t, err)
			require.NoError(t, s.Write(ctx, []sink.Op{up(pat(1, 0)), up(pat(2, 0)), up(pat(3, 0)), up(pat(1, 1)), del(pat(9, 0)), del(pat(8, 0))}))
			err = s.Close(&countdown{Context: ctx, n: stopAt})
			if err == nil {
				// Sealed before the countdown ran out.
				checkManifest(t, dir)
				return
			}
			require.ErrorIs(t, err, context.Canceled)
			_, err = ndjsonsink.ReadManifest(dir)
			require.ErrorIs(t, err, fs.ErrNotExist, "no manifest after a stopped Close")
			assert.ErrorIs(t, s.Write(ctx, sink.Upserts(pat(4, 0))), sink.ErrClosed)
			if stopAt%2 == 0 {
				require.NoError(t, s.Close(ctx)) // Close again
			} else {
				require.NoError(t, s.Detach(ctx)) // or give up; New finishes
				s, err = ndjsonsink.New(dir, opts)
				require.NoError(t, err)
				require.NoError(t, s.Close(ctx))
			}
			got := setOf(t, dir)
			sort.Strings(got)
			assert.Equal(t, []string{"Patient/sinktest-pat-1@1", "Patient/sinktest-pat-2@0", "Patient/sinktest-pat-3@0"}, got)
			checkManifest(t, dir)
		})
	}
}

// TestWriteFailureIsUndone makes the disk refuse part of a Write (the next
// work file cannot be created) and checks that the Write is reported
// retryable, that nothing of it remains, and that a retry then succeeds.
func TestWriteFailureIsUndone(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := ndjsonsink.New(dir, &ndjsonsink.Options{MaxFileLines: 2})
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, sink.Upserts(pat(1, 0))))
	blocker := filepath.Join(dir, ".ndjsonsink", "Patient.000002.ndjson")
	require.NoError(t, os.Mkdir(blocker, 0o755))
	ops := []sink.Op{up(pat(1, 1)), del(pat(3, 0)), up(pat(2, 0)), up(sinktest.Coverage(1)), up(pat(4, 0))}
	err = s.Write(ctx, ops)
	require.Error(t, err)
	assert.True(t, sink.IsRetryable(err), "%v", err)
	sinktest.CheckNoCanary(t, err)
	assert.Equal(t, ndjsonsink.Stats{Resources: 1, Lines: 1}, s.Stats())
	fi, err := os.Stat(filepath.Join(dir, ".ndjsonsink", "Patient.000001.ndjson"))
	require.NoError(t, err)
	b, _ := resource.Marshal(pat(1, 0))
	assert.Equal(t, int64(len(b)+1), fi.Size(), "the appended line was truncated away")
	_, err = os.Stat(filepath.Join(dir, ".ndjsonsink", "Coverage.000001.ndjson"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "the created work file was removed")

	require.NoError(t, os.Remove(blocker))
	assert.Equal(t, []string{"Patient/sinktest-pat-1@0"}, setOf(t, dir))
	deleted, err := ndjsonsink.Deleted(dir)
	require.NoError(t, err)
	assert.Empty(t, deleted, "the journal was cut back")
	require.NoError(t, s.Write(ctx, ops))
	require.NoError(t, s.Close(ctx))
	got := setOf(t, dir)
	sort.Strings(got)
	assert.Equal(t, []string{"Coverage/sinktest-cov-1", "Patient/sinktest-pat-1@1", "Patient/sinktest-pat-2@0", "Patient/sinktest-pat-4@0"}, got)
	deleted, err = ndjsonsink.Deleted(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"Patient/sinktest-pat-3"}, deleted)
}

// TestSharedMessage writes one message from several goroutines at once:
// the sink must not race on it (google/fhir's marshaller mutates what it
// marshals). Run with -race.
func TestSharedMessage(t *testing.T) {
	ctx := context.Background()
	s, err := ndjsonsink.New(t.TempDir(), nil)
	require.NoError(t, err)
	shared := sinktest.Claim(1)
	before := proto.Clone(shared)
	done := make(chan error)
	for range 4 {
		go func() { done <- s.Write(ctx, sink.Upserts(shared)) }()
	}
	for range 4 {
		require.NoError(t, <-done)
	}
	require.NoError(t, s.Close(ctx))
	assert.True(t, proto.Equal(before, shared), "Write changed the caller's message")
}

func TestErrorsNamePositionsOnly(t *testing.T) {
	dir := t.TempDir()
	s, err := ndjsonsink.New(dir, nil)
	require.NoError(t, err)
	require.NoError(t, s.Write(context.Background(), sink.Upserts(pat(1, 0))))
	require.NoError(t, s.Detach(context.Background()))
	path := filepath.Join(dir, ".ndjsonsink", "Patient.000001.ndjson")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	// A complete line of another type that carries the canary.
	b = append(b, strings.Replace(string(b), `"resourceType":"Patient"`, `"resourceType":"Person"`, 1)...)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	_, err = ndjsonsink.New(dir, nil)
	require.ErrorIs(t, err, ndjsonsink.ErrCorrupt)
	assert.Contains(t, err.Error(), "Patient.000001.ndjson line 2")
	sinktest.CheckNoCanary(t, err)
}
