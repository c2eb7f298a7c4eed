package fhirmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	claimpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
	eobpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/explanation_of_benefit_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/payment_reconciliation_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/fhirmap/check"
	"github.com/fhirsync/fhirsync/internal/fhirtest"
	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/x12"
)

// goldenOptionHooks adjusts the Options of the golden cases that need
// payer configuration X12 does not carry (goldenMapper applies the hook
// named after the case).
var goldenOptionHooks = map[string]func(*Options){
	// Dental EOBs need the rendering provider's network status (C4BB Oral
	// renderingnetworkstatus 1..1).
	"835d_dental": func(o *Options) { o.NetworkStatus = goldenNetwork },
	"835p_joined": func(o *Options) { o.NetworkStatus = goldenNetwork },
}

// goldenNetwork is a payer's network directory: the golden providers are in
// network, except one out-of-network hospital.
func goldenNetwork(_ context.Context, q NetworkQuery) (string, error) {
	switch q.NPI {
	case "1306849450":
		return "outofnetwork", nil
	case "":
		return "", nil
	}
	return "innetwork", nil
}

// mapAll decodes text and maps every record with m, adding the results to
// ix (when not nil) like the golden harness does. Decode errors fail the
// test; mapping errors are returned in order.
func mapAll(t testing.TB, m *Mapper, ix *ClaimIndex, text string) (results []*Result, errs []error) {
	t.Helper()
	for rec, err := range x12.NewDecoder(strings.NewReader(text)).Records() {
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		res, err := m.MapRecord(context.Background(), rec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ix != nil {
			if err := ix.AddResources(res.Resources); err != nil {
				t.Fatal(err)
			}
		}
		results = append(results, res)
	}
	return results, errs
}

// eobOf returns the ExplanationOfBenefit of a result.
func eobOf(t testing.TB, res *Result) *eobpb.ExplanationOfBenefit {
	t.Helper()
	for _, r := range res.Resources {
		if e, ok := r.(*eobpb.ExplanationOfBenefit); ok {
			return e
		}
	}
	t.Fatalf("result without an ExplanationOfBenefit: %s", types(res.Resources))
	return nil
}

// the 835 part of the joined professional golden case
func case835(t testing.TB, name string) (claims, payment string) {
	t.Helper()
	s := string(readCase(t, name))
	i := strings.Index(s, "\nISA*")
	if i < 0 {
		return "", s
	}
	return s[:i+1], s[i+1:]
}

func TestMapPayment835Join(t *testing.T) {
	claims, payment := case835(t, "835p_joined")
	ix := NewClaimIndex(nil)
	m := goldenMapper(t, "835p_joined", ix)

	// Without its claim: an EOB without the financial profile, and the
	// requirements it misses listed.
	res, errs := mapAll(t, m, nil, payment)
	if len(errs) != 0 || len(res) != 1 {
		t.Fatalf("unjoined: %v", errs)
	}
	e := eobOf(t, res[0])
	if len(e.GetMeta().GetProfile()) != 0 {
		t.Errorf("an EOB without diagnoses claims %v", e.GetMeta().GetProfile())
	}
	if len(res[0].Unmet) == 0 || res[0].Unmet[0].Rule != "ExplanationOfBenefit.diagnosis.min" {
		t.Errorf("unmet: %v", res[0].Unmet)
	}
	if got := types(res[0].Resources); got != "Organization,Organization,Practitioner,Patient,Coverage,ExplanationOfBenefit" {
		t.Errorf("unjoined resources %s", got)
	}

	// Joined: the financial profile, the claim's diagnoses and care team, and
	// only the resources the 837 side did not write.
	if _, errs := mapAll(t, m, ix, claims); len(errs) != 0 {
		t.Fatal(errs)
	}
	res, errs = mapAll(t, m, nil, payment)
	if len(errs) != 0 || len(res) != 1 {
		t.Fatalf("joined: %v", errs)
	}
	e = eobOf(t, res[0])
	if got := e.GetMeta().GetProfile(); len(got) != 1 || got[0].GetValue() != m.C4BBVersion().EOBProfile(EOBProfessional, false) {
		t.Errorf("joined EOB profile %v", got)
	}
	if len(res[0].Unmet) != 0 {
		t.Errorf("joined EOB unmet: %v", res[0].Unmet)
	}
	if len(e.GetDiagnosis()) != 2 || len(e.GetCareTeam()) != 1 || e.GetItem()[0].GetSequence().GetValue() != 1 {
		t.Errorf("joined EOB: %d diagnoses, %d care team", len(e.GetDiagnosis()), len(e.GetCareTeam()))
	}
	if got := types(res[0].Resources); got != "ExplanationOfBenefit" {
		t.Errorf("joined resources %s: the 837 side's parties are emitted again", got)
	}
	if fs := check.All(res[0].Resources); len(fs) != 0 {
		t.Errorf("findings: %s", check.Report(fs))
	}
}

// failingLookup fails every search.
type failingLookup struct{ err error }

func (f failingLookup) FindClaim(context.Context, ClaimQuery) (*claimpb.Claim, error) {
	return nil, f.err
}

func TestMapPayment835Errors(t *testing.T) {
	_, payment := case835(t, "835p_joined")
	errDown := errors.New("server down")
	tests := []struct {
		name    string
		edit    func(string) string
		opts    func(*Options)
		want    error
		path    string
		element int
	}{
		{"no ICN", func(s string) string { return strings.Replace(s, "*ICN9900001*", "**", 1) }, nil, ErrMissing, "ExplanationOfBenefit.identifier", 7},
		{"bad procedure code", func(s string) string { return strings.Replace(s, "SVC*HC:99213:25", "SVC*HC:"+canary+":25", 1) }, nil, ErrInvalidCode, "ExplanationOfBenefit.item[0].productOrService", 1},
		{"bad modifier", func(s string) string { return strings.Replace(s, "SVC*HC:99213:25", "SVC*HC:99213:"+canary, 1) }, nil, ErrInvalidCode, "ExplanationOfBenefit.item[0].modifier", 1},
		{"network code", nil, func(o *Options) {
			o.NetworkStatus = func(context.Context, NetworkQuery) (string, error) { return canary, nil }
		}, ErrInvalidCode, "ExplanationOfBenefit.adjudication", 0},
		{"network failure", nil, func(o *Options) {
			o.NetworkStatus = func(context.Context, NetworkQuery) (string, error) { return "", errDown }
		}, errDown, "", 0},
		{"lookup failure", nil, func(o *Options) { o.Claims = failingLookup{errDown} }, errDown, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := &Options{}
			if tc.opts != nil {
				tc.opts(opts)
			}
			m, err := NewMapper(nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			text := payment
			if tc.edit != nil {
				text = tc.edit(text)
			}
			_, errs := mapAll(t, m, nil, text)
			if len(errs) != 1 || !errors.Is(errs[0], tc.want) {
				t.Fatalf("errors %v, want %v", errs, tc.want)
			}
			if strings.Contains(errs[0].Error(), canary) {
				t.Errorf("error leaks the value: %v", errs[0])
			}
			var me *Error
			if tc.path == "" {
				return
			}
			if !errors.As(errs[0], &me) || me.Path != tc.path || me.Pos.Element != tc.element || me.Pos.Offset == 0 || me.Pos.Transaction == "" {
				t.Errorf("error %v: path %q element %d", errs[0], me.Path, me.Pos.Element)
			}
			if strings.Contains(slog.AnyValue(me.LogValue()).String(), canary) {
				t.Errorf("log value leaks the value")
			}
		})
	}
}

// TestCanary835 puts the canary in the patient's and insured's names and
// ids, the patient control number, the medical record number and the line
// control numbers of joined and unjoined 835s, and checks that it never
// appears in an id, meta or an issue, while it does appear in the content.
func TestCanary835(t *testing.T) {
	r := strings.NewReplacer("DOE*JANE", canary+"*"+canary, "W123456789", canary+"1", "PCN0001", canary, "*LN1", "*"+canary, "MRN7788", canary)
	claims, payment := case835(t, "835p_joined")
	claims, payment = r.Replace(claims), r.Replace(payment)
	ix := NewClaimIndex(nil)
	m := goldenMapper(t, "canary", ix)
	var all []*Result
	for _, text := range []string{payment, claims, payment} {
		res, errs := mapAll(t, m, ix, text)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		all = append(all, res...)
	}
	var content bytes.Buffer
	joined := false
	for _, res := range all {
		for _, rs := range res.Resources {
			if strings.Contains(resource.ID(rs), canary) || strings.Contains(metaSource(rs), canary) {
				t.Errorf("%s id or lineage leaks PHI", resource.Type(rs))
			}
			b, err := resource.Marshal(rs)
			if err != nil {
				t.Fatal(err)
			}
			content.Write(b)
			if e, ok := rs.(*eobpb.ExplanationOfBenefit); ok && len(e.GetDiagnosis()) > 0 {
				joined = true
			}
		}
		for _, i := range append(res.Unmet, res.Warnings...) {
			if strings.Contains(i.String(), canary) {
				t.Errorf("issue leaks PHI: %s", i)
			}
		}
	}
	if !joined {
		t.Error("the canary claim did not join its payment")
	}
	if !strings.Contains(content.String(), canary) {
		t.Error("the canary is not in the content: the test sees nothing")
	}
}

func TestMapProviderAdjustment835(t *testing.T) {
	_, payment := case835(t, "835_plb")
	m, err := NewMapper(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, errs := mapAll(t, m, nil, payment)
	if len(errs) != 0 || len(res) != 2 {
		t.Fatalf("%d results, %v", len(res), errs)
	}
	var pr *prpb.PaymentReconciliation
	for _, r := range res[1].Resources {
		if p, ok := r.(*prpb.PaymentReconciliation); ok {
			pr = p
		}
	}
	if pr == nil {
		t.Fatalf("no PaymentReconciliation: %s", types(res[1].Resources))
	}
	var amounts []string
	for _, d := range pr.GetDetail() {
		amounts = append(amounts, d.GetAmount().GetValue().GetValue()+" "+d.GetType().GetCoding()[1].GetCode().GetValue())
	}
	if got := strings.Join(amounts, ", "); got != "0.5 L6, -20 WO, 10 FB" {
		t.Errorf("details %s", got)
	}
	if pr.GetPaymentAmount().GetValue().GetValue() != "65.5" || pr.GetPaymentIdentifier().GetValue().GetValue() != "EFT8805" {
		t.Errorf("payment %v", pr.GetPaymentAmount())
	}
	// The payment of the claim and the reconciliation share the trace number.
	if e := eobOf(t, res[0]); !proto.Equal(e.GetPayment().GetIdentifier(), pr.GetPaymentIdentifier()) {
		t.Errorf("EOB payment identifier %v, reconciliation %v", e.GetPayment().GetIdentifier(), pr.GetPaymentIdentifier())
	}
}

func ExampleMapper_MapPayment835() {
	const claims = "ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *240115*1200*^*00501*000000101*0*T*:~" +
		"GS*HC*SENDER*RECEIVER*20240115*1200*101*X*005010X222A1~ST*837*0101*005010X222A1~BHT*0019*00*B1001*20240115*1030*CH~" +
		"NM1*41*2*CLEARINGHOUSE*****46*TP1~NM1*40*2*PLAN*****46*RCV1~HL*1**20*1~NM1*85*2*RIVER CLINIC*****XX*1234567893~" +
		"N3*1 MAIN ST~N4*SPRINGFIELD*IL*62701~REF*EI*371234567~HL*2*1*22*0~SBR*P*18*GRP001******CI~" +
		"NM1*IL*1*DOE*JANE****MI*W123456789~DMG*D8*19800214*F~NM1*PR*2*ACME HEALTH*****PI*12345~" +
		"CLM*PCN0001*150***11:B:1*Y*A*Y*Y~HI*ABK:J069~NM1*82*1*SMITH*ANNA****XX*1679576722~" +
		"LX*1~SV1*HC:99213*150*UN*1***1~DTP*472*D8*20240110~REF*6R*LN1~SE*22*0101~GE*1*101~IEA*1*000000101~"
	const payment = "ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *240201*1200*^*00501*000000201*0*T*:~" +
		"GS*HP*SENDER*RECEIVER*20240201*1200*201*X*005010X221A1~ST*835*0201*005010X221A1~" +
		"BPR*I*80*C*ACH*CCP*01*999999992*DA*123456*1512345678**01*999988880*DA*98765*20240201~TRN*1*EFT7788*1512345678~" +
		"N1*PR*ACME HEALTH*XV*12345~N3*1 PLAN WAY~N4*AUSTIN*TX*78701~PER*BL*EDI*TE*5555550198~N1*PE*RIVER CLINIC*XX*1234567893~" +
		"LX*1~CLP*PCN0001*1*150*80*20*12*ICN9900001*11*1~NM1*QC*1*DOE*JANE****MI*W123456789~" +
		"SVC*HC:99213*150*80**1~DTM*472*20240110~CAS*CO*45*50~CAS*PR*2*20~REF*6R*LN1~SE*17*0201~GE*1*201~IEA*1*000000201~"

	claimsSeen := NewClaimIndex(nil)
	m, err := NewMapper(nil, &Options{Claims: claimsSeen})
	if err != nil {
		panic(err)
	}
	for _, input := range []string{claims, payment} {
		for rec, err := range x12.NewDecoder(strings.NewReader(input)).Records() {
			if err != nil {
				panic(err)
			}
			res, err := m.MapRecord(context.Background(), rec)
			if err != nil {
				panic(err)
			}
			claimsSeen.AddResources(res.Resources) // so that the 835 joins its claim
			for _, r := range res.Resources {
				if e, ok := r.(*eobpb.ExplanationOfBenefit); ok {
					p, _ := ParseCanonical(e.GetMeta().GetProfile()[0].GetValue())
					fmt.Println(strings.TrimPrefix(string(p), C4BBBase))
					fmt.Println("payment:", e.GetPayment().GetType().GetCoding()[0].GetCode().GetValue(), e.GetPayment().GetAmount().GetValue().GetValue())
					for _, t := range e.GetTotal() {
						fmt.Println(t.GetCategory().GetCoding()[0].GetCode().GetValue(), t.GetAmount().GetValue().GetValue())
					}
				}
			}
		}
	}
	// Output:
	// C4BB-ExplanationOfBenefit-Professional-NonClinician
	// payment: paid 80
	// submitted 150
	// eligible 100
	// discount 50
	// coinsurance 20
	// memberliability 20
	// paidtoprovider 80
}

// TestMapPayment835FHIRLookup writes the 837 side's resources to the FHIR
// test server and maps the 835 with a FHIRClaimLookup: the EOB must be the
// one the in-memory ClaimIndex gives.
func TestMapPayment835FHIRLookup(t *testing.T) {
	srv := fhirtest.Shared(t)
	for _, name := range []string{"835p_joined", "835i_inpatient", "835d_dental"} {
		t.Run(name, func(t *testing.T) {
			claims, payment := case835(t, name)
			ix := NewClaimIndex(nil)
			mIndex := goldenMapper(t, name, ix)
			res837, errs := mapAll(t, mIndex, ix, claims)
			if len(errs) != 0 {
				t.Fatal(errs)
			}
			for _, res := range res837 {
				for _, r := range res.Resources {
					body, err := resource.Marshal(r)
					if err != nil {
						t.Fatal(err)
					}
					resp, rb, err := srv.Do(context.Background(), http.MethodPut, resource.Type(r)+"/"+resource.ID(r), body, nil)
					if err != nil || resp.StatusCode >= 300 {
						t.Fatalf("PUT %s: %v %s", resource.Type(r), err, rb)
					}
				}
			}
			want, errs := mapAll(t, mIndex, nil, payment)
			if len(errs) != 0 {
				t.Fatal(errs)
			}
			mServer := goldenMapper(t, name, NewFHIRClaimLookup(nil, srv.URL(), nil))
			got, errs := mapAll(t, mServer, nil, payment)
			if len(errs) != 0 {
				t.Fatal(errs)
			}
			for i := range want {
				if len(got[i].Resources) != len(want[i].Resources) {
					t.Fatalf("record %d: %s, want %s", i, types(got[i].Resources), types(want[i].Resources))
				}
				for j := range want[i].Resources {
					// JSON, not proto.Equal: a date read back from the server
					// names its zone differently ("UTC" vs "Z").
					g, _ := resource.Marshal(got[i].Resources[j])
					w, _ := resource.Marshal(want[i].Resources[j])
					if !bytes.Equal(g, w) {
						t.Errorf("record %d resource %d differs:\n got %s\nwant %s", i, j, g, w)
					}
				}
			}
		})
	}
}

// FuzzMapPayment835 feeds mutated 835s (with and without their claims) to
// the decoder and the mapper: mapping must never panic, fail with anything
// but an *Error, or return a resource that does not marshal.
func FuzzMapPayment835(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "835*.x12"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ix := NewClaimIndex(nil)
		m, err := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}, Claims: ix})
		if err != nil {
			t.Fatal(err)
		}
		d := x12.NewDecoder(bytes.NewReader(data))
		d.Lenient = true
		for rec, err := range d.Records() {
			if err != nil {
				continue
			}
			res, err := m.MapRecord(context.Background(), rec)
			if err != nil {
				var me *Error
				if !errors.As(err, &me) {
					t.Fatalf("%s: error %T is not an *Error: %v", rec.Kind(), err, err)
				}
				continue
			}
			ix.AddResources(res.Resources)
			for _, r := range res.Resources {
				if _, err := resource.Marshal(r); err != nil {
					t.Fatalf("%s/%s does not marshal: %v", resource.Type(r), resource.ID(r), err)
				}
			}
		}
	})
}

// TestMapPayment835AdjudicationTable maps with a payer's own CAS table: its
// categories reach the EOB items and totals.
func TestMapPayment835AdjudicationTable(t *testing.T) {
	_, payment := case835(t, "835p_joined")
	tab, err := DefaultAdjudicationTable().With(CASRule{Group: "CO", Reason: "45", Category: catNoncovered})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMapper(nil, &Options{Adjudication: tab})
	if err != nil {
		t.Fatal(err)
	}
	res, errs := mapAll(t, m, nil, payment)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	e := eobOf(t, res[0])
	var cats []string
	for _, a := range e.GetItem()[0].GetAdjudication() {
		if r := a.GetReason().GetCoding(); len(r) > 0 && r[0].GetCode().GetValue() == "45" && a.GetAmount() != nil {
			cats = append(cats, a.GetCategory().GetCoding()[0].GetCode().GetValue())
		}
	}
	if len(cats) != 1 || cats[0] != "noncovered" {
		t.Errorf("CO 45 categories %v, want [noncovered]", cats)
	}
	for _, tot := range e.GetTotal() {
		if c := tot.GetCategory().GetCoding()[0].GetCode().GetValue(); c == "discount" {
			t.Errorf("a discount total with CO 45 mapped to noncovered")
		}
	}
}
