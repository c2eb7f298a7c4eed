package auth

import (
	"context"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ClientCredentials returns a Transport that authenticates with the OAuth 2.0
// client credentials grant (RFC 6749 §4.4) described by cfg: client id and
// secret, token URL, scopes (for a FHIR server, SMART scopes such as
// "system/*.write"), extra parameters and how the credentials are sent
// (cfg.AuthStyle; the zero value probes header then body once per token URL).
//
// The token requests go through opts.TokenClient. cfg is copied; its Scopes
// and EndpointParams must not be changed afterwards.
func ClientCredentials(cfg *clientcredentials.Config, opts *Options) *Transport {
	c := &clientcredentials.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: cfg.TokenURL,
		Scopes: cfg.Scopes, EndpointParams: cfg.EndpointParams, AuthStyle: cfg.AuthStyle,
	}
	return NewTransport(func(ctx context.Context) (*oauth2.Token, error) {
		return c.Token(ctx)
	}, opts)
}
