package fhirmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/x12"
)

// TestCanary834 puts the canary in 834 names, member ids (REF*0F, the
// dependent's REF*23), the SSN (NM109 with NM108 34, emitted on request),
// group number, addresses, phone and language text, and in values that fail
// (a gender code, a maintenance type code), and checks that it never appears
// in a resource id, meta (profile, source, lastUpdated, the source version
// extension, security), an error's text or log value, a result issue, the
// lineage, Result.SourceVersion, a full file's scan, or Reconcile's output,
// while it does reach the resources' content.
func TestCanary834(t *testing.T) {
	c := canary
	family := strings.NewReplacer(
		"MBR0000002-02", c+"-02", "MBR0000002", c+"2", "TESTPARENT", c, "TESTCHILD", c, "TESTCUSTODIAN", c,
		"TESTGUARDIAN", c, "1 ELM ST", c+" ST", "5555550142", c, "GRP1001", c+"G",
	).Replace(string(readCase(t, "834_dependents")))
	add := strings.NewReplacer("MBR0000001", c+"1", "TESTMEMBER", c, "*34*000000001", "*34*"+c, "12 PINE RD", c, "GINA@EXAMPLE.TEST", c+"@EXAMPLE.TEST").
		Replace(string(readCase(t, "834_add")))
	badGender := strings.Replace(add, "19900515*F", "19900515*"+c, 1)
	badMaint := strings.Replace(add, "INS*Y*18*021", "INS*Y*18*"+c, 1)
	inputs := map[string]string{"family": family, "add": add, "badGender": badGender, "badMaint": badMaint}

	m, err := NewMapper(nil, &Options{IDs: &IDOptions{Key: goldenKey}, Now: func() time.Time { return goldenNow },
		Enrollment: &EnrollmentOptions{PayerID: "99999", SSN: true, FullFile: true}})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string // everything that must be PHI-free
	var content strings.Builder
	keep := func(r proto.Message) {
		texts = append(texts, resource.ID(r))
		k, _ := resource.Key(r)
		texts = append(texts, k)
		meta := r.ProtoReflect().Get(r.ProtoReflect().Descriptor().Fields().ByName("meta")).Message().Interface()
		texts = append(texts, fmt.Sprint(meta))
		b, err := resource.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		content.Write(b)
	}
	errTexts := func(err error) {
		texts = append(texts, err.Error())
		var me *Error
		for _, e := range append([]error{err}, unwrapAll(err)...) {
			if errors.As(e, &me) {
				texts = append(texts, me.Error(), me.Detail(), me.Path, me.Pos.String(), slog.AnyValue(me.LogValue()).String())
			}
		}
	}
	for name, body := range inputs {
		conv := NewX12Converter(m, &X12ConverterOptions{OnResult: func(_ context.Context, _ x12.Record, res *Result) {
			texts = append(texts, res.SourceVersion)
			for _, i := range append(res.Unmet, res.Warnings...) {
				texts = append(texts, i.String(), i.Path, i.Rule, i.Message, i.Pos.String())
			}
		}})
		rs, err := conv.Convert(context.Background(), source.NewMessage(name, []byte(body), map[string]string{"file": name + ".x12"}, nil, nil))
		if err != nil {
			errTexts(err)
		}
		if (err != nil) != strings.HasPrefix(name, "bad") {
			t.Errorf("%s: error %v", name, err)
		}
		for _, r := range rs {
			keep(r)
		}
		// full-file scan and reconciliation against itself minus nothing:
		// the scan's fields, and the error of a failing member
		f, err := m.ScanFullFile(context.Background(), strings.NewReader(body))
		if err != nil {
			errTexts(err)
			continue
		}
		texts = append(texts, f.Lineage, f.SourceVersion, fmt.Sprint(f.CoverageIDs))
		empty := &FullFile{Effective: f.Effective, SourceVersion: f.SourceVersion, Lineage: f.Lineage, CoverageIDs: map[string]struct{}{}}
		for cov, err := range m.Reconcile(context.Background(), m.Coverages834(context.Background(), strings.NewReader(body)), empty) {
			if err != nil {
				t.Fatal(err)
			}
			keep(cov)
		}
	}
	if !strings.Contains(content.String(), canary) {
		t.Fatal("the canary is not in the resources' content: the test inputs do not reach the mapping")
	}
	if len(texts) < 50 {
		t.Fatalf("only %d texts checked", len(texts))
	}
	for _, s := range texts {
		if strings.Contains(s, canary) {
			t.Errorf("PHI leak: %q", s)
		}
	}
}

// unwrapAll returns the errors err wraps, depth first.
func unwrapAll(err error) []error {
	var out []error
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, e)
			out = append(out, unwrapAll(e)...)
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			out = append(out, e)
			out = append(out, unwrapAll(e)...)
		}
	}
	return out
}
