package fakekms

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// AzureKeyVault is an Azure Key Vault's keys API
// (learn.microsoft.com/rest/api/keyvault/keys): encrypt and decrypt, which sops calls
// with RSA-OAEP-256, behind Key Vault's challenge-based authentication: a request
// without a token gets 401 with a WWW-Authenticate challenge naming the resource to
// get a token for; a token other than Token gets 401 too.
type AzureKeyVault struct {
	Server *httptest.Server
	Token  string // the one Entra ID access token the vault accepts
	box
}

// The vault's name and the challenge's resource: Azure's SDK checks that the vault's
// host is within the resource's domain (*.vault.azure.net in Azure), and the test
// server's certificate is for *.example.com.
const (
	azureVaultURL = "https://hubploy.example.com"
	azureResource = "https://example.com"
	// AzureScope is the scope the SDK asks a token for after the challenge.
	AzureScope = azureResource + "/.default"
)

// NewAzureKeyVault starts a key vault; it stops with the test.
func NewAzureKeyVault(t testing.TB) *AzureKeyVault {
	a := &AzureKeyVault{Token: "eyJ0eXAiOiJKV1Qi." + randomHex(16), box: newBox()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /keys/{name}/{version}/{op}", a.keyOperation)
	a.Server = httptest.NewTLSServer(mux)
	t.Cleanup(a.Server.Close)
	return a
}

// VaultURL is the vault's URL, reached through Client.
func (a *AzureKeyVault) VaultURL() string { return azureVaultURL }

// Client is an HTTP client that trusts the vault's certificate and reaches the vault
// at VaultURL, as DNS would.
func (a *AzureKeyVault) Client() *http.Client {
	transport := a.Server.Client().Transport.(*http.Transport).Clone()
	transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, a.Server.Listener.Addr().String())
	}
	return &http.Client{Transport: transport}
}

func (a *AzureKeyVault) keyOperation(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+a.Token {
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="`+azureResource+`"`)
		msg := "AKV10000: Request is missing a Bearer or PoP token."
		if r.Header.Get("Authorization") != "" {
			msg = "AKV10032: Invalid issuer."
		}
		azureError(w, http.StatusUnauthorized, "Unauthorized", msg)
		return
	}
	var in struct{ Alg, Value string }
	json.NewDecoder(r.Body).Decode(&in)
	// Key Vault's byte fields are base64url; the SDK leaves the padding off.
	value, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(in.Value, "="))
	if err != nil || in.Alg != "RSA-OAEP-256" {
		azureError(w, http.StatusBadRequest, "BadParameter", "Property has invalid value")
		return
	}
	kid := azureVaultURL + "/keys/" + r.PathValue("name") + "/" + r.PathValue("version")
	var out []byte
	switch r.PathValue("op") {
	case "encrypt":
		out = a.seal(value, kid)
	case "decrypt":
		plain, ok := a.open(value, kid)
		if !ok {
			azureError(w, http.StatusBadRequest, "BadParameter", "Bad Request")
			return
		}
		out = plain
	default:
		azureError(w, http.StatusNotFound, "NotFound", "The requested operation is not supported.")
		return
	}
	writeJSON(w, "application/json", http.StatusOK, map[string]string{"kid": kid, "value": base64.RawURLEncoding.EncodeToString(out)})
}

func azureError(w http.ResponseWriter, code int, errCode, msg string) {
	writeJSON(w, "application/json", code, map[string]any{"error": map[string]string{"code": errCode, "message": msg}})
}
