package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ClientAssertionType is the client_assertion_type of a JWT client
// assertion (RFC 7523 §2.2), as SMART Backend Services requires.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// MaxAssertionLifetime is the longest lifetime SMART Backend Services allows
// for a client assertion (its exp is at most five minutes in the future).
const MaxAssertionLifetime = 5 * time.Minute

// ErrConfig reports an unusable authentication configuration.
var ErrConfig = errors.New("auth: invalid configuration")

// BackendServicesConfig configures SMART on FHIR Backend Services
// authentication: the client credentials grant with a signed JWT client
// assertion instead of a client secret.
type BackendServicesConfig struct {
	// TokenURL is the authorization server's token endpoint (from the FHIR
	// server's .well-known/smart-configuration). It is also the assertion's
	// aud claim.
	TokenURL string
	// ClientID is the client's registered id, the assertion's iss and sub.
	ClientID string
	// Key signs the assertion: an *rsa.PrivateKey (signed RS384) or an
	// *ecdsa.PrivateKey on P-384 (signed ES384). Its public key is the one
	// registered with the authorization server (directly or in the JWKS at
	// JWKSURL).
	Key crypto.Signer
	// KeyID, when not empty, is the JWT header's kid: the id of the key in
	// the client's JWKS.
	KeyID string
	// JWKSURL, when not empty, is the JWT header's jku: the TLS-protected URL
	// of the client's JWKS.
	JWKSURL string
	// Scopes are the requested SMART scopes, for example "system/*.write"
	// or "system/Patient.rs system/Claim.cu"; several are joined with spaces.
	Scopes []string
	// AssertionLifetime is how long an assertion is valid (its exp minus
	// now). Zero means MaxAssertionLifetime; more is an error.
	AssertionLifetime time.Duration
}

// BackendServices returns a Transport that authenticates with SMART Backend
// Services: for each token it signs a new client assertion (iss = sub =
// ClientID, aud = TokenURL, a unique jti, exp at most five minutes ahead) and
// posts it to TokenURL with grant_type=client_credentials and the scopes. It
// returns an error wrapping [ErrConfig] when cfg is incomplete or the key is
// neither RSA nor ECDSA P-384.
func BackendServices(cfg BackendServicesConfig, opts *Options) (*Transport, error) {
	method, err := cfg.check()
	if err != nil {
		return nil, err
	}
	cfg.Scopes = append([]string(nil), cfg.Scopes...)
	return NewTransport(func(ctx context.Context) (*oauth2.Token, error) {
		assertion, err := cfg.assertion(method, time.Now())
		if err != nil {
			return nil, err
		}
		cc := &clientcredentials.Config{
			TokenURL: cfg.TokenURL,
			Scopes:   cfg.Scopes,
			EndpointParams: url.Values{
				"client_assertion_type": {ClientAssertionType},
				"client_assertion":      {assertion},
			},
			// No client secret: the assertion authenticates the client, and
			// the parameters go in the body.
			AuthStyle: oauth2.AuthStyleInParams,
		}
		return cc.Token(ctx)
	}, opts), nil
}

// check validates the configuration and picks the signing method.
func (c *BackendServicesConfig) check() (jwt.SigningMethod, error) {
	u, err := url.Parse(c.TokenURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: TokenURL must be an absolute http(s) URL", ErrConfig)
	}
	if c.ClientID == "" {
		return nil, fmt.Errorf("%w: ClientID is empty", ErrConfig)
	}
	if c.AssertionLifetime < 0 || c.AssertionLifetime > MaxAssertionLifetime {
		return nil, fmt.Errorf("%w: AssertionLifetime must be at most %s", ErrConfig, MaxAssertionLifetime)
	}
	switch k := c.Key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA key shorter than 2048 bits", ErrConfig)
		}
		return jwt.SigningMethodRS384, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("%w: ECDSA key must be on P-384 for ES384", ErrConfig)
		}
		return jwt.SigningMethodES384, nil
	case nil:
		return nil, fmt.Errorf("%w: Key is nil", ErrConfig)
	default:
		return nil, fmt.Errorf("%w: Key must be *rsa.PrivateKey or *ecdsa.PrivateKey (P-384), not %T", ErrConfig, c.Key)
	}
}

// assertion builds and signs one client assertion.
func (c *BackendServicesConfig) assertion(method jwt.SigningMethod, now time.Time) (string, error) {
	life := c.AssertionLifetime
	if life == 0 {
		life = MaxAssertionLifetime
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("auth: client assertion id: %w", err)
	}
	// aud is a single string (not an array): some authorization servers
	// accept only that form.
	claims := jwt.MapClaims{
		"iss": c.ClientID,
		"sub": c.ClientID,
		"aud": c.TokenURL,
		"exp": now.Add(life).Unix(),
		"iat": now.Unix(),
		"jti": hex.EncodeToString(jti[:]),
	}
	tok := jwt.NewWithClaims(method, claims)
	if c.KeyID != "" {
		tok.Header["kid"] = c.KeyID
	}
	if c.JWKSURL != "" {
		tok.Header["jku"] = c.JWKSURL
	}
	s, err := tok.SignedString(c.Key)
	if err != nil {
		// The signer's error names the key type at most.
		return "", &TokenError{Err: fmt.Errorf("auth: signing client assertion: %s", strings.TrimPrefix(err.Error(), "token is unverifiable: "))}
	}
	return s, nil
}
