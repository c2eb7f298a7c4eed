package fhirmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/source"
	"github.com/fhirsync/fhirsync/x12"
)

const canary = "ZZCANARYZZ"

// TestCanary837 puts the canary in the names, member ids, addresses, claim
// numbers and line control numbers of 837 claims, and in values that fail
// (a diagnosis code, a birth date), and checks that it never appears in a
// resource id, meta (profile, source, lastUpdated), an error's text or log
// value, a result issue, or the lineage, while it does appear in the
// resources' content (so the test would see a leak).
func TestCanary837(t *testing.T) {
	simple := strings.NewReplacer(
		"DOE*JANE", canary+"*"+canary, "W123456789", canary+"1", "PCN0001", canary, "MRN7788", canary,
		"12 ELM ST", canary+" ST", "SMITH*ANNA", canary+"*"+canary, "*LN1", "*"+canary,
	).Replace(string(readCase(t, "837p_simple")))
	dependent := strings.NewReplacer(
		"TESTPARENT", canary, "TESTCHILD", canary, "MBR0000002", canary+"2", "PCN2001", canary+"A", "PCN2002", canary+"B",
	).Replace(string(readCase(t, "837p_dependent")))
	badCode := strings.Replace(simple, "ABK:J069", "ABK:"+canary, 1)
	badDate := strings.Replace(simple, "DMG*D8*19800214", "DMG*D8*"+canary, 1)
	badNPI := strings.Replace(simple, "XX*1679576722", "XX*"+canary, 1)
	inputs := map[string]string{"simple": simple, "dependent": dependent, "badCode": badCode, "badDate": badDate, "badNPI": badNPI}

	m := goldenMapper(t, "canary", nil)
	var texts []string // everything that must be PHI-free
	var content strings.Builder
	for name, body := range inputs {
		var issues []string
		conv := NewX12Converter(m, &X12ConverterOptions{OnResult: func(_ context.Context, _ x12.Record, res *Result) {
			for _, i := range append(res.Unmet, res.Warnings...) {
				issues = append(issues, i.String(), i.Path, i.Rule, i.Message, i.Pos.String())
			}
		}})
		rs, err := conv.Convert(context.Background(), source.NewMessage(name, []byte(body), map[string]string{"file": name + ".x12"}, nil, nil))
		texts = append(texts, issues...)
		if err != nil {
			texts = append(texts, err.Error())
			var me *Error
			for _, e := range err.(*ConvertError).Unwrap() {
				if errors.As(e, &me) {
					texts = append(texts, me.Error(), me.Detail(), me.Path, me.Pos.String(), slog.AnyValue(me.LogValue()).String())
				}
			}
		}
		switch name {
		case "badCode", "badDate":
			if err == nil {
				t.Errorf("%s: no error", name)
			}
		default:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		for _, r := range rs {
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
