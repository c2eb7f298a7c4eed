//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ndjsonsink_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/sink"
	"github.com/fhirsync/fhirsync/sink/ndjsonsink"
	"github.com/fhirsync/fhirsync/sink/sinktest"
)

const crashKeys = 12

var crashOpts = &ndjsonsink.Options{MaxFileLines: 5}

// crashBatch is batch b of the crash test's deterministic schedule: upserts
// of revision b of a few keys, and now and then a delete.
func crashBatch(b int) []sink.Op {
	var ops []sink.Op
	for j := range 3 {
		ops = append(ops, sink.Op{Resource: sinktest.PatientRev((b*5+j*7)%crashKeys, b+1)})
	}
	if b%4 == 3 {
		ops = append(ops, sink.Op{Resource: sinktest.Patient((b * 11) % crashKeys), Delete: true})
	}
	return ops
}

// crashState is the revision of each key after batches [0, n) (-1: absent).
func crashState(n int) []int {
	st := make([]int, crashKeys)
	for i := range st {
		st[i] = -1
	}
	for b := range n {
		for _, op := range crashBatch(b) {
			var k int
			fmt.Sscanf(resource.ID(op.Resource), "sinktest-pat-%d", &k)
			if op.Delete {
				st[k] = -1
			} else {
				st[k] = sinktest.Revision(op.Resource)
			}
		}
	}
	return st
}

// TestCrashChild is the process the crash test kills: it writes batches
// forever and prints the number of each batch Write acknowledged.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("NDJSONSINK_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestCrashRecovery")
	}
	s, err := ndjsonsink.New(dir, crashOpts)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	for b := 0; ; b++ {
		if err := s.Write(context.Background(), crashBatch(b)); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println(b)
	}
}

// TestCrashRecovery kills a writing process with SIGKILL at several points
// and checks that New recovers every acknowledged write: each key holds its
// state after the last acknowledged batch, or after the one in flight.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, killAfter := range []int{1, 5, 30} {
		t.Run(strconv.Itoa(killAfter), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
			cmd.Env = append(os.Environ(), "NDJSONSINK_CRASH_DIR="+dir)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			sc := bufio.NewScanner(out)
			acked := -1
			for sc.Scan() {
				n, err := strconv.Atoi(sc.Text())
				require.NoError(t, err, "child: %s", sc.Text())
				acked = n
				if n+1 >= killAfter {
					break
				}
			}
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			cmd.Wait()
			require.GreaterOrEqual(t, acked+1, killAfter)

			s, err := ndjsonsink.New(dir, crashOpts)
			require.NoError(t, err)
			require.NoError(t, s.Close(context.Background()))
			got := make([]int, crashKeys)
			for i := range got {
				got[i] = -1
			}
			seen := map[string]bool{}
			for l, err := range ndjsonsink.Lines(dir) {
				require.NoError(t, err)
				require.False(t, seen[l.ID], "%s twice", l.ID)
				seen[l.ID] = true
				m, err := l.Resource()
				require.NoError(t, err)
				var k int
				fmt.Sscanf(l.ID, "sinktest-pat-%d", &k)
				got[k] = sinktest.Revision(m)
			}
			// The child may have completed batches after the last ack we
			// read before the kill landed, and the last one may be torn:
			// some n >= acked batches must explain every key, each holding
			// its state after batch n or after the torn batch n+1.
			a := acked + 1
			maxRev := 0
			for _, r := range got {
				maxRev = max(maxRev, r)
			}
			explained := -1
			for n := a; n <= max(a, maxRev) && explained < 0; n++ {
				now, next := crashState(n), crashState(n+1)
				ok := true
				for k := range got {
					ok = ok && (got[k] == now[k] || got[k] == next[k])
				}
				if ok {
					explained = n
				}
			}
			require.GreaterOrEqual(t, explained, a, "after %d acknowledged batches the set holds %v; want %v", a, got, crashState(a))
			t.Logf("killed after %d acks read; set explained by %d batches", a, explained)
		})
	}
}
