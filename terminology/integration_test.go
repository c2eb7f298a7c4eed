package terminology_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"

	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/terminology"
)

// TestRemoteAgainstFHIRServer seeds ConceptMaps into the real FHIR test server
// (internal/fhirserver, Medplum-based) with PUT and calls its
// ConceptMap/$translate through Remote, by GET and by POST, and checks that
// every answer agrees with the local Index over the same maps. It skips
// without node/npm install unless FHIRSYNC_INTEGRATION=1.
func TestRemoteAgainstFHIRServer(t *testing.T) {
	srv := fhirtest.Start(t)
	ctx := context.Background()

	data, err := os.ReadFile("testdata/payer-maps.json")
	if err != nil {
		t.Fatal(err)
	}
	maps, err := terminology.ParseConceptMaps(data)
	if err != nil {
		t.Fatal(err)
	}
	icd, err := terminology.ReadConceptMaps(mustOpen(t, "testdata/icd9-icd10.json"))
	if err != nil {
		t.Fatal(err)
	}
	maps = append(maps, icd...)
	local := terminology.NewIndex(nil)
	if err := local.Add(maps...); err != nil {
		t.Fatal(err)
	}
	for i, cm := range maps {
		id := cm.ID
		if id == "" {
			id = "map-" + string(rune('a'+i))
		}
		body, err := json.Marshal(withID(cm, id))
		if err != nil {
			t.Fatal(err)
		}
		resp, out, err := srv.Do(ctx, http.MethodPut, "ConceptMap/"+id, body, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT ConceptMap/%s: %d %s", id, resp.StatusCode, out)
		}
	}

	const payerPOS = "http://example.org/CodeSystem/payer-pos"
	cases := []struct {
		mapURL string
		from   terminology.Coding
		target string
	}{
		{"http://example.org/fhir/ConceptMap/payer-pos", terminology.Coding{System: payerPOS, Code: "OFF"}, terminology.SystemPlaceOfService},
		{"http://example.org/fhir/ConceptMap/payer-pos", terminology.Coding{System: payerPOS, Code: "TEL"}, terminology.SystemPlaceOfService},
		{"http://example.org/fhir/ConceptMap/payer-pos", terminology.Coding{System: payerPOS, Code: "HOME"}, terminology.SystemPlaceOfService},
		{"http://example.org/fhir/ConceptMap/payer-pos", terminology.Coding{System: payerPOS, Code: "UNK"}, terminology.SystemPlaceOfService},
		{"http://example.org/fhir/ConceptMap/payer-pos", terminology.Coding{System: payerPOS, Code: "HOSP-OP"}, terminology.SystemPlaceOfService}, // other-map
		{"http://example.org/fhir/ConceptMap/icd9-icd10", terminology.Coding{System: terminology.SystemICD9CM, Code: "401.9"}, terminology.SystemICD10CM},
		{"http://example.org/fhir/ConceptMap/icd9-icd10", terminology.Coding{System: terminology.SystemICD9CM, Code: "250.00"}, terminology.SystemICD10CM},
		{"http://example.org/fhir/ConceptMap/icd9-icd10", terminology.Coding{System: terminology.SystemICD9CM, Code: "V73.89"}, terminology.SystemICD10CM},
		{"http://example.org/fhir/ConceptMap/icd9-icd10", terminology.Coding{System: terminology.SystemICD9CM, Code: "799.9"}, terminology.SystemICD10CM},
		{"http://example.org/fhir/ConceptMap/icd9-icd10", terminology.Coding{System: terminology.SystemICD9CM, Code: "530.81"}, terminology.SystemICD10CM},
		{"http://example.org/fhir/ConceptMap/icd9-icd10", terminology.Coding{System: terminology.SystemICD9CM, Code: "123.4"}, terminology.SystemICD10CM},
		{"", terminology.Coding{System: terminology.SystemICD9CM, Code: "401.9"}, terminology.SystemICD10CM}, // server picks the map
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tc := range cases {
			remote := terminology.NewRemote(http.DefaultClient, srv.URL(), &terminology.RemoteOptions{ConceptMapURL: tc.mapURL, Method: method})
			got, gotErr := remote.Translate(ctx, tc.from, tc.target)
			want, wantErr := local.Translate(ctx, tc.from, tc.target)
			if (gotErr == nil) != (wantErr == nil) || gotErr != nil && !errors.Is(gotErr, terminology.ErrNoMapping) {
				t.Errorf("%s %s: remote %+v, %v; local %+v, %v", method, tc.from.Code, got, gotErr, want, wantErr)
				continue
			}
			if got.System != want.System || got.Code != want.Code || got.Display != want.Display ||
				got.Equivalence != want.Equivalence || got.ConceptMap != want.ConceptMap {
				t.Errorf("%s %s: remote %+v; local %+v", method, tc.from.Code, got, want)
			}
		}
	}

	// Instance-level operation, and an unknown map url (a permanent error).
	remote := terminology.NewRemote(http.DefaultClient, srv.URL(), &terminology.RemoteOptions{ConceptMapID: "payer-pos"})
	if got, err := remote.Translate(ctx, terminology.Coding{System: payerPOS, Code: "OFF"}, terminology.SystemPlaceOfService); err != nil || got.Code != "11" {
		t.Errorf("instance $translate: %+v, %v", got, err)
	}
	remote = terminology.NewRemote(http.DefaultClient, srv.URL(), &terminology.RemoteOptions{ConceptMapURL: "http://example.org/fhir/ConceptMap/none"})
	_, err = remote.Translate(ctx, terminology.Coding{System: payerPOS, Code: "OFF"}, terminology.SystemPlaceOfService)
	var re *terminology.RemoteError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || terminology.IsRetryable(err) {
		t.Errorf("unknown map url: %v", err)
	}

	// Through the cache: one request per distinct code.
	cached := terminology.NewCache(terminology.NewRemote(http.DefaultClient, srv.URL(), nil), nil)
	for i := 0; i < 3; i++ {
		if got, err := cached.Translate(ctx, terminology.Coding{System: terminology.SystemICD9CM, Code: "401.9"}, terminology.SystemICD10CM); err != nil || got.Code != "I10" {
			t.Fatalf("cached: %+v, %v", got, err)
		}
	}
	if st := cached.Stats(); st.Misses != 1 || st.Hits != 2 {
		t.Errorf("cache stats %+v", st)
	}
}

func mustOpen(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// withID returns a shallow copy of cm's JSON fields with the id set.
func withID(cm *terminology.ConceptMap, id string) *terminology.ConceptMap {
	return &terminology.ConceptMap{ID: id, URL: cm.URL, Version: cm.Version, Name: cm.Name, Title: cm.Title,
		Status: cm.Status, SourceURI: cm.SourceURI, SourceCanonical: cm.SourceCanonical,
		TargetURI: cm.TargetURI, TargetCanonical: cm.TargetCanonical, Group: cm.Group}
}
