package fhirmap

import (
	"context"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/fhirsync/fhirsync/terminology"
)

// mapperFunc is a terminology.Mapper that always fails with err().
type mapperFunc func() error

func (f mapperFunc) Translate(context.Context, terminology.Coding, string) (terminology.Coding, error) {
	return terminology.Coding{}, f()
}

// metaSource returns meta.source of a Meta message.
func metaSource(m proto.Message) string {
	if mt, ok := m.(*dtpb.Meta); ok {
		return mt.GetSource().GetValue()
	}
	return ""
}
