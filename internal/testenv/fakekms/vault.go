package fakekms

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/hcvault"
)

// Vault is a Vault server with a transit secrets engine
// (developer.hashicorp.com/vault/api-docs/secret/transit): encrypt and decrypt.
type Vault struct {
	Server *httptest.Server
	Token  string // the one token that may use the engine
	box
}

// NewVault starts a Vault; it stops with the test.
func NewVault(t testing.TB) *Vault {
	v := &Vault{Token: "hvs." + randomHex(12), box: newBox()}
	mux := http.NewServeMux()
	// Vault takes POST and PUT alike for writes; its Go client sends PUT.
	for _, method := range []string{"POST", "PUT"} {
		mux.HandleFunc(method+" /v1/{engine}/{op}/{key}", v.transit)
	}
	v.Server = httptest.NewTLSServer(mux)
	t.Cleanup(v.Server.Close)
	return v
}

// KeyURI is the URI of a transit key, as `sops --hc-vault-transit` takes it.
func (v *Vault) KeyURI(engine, key string) string {
	return v.Server.URL + "/v1/" + engine + "/keys/" + key
}

const vaultCiphertextPrefix = "vault:v1:"

func (v *Vault) transit(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Vault-Token") != v.Token {
		vaultError(w, http.StatusForbidden, "permission denied")
		return
	}
	var in struct{ Plaintext, Ciphertext string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		vaultError(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	key := r.PathValue("engine") + "/" + r.PathValue("key")
	switch r.PathValue("op") {
	case "encrypt":
		plain, err := base64.StdEncoding.DecodeString(in.Plaintext)
		if err != nil {
			vaultError(w, http.StatusBadRequest, "failed to base64-decode plaintext")
			return
		}
		ct := vaultCiphertextPrefix + base64.StdEncoding.EncodeToString(v.seal(plain, key))
		writeJSON(w, "application/json", http.StatusOK, map[string]any{"data": map[string]string{"ciphertext": ct}})
	case "decrypt":
		sealed, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(in.Ciphertext, vaultCiphertextPrefix))
		plain, ok := v.open(sealed, key)
		if err != nil || !ok || !strings.HasPrefix(in.Ciphertext, vaultCiphertextPrefix) {
			vaultError(w, http.StatusBadRequest, "cipher: message authentication failed")
			return
		}
		writeJSON(w, "application/json", http.StatusOK, map[string]any{"data": map[string]string{"plaintext": base64.StdEncoding.EncodeToString(plain)}})
	default:
		vaultError(w, http.StatusNotFound, "unsupported path")
	}
}

func vaultError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, "application/json", code, map[string][]string{"errors": {msg}})
}

// MasterKey is sops' master key for transit key key of engine, set up to encrypt
// against this Vault with Token.
func (v *Vault) MasterKey(engine, key string) *hcvault.MasterKey {
	mk := hcvault.NewMasterKey(v.Server.URL, engine, key)
	hcvault.Token(v.Token).ApplyToMasterKey(mk)
	hcvault.NewHTTPClient(v.Server.Client()).ApplyToMasterKey(mk)
	return mk
}
