package pgsource_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/fhirsync/fhirsync/fhirmap"
	"github.com/fhirsync/fhirsync/source"
)

// providerChange reads a change event body the way a Debezium consumer
// does (numbers kept exact) into a fhirmap.ProviderChange.
func providerChange(t testing.TB, m *source.Message) *fhirmap.ProviderChange {
	t.Helper()
	var ev struct {
		Before map[string]any `json:"before"`
		After  map[string]any `json:"after"`
		Op     string         `json:"op"`
		Source struct {
			TsMs int64 `json:"ts_ms"`
		} `json:"source"`
	}
	dec := json.NewDecoder(bytes.NewReader(m.Body))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	op, err := fhirmap.ParseChangeOp(ev.Op)
	if err != nil {
		t.Fatal(err)
	}
	version, err := fhirmap.LSNSourceVersion(m.Metadata["lsn"])
	if err != nil {
		t.Fatal(err)
	}
	return &fhirmap.ProviderChange{Op: op, Before: ev.Before, After: ev.After, SourceVersion: version, Time: time.UnixMilli(ev.Source.TsMs)}
}

// TestProviderChange: the change events of a provider table (columns of
// fhirmap.DefaultColumnMap, REPLICA IDENTITY FULL) map through
// fhirmap.ProviderMapper.MapChange as Debezium's do.
func TestProviderChange(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t, `npi text PRIMARY KEY, entity_type text, last_name text, first_name text, credentials text[],
		gender text, taxonomy text, accepting_new_patients bool, network_ids text[], effective_date date, end_date date`, true)
	f.exec(ctx, `INSERT INTO `+f.table+` VALUES ('1234567893', '1', 'Patel', 'Nora', '{MD}', 'female', '207RC0000X', true, '{NET-GOLD,NET-SILVER}', '2024-01-01', NULL)`)
	f.exec(ctx, `UPDATE `+f.table+` SET network_ids = '{NET-GOLD}', accepting_new_patients = false`)
	f.exec(ctx, `DELETE FROM `+f.table)
	src := f.open(ctx, nil)
	ms := readN(ctx, t, src, 3)
	mm, err := fhirmap.NewMapper(nil, &fhirmap.Options{SourceName: "pgsource-test"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := fhirmap.NewProviderMapper(mm, nil)
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, m := range ms {
		ch := providerChange(t, m)
		res, err := p.MapChange(ctx, ch, nil)
		if err != nil {
			t.Fatalf("MapChange(%s %s): %v", ch.Op, m.ID, err)
		}
		if len(res.Resources) == 0 || res.SourceVersion != ch.SourceVersion {
			t.Errorf("MapChange(%s): %d resources, source version %q; want some, %q", ch.Op, len(res.Resources), res.SourceVersion, ch.SourceVersion)
		}
		versions = append(versions, ch.SourceVersion)
	}
	if !(versions[0] < versions[1] && versions[1] < versions[2]) {
		t.Errorf("source versions %v do not increase with the row's changes", versions)
	}
	ackAll(ctx, t, ms)
}
