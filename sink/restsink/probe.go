package restsink

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Capabilities is what a server's CapabilityStatement says it supports.
type Capabilities struct {
	// FHIRVersion is the statement's fhirVersion ("4.0.1").
	FHIRVersion string
	// Software is the server software's name and version.
	Software string
	// Transaction and Batch report the system interactions.
	Transaction, Batch bool
	// Types holds the capabilities of each resource type the server lists.
	Types map[string]TypeCapabilities
}

// TypeCapabilities is what a server supports for one resource type.
type TypeCapabilities struct {
	// Update, Delete report the type interactions.
	Update, Delete bool
	// UpdateCreate reports that an update may create a resource with a
	// client-assigned id.
	UpdateCreate bool
	// ConditionalUpdate reports support for PUT [type]?[search].
	ConditionalUpdate bool
	// ConditionalDelete reports support for DELETE [type]?[search].
	ConditionalDelete bool
}

// Probe reads the server's CapabilityStatement (GET [base]/metadata),
// remembers it for [MatchAuto], and returns it. The error wraps
// ErrUnsupported when the statement lacks what the configured mode needs
// (the transaction or batch interaction, conditional update with
// MatchIdentifier) for any type; other errors are classified as Write's are.
func (s *Sink) Probe(ctx context.Context) (*Capabilities, error) {
	resp, err := s.send(ctx, http.MethodGet, "metadata", nil, "")
	e := &Error{Method: http.MethodGet, Type: "metadata"}
	if err != nil {
		err, _ := classifyTransport(ctx, e, err)
		return nil, err
	}
	defer closeBody(resp)
	body, tooLarge, err := readLimited(resp.Body, s.opts.MaxResponseBytes)
	if err != nil {
		err, _ := classifyTransport(ctx, e, err)
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		oo := parseOutcome(body)
		e.Issues, e.diagnostics = oo.issues, oo.diagnostics
		err, _ := classifyStatus(e, resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), s.now()), false)
		return nil, err
	}
	if tooLarge {
		e.Err = fmt.Errorf("%w: CapabilityStatement larger than MaxResponseBytes", ErrBadResponse)
		return nil, e
	}
	c, err := parseCapabilities(body)
	if err != nil {
		e.Err = err
		return nil, e
	}
	s.caps.Store(c)
	switch {
	case s.opts.Mode == Transaction && !c.Transaction:
		return c, fmt.Errorf("%w: the server does not list the transaction interaction", ErrUnsupported)
	case s.opts.Mode == Batch && !c.Batch:
		return c, fmt.Errorf("%w: the server does not list the batch interaction", ErrUnsupported)
	}
	if s.opts.Match == MatchIdentifier {
		for t, tc := range c.Types {
			if tc.Update && !tc.ConditionalUpdate {
				return c, fmt.Errorf("%w: the server does not support conditional update of %s", ErrUnsupported, t)
			}
		}
	}
	return c, nil
}

// parseCapabilities reads the parts of a CapabilityStatement restsink uses.
func parseCapabilities(b []byte) (*Capabilities, error) {
	type interaction struct {
		Code string `json:"code"`
	}
	var cs struct {
		ResourceType string `json:"resourceType"`
		FHIRVersion  string `json:"fhirVersion"`
		Software     struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"software"`
		Rest []struct {
			Mode        string        `json:"mode"`
			Interaction []interaction `json:"interaction"`
			Resource    []struct {
				Type              string        `json:"type"`
				Interaction       []interaction `json:"interaction"`
				UpdateCreate      bool          `json:"updateCreate"`
				ConditionalUpdate bool          `json:"conditionalUpdate"`
				ConditionalDelete string        `json:"conditionalDelete"`
			} `json:"resource"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(b, &cs); err != nil || cs.ResourceType != "CapabilityStatement" {
		return nil, fmt.Errorf("%w: not a CapabilityStatement", ErrBadResponse)
	}
	c := &Capabilities{
		FHIRVersion: cs.FHIRVersion,
		Software:    strings.TrimSpace(cs.Software.Name + " " + cs.Software.Version),
		Types:       map[string]TypeCapabilities{},
	}
	for _, r := range cs.Rest {
		if r.Mode != "server" {
			continue
		}
		for _, in := range r.Interaction {
			switch in.Code {
			case "transaction":
				c.Transaction = true
			case "batch":
				c.Batch = true
			}
		}
		for _, res := range r.Resource {
			tc := TypeCapabilities{
				UpdateCreate:      res.UpdateCreate,
				ConditionalUpdate: res.ConditionalUpdate,
				ConditionalDelete: res.ConditionalDelete == "single" || res.ConditionalDelete == "multiple",
			}
			for _, in := range res.Interaction {
				switch in.Code {
				case "update":
					tc.Update = true
				case "delete":
					tc.Delete = true
				}
			}
			c.Types[res.Type] = tc
		}
	}
	return c, nil
}
