package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
)

// TestKafkaToFHIR produces the sample X12 files (and one broken record) into
// an in-process Kafka cluster, runs the service into the real test FHIR
// server until the claims are there, and checks the rejection was recorded
// and the offsets committed.
func TestKafkaToFHIR(t *testing.T) {
	srv := fhirtest.Start(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "x12-inbound"))
	require.NoError(t, err)
	defer cluster.Close()
	brokers := strings.Join(cluster.ListenAddrs(), ",")

	prod, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("x12-inbound"))
	require.NoError(t, err)
	defer prod.Close()
	for _, name := range []string{"sample.837p.x12", "sample.835.x12", "sample.834.x12"} {
		b, err := os.ReadFile(filepath.Join("..", "x12tofhir", "testdata", name))
		require.NoError(t, err)
		require.NoError(t, prod.ProduceSync(context.Background(), &kgo.Record{Value: b}).FirstErr())
	}
	require.NoError(t, prod.ProduceSync(context.Background(), &kgo.Record{Value: []byte("ISA*not an interchange ZZCANARYZZ~")}).FirstErr())

	reject := t.TempDir()
	t.Setenv("FHIRSYNC_ID_KEY", "a test key of at least 16 bytes")
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := config{brokers: brokers, topic: "x12-inbound", group: "test", fhirURL: srv.URL(), mode: "transaction", reject: reject, batch: 50}
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil))) }()

	total := func(typ string) int {
		resp, body, err := srv.Do(context.Background(), "GET", "/"+typ+"?_summary=count", nil, nil)
		if err != nil || resp.StatusCode != 200 {
			return -1
		}
		var b struct{ Total int }
		_ = json.Unmarshal(body, &b)
		return b.Total
	}
	require.Eventually(t, func() bool {
		ents, _ := os.ReadDir(reject)
		return total("Claim") >= 3 && total("ExplanationOfBenefit") >= 1 && total("Coverage") >= 1 && len(ents) == 1
	}, 60*time.Second, 100*time.Millisecond, "resources on the server and one rejection")
	cancel()
	require.NoError(t, <-done)

	// The committed offsets cover every record: a restart reads nothing again.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	committed := 0
	for _, p := range []int32{0, 1} {
		resp := fetchOffset(t, cl, "test", "x12-inbound", p)
		committed += int(resp)
	}
	assert.Equal(t, 4, committed)
	assert.NotContains(t, logs.String(), "ZZCANARYZZ")
}

// fetchOffset returns the group's committed offset of a partition (0 when
// none).
func fetchOffset(t *testing.T, cl *kgo.Client, group, topic string, partition int32) int64 {
	t.Helper()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	require.NoError(t, err)
	o, ok := offs.Lookup(topic, partition)
	if !ok {
		return 0
	}
	return o.At
}

func TestUsage(t *testing.T) {
	t.Setenv("FHIRSYNC_ID_KEY", "")
	for _, args := range [][]string{
		{},
		{"-topic", "t", "-reject", "r"},
		{"-topic", "t", "-reject", "r", "-fhir", "http://x", "-out", "d"},
		{"-topic", "t", "-reject", t.TempDir(), "-fhir", "http://x"},
		{"-nosuchflag"},
	} {
		var stderr bytes.Buffer
		assert.Equal(t, 2, run(context.Background(), args, &stderr), "%v", args)
		assert.NotEmpty(t, stderr.String())
	}
}
