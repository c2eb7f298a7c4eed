package fhirmap

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/x12"
)

// convertWith converts the fixture name as one message with the given
// number of workers, an index feeding the mapper's claim lookups (so that an
// 835 joins with the 837s before it in the same file), and returns the
// resources, the error and the record positions OnResult saw.
func convertWith(t *testing.T, name string, workers int) ([]proto.Message, error, []string) {
	t.Helper()
	ix := NewClaimIndex(nil)
	var seen []string
	conv := NewX12Converter(goldenMapper(t, name, ix), &X12ConverterOptions{
		Index: ix, Workers: workers,
		OnResult: func(_ context.Context, rec x12.Record, _ *Result) {
			seen = append(seen, rec.Pos().String())
		},
	})
	msg := source.NewMessage(name, readCase(t, name), nil, nil, nil)
	var out []proto.Message
	err := conv.ConvertStream(context.Background(), msg, func(rs []proto.Message) error {
		out = append(out, rs...)
		return nil
	})
	return out, err, seen
}

// TestConvertWorkers: with several workers, every fixture converts exactly as
// with one: the same resources in the same order, the same failures, OnResult
// in record order, and an 835 in the same file as its 837 still joins.
func TestConvertWorkers(t *testing.T) {
	names, err := filepath.Glob(filepath.Join("testdata", "*.x12"))
	if err != nil || len(names) < 10 {
		t.Fatalf("fixtures: %v %d", err, len(names))
	}
	for _, path := range names {
		name := strings.TrimSuffix(filepath.Base(path), ".x12")
		t.Run(name, func(t *testing.T) {
			want, wantErr, wantSeen := convertWith(t, name, 1)
			for _, workers := range []int{2, 8} {
				got, gotErr, gotSeen := convertWith(t, name, workers)
				if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
					t.Fatalf("workers %d: error %v, one worker: %v", workers, gotErr, wantErr)
				}
				if len(got) != len(want) {
					t.Fatalf("workers %d: %d resources, one worker: %d", workers, len(got), len(want))
				}
				for i := range got {
					if !proto.Equal(got[i], want[i]) {
						t.Fatalf("workers %d: resource %d differs", workers, i)
					}
				}
				if strings.Join(gotSeen, ";") != strings.Join(wantSeen, ";") {
					t.Errorf("workers %d: OnResult order\n%v\nwant\n%v", workers, gotSeen, wantSeen)
				}
			}
		})
	}
}

// TestConvertWorkersFailures: a lookup failure fails the message and a
// cancelled context stops it, with no mapping left running; a panic on a
// worker becomes a PHI-free error instead of crashing the process.
func TestConvertWorkersFailures(t *testing.T) {
	name := "837p_corrections"
	body := readCase(t, name)
	m := goldenMapper(t, name, nil)

	ctx, cancel := context.WithCancel(context.Background())
	emits := 0
	err := NewX12Converter(m, &X12ConverterOptions{Workers: 4}).ConvertStream(ctx, source.NewMessage(name, body, nil, nil, nil), func([]proto.Message) error {
		emits++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || emits != 1 {
		t.Errorf("cancelled: %v after %d emits", err, emits)
	}

	stop := errors.New("sink gone")
	err = NewX12Converter(m, &X12ConverterOptions{Workers: 4}).ConvertStream(context.Background(), source.NewMessage(name, body, nil, nil, nil), func([]proto.Message) error {
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("failing emit: %v", err)
	}

	// A user's callback panicking on a worker (here the dependents' member
	// ids of an 834).
	var calls atomic.Int32
	pm, err := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}, DependentMemberID: func(context.Context, Dependent) (string, error) {
		if calls.Add(1) == 1 {
			panic("NM1*IL*1*" + canary)
		}
		return "", nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = NewX12Converter(pm, &X12ConverterOptions{Workers: 4}).ConvertStream(context.Background(),
		source.NewMessage("834", readCase(t, "834_dependents"), nil, nil, nil), func([]proto.Message) error { return nil })
	if calls.Load() == 0 {
		t.Fatal("the callback was never called: the test does not test")
	}
	if !errors.Is(err, errMapperPanic) || strings.Contains(err.Error(), canary) {
		t.Errorf("panic on a worker: %v", err)
	}
}
