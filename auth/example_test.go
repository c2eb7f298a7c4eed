package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/fhirsync/fhirsync/auth"
)

// ExampleBackendServices authenticates a FHIR client with SMART Backend
// Services: the Transport signs a client assertion with the registered key,
// exchanges it for an access token once, and sends that token with every
// request.
func ExampleBackendServices() {
	// A stand-in authorization server and FHIR server.
	tokens := 0
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokens++
		r.ParseForm()
		fmt.Println("grant:", r.PostForm.Get("grant_type"), r.PostForm.Get("scope"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"abc","token_type":"bearer","expires_in":300}`)
	}))
	defer authz.Close()
	fhir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer fhir.Close()

	// The client's private key; its public key is registered with the server.
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tr, err := auth.BackendServices(auth.BackendServicesConfig{
		TokenURL: authz.URL + "/token",
		ClientID: "payer-sync",
		Key:      key,
		KeyID:    "2025-01",
		Scopes:   []string{"system/*.write"},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for _, id := range []string{"a", "b"} {
		req, _ := http.NewRequest("PUT", fhir.URL+"/Patient/"+id, strings.NewReader(`{"resourceType":"Patient","id":"`+id+`"}`))
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
	}
	fmt.Println("token requests:", tokens)
	// Output:
	// grant: client_credentials system/*.write
	// PUT /Patient/a Bearer abc
	// PUT /Patient/b Bearer abc
	// token requests: 1
}

// ExampleClientCredentials authenticates with a client id and secret.
func ExampleClientCredentials() {
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _, _ := r.BasicAuth()
		fmt.Println("client:", id)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"xyz","token_type":"bearer","expires_in":3600}`)
	}))
	defer authz.Close()
	fhir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.Header.Get("Authorization"))
	}))
	defer fhir.Close()

	tr := auth.ClientCredentials(&clientcredentials.Config{
		ClientID:     "payer-sync",
		ClientSecret: "from-your-secret-store",
		TokenURL:     authz.URL + "/token",
		Scopes:       []string{"system/*.write"},
	}, nil)
	resp, err := (&http.Client{Transport: tr}).Get(fhir.URL + "/metadata")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	// Output:
	// client: payer-sync
	// Bearer xyz
}
