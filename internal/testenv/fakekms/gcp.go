package fakekms

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/gcpkms"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
)

// GCPKMS is Google Cloud KMS's REST API (cloud.google.com/kms/docs/reference/rest):
// cryptoKeys.encrypt and cryptoKeys.decrypt, for one OAuth 2 access token.
type GCPKMS struct {
	Server *httptest.Server
	// Handler is what Server serves, for a test that serves it elsewhere (under a
	// prefix of a fake cloud's server).
	Handler http.Handler
	Token   string // an access token KMS accepts
	// Accept, if set, says which other tokens KMS accepts (those another fake handed
	// out, for an identity allowed to use the key).
	Accept func(token string) bool
	box
}

// NewGCPKMS starts Cloud KMS; it stops with the test.
func NewGCPKMS(t testing.TB) *GCPKMS {
	g := &GCPKMS{Token: "ya29." + randomHex(16), box: newBox()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/{name...}", g.cryptoKey) // name ends in :encrypt or :decrypt
	g.Handler = mux
	g.Server = httptest.NewTLSServer(mux)
	t.Cleanup(g.Server.Close)
	return g
}

// KeyName is a key's resource name, as `sops --gcp-kms` takes it.
func (g *GCPKMS) KeyName(key string) string {
	return "projects/hubploy/locations/global/keyRings/hubploy/cryptoKeys/" + key
}

func (g *GCPKMS) cryptoKey(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token != g.Token && (g.Accept == nil || !g.Accept(token)) {
		gcpError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
		return
	}
	name, op, _ := strings.Cut(r.PathValue("name"), ":")
	var in struct{ Plaintext, Ciphertext []byte } // base64 in JSON
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		gcpError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	switch op {
	case "encrypt":
		writeJSON(w, "application/json", http.StatusOK, map[string]any{"name": name + "/cryptoKeyVersions/1", "ciphertext": g.seal(in.Plaintext, name)})
	case "decrypt":
		plain, ok := g.open(in.Ciphertext, name)
		if !ok {
			gcpError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
			return
		}
		writeJSON(w, "application/json", http.StatusOK, map[string]any{"plaintext": plain})
	default:
		gcpError(w, http.StatusNotFound, "NOT_FOUND", "The requested URL was not found on this server.")
	}
}

func gcpError(w http.ResponseWriter, code int, status, msg string) {
	writeJSON(w, "application/json", code, map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

// MasterKey is sops' master key for key name, set up to encrypt against this Cloud
// KMS with Token (as `sops --encrypt --gcp-kms` would with the key's owner's login).
func (g *GCPKMS) MasterKey(name string) *gcpkms.MasterKey {
	mk := gcpkms.NewMasterKeyFromResourceID(g.KeyName(name))
	authed := *g.Server.Client()
	authed.Transport = &oauth2.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: g.Token}), Base: authed.Transport}
	gcpkms.UseRESTClient{}.ApplyToMasterKey(mk)
	gcpkms.ClientOptions{option.WithEndpoint(g.Server.URL), option.WithHTTPClient(&authed)}.ApplyToMasterKey(mk)
	return mk
}
