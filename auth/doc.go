// Package auth provides authentication for the HTTP clients fhirsync uses to
// talk to FHIR servers (restsink, the terminology client, lookups): each
// scheme is an [http.RoundTripper] that adds an OAuth 2.0 bearer token to
// every request, so any *http.Client gains it by setting its Transport.
//
//   - [ClientCredentials]: the OAuth 2.0 client credentials grant with a
//     client secret (golang.org/x/oauth2/clientcredentials).
//   - [BackendServices]: SMART on FHIR Backend Services
//     (https://hl7.org/fhir/smart-app-launch/backend-services.html), the
//     client credentials grant authenticated by a JWT client assertion signed
//     with the client's private key (RS384 or ES384).
//   - [NewTransport]: any other way of obtaining tokens.
//
// A [Transport] caches its token and shares one token request among all
// concurrent API requests; it fetches a new token shortly before the cached
// one expires (see [Options].RefreshBefore) and after the API server answers
// 401 Unauthorized. When such an early refresh fails, the cached token, still
// valid, keeps being used and the token endpoint is asked again only after a
// back-off ([RefreshRetryMin], doubling up to [RefreshRetryMax]); once no
// valid token is cached, each request asks again and gets the failure.
//
// # Errors
//
// A failed token request surfaces from RoundTrip (and so from
// http.Client.Do, wrapped in a *url.Error) as a [*TokenError]. Its
// Retryable method says whether trying later may help (the token endpoint
// was unreachable, timed out, answered 408, 429 or 5xx, or its answer was
// cut short); a refusal (400, 401, 403: wrong credentials, unknown client,
// scope not granted) is permanent and wraps [ErrTokenRejected]. Callers such
// as restsink use Retryable to classify the failure.
//
// # PHI
//
// Tokens are no PHI but are secrets, as are client secrets and private keys:
// none of them appears in an error string. A [*TokenError] keeps the HTTP
// status and the registered RFC 6749 error code only; the token endpoint's
// free-text error_description is dropped, because it may echo request
// parameters.
package auth
