package fakecloud

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
)

// googleAccount is a service account, by its key's id.
type googleAccount struct {
	email string
	key   *rsa.PublicKey
}

func (c *Cloud) serveGoogle(mux *http.ServeMux) {
	mux.HandleFunc("POST /google/token", c.googleToken)
	mux.HandleFunc("POST /google/sts", c.googleSTS)
	mux.HandleFunc("GET /ci/id-token/{token}", c.ciIDToken)
	mux.HandleFunc("GET /gke/v1/projects/{project}/locations/{location}/clusters/{cluster}", c.gkeCluster)
}

// GKEEndpoint is the GKE API's base URL (option.WithEndpoint).
func (c *Cloud) GKEEndpoint() string { return c.URL() + "/gke/" }

// GoogleServiceAccountKey makes a service account and returns its JSON key, as
// `gcloud iam service-accounts keys create` writes it, with the token endpoint here.
func (c *Cloud) GoogleServiceAccountKey(t testing.TB, email string) []byte {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	kid := make([]byte, 20)
	rand.Read(kid)
	id := hex.EncodeToString(kid)
	c.mu.Lock()
	c.google[id] = &googleAccount{email: email, key: &priv.PublicKey}
	c.mu.Unlock()
	key, _ := json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     "hubploy-test",
		"private_key_id": id,
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "1234567890",
		"auth_uri":       "https://accounts.google.com/o/oauth2/auth",
		"token_uri":      c.URL() + "/google/token",
	}, "", "  ")
	return key
}

// RevokeGoogleKeys makes every service account key and user login so far unknown, as
// deleting and revoking them does.
func (c *Cloud) RevokeGoogleKeys() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.google)
	clear(c.googleRefresh)
}

// UserToken hands out a token for principal, as a cloud's token endpoint does for the
// ambient credentials of a person or a workload identity.
func (c *Cloud) UserToken(principal string) string {
	tok, _ := c.mint("ya29.", principal)
	return tok
}

// GoogleUserCredentials makes application default credentials for principal, as
// `gcloud auth application-default login` writes them (an authorized_user with a
// refresh token, and no token_uri: Google's is implied).
func (c *Cloud) GoogleUserCredentials(principal string) []byte {
	refresh := "1//" + randomHex(24)
	c.mu.Lock()
	c.googleRefresh[refresh] = principal
	c.mu.Unlock()
	adc, _ := json.Marshal(map[string]string{"type": "authorized_user", "client_id": "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com",
		"client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty", "refresh_token": refresh})
	return adc
}

// GooglePoolAudience is the workload identity pool provider of
// GoogleExternalAccount's configurations.
const GooglePoolAudience = "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/providers/github"

// GoogleFederatedPrincipal is who Google's STS takes a CI job's subject for.
func GoogleFederatedPrincipal(subject string) string {
	return "principal://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/subject/" + subject
}

// GoogleExternalAccount is workload identity federation's credential configuration
// for a CI job of subject, as `gcloud iam workload-identity-pools create-cred-config`
// writes it with a URL source: the job's OIDC token is read from a URL here (the CI's
// token service), and exchanged at Google's STS here.
func (c *Cloud) GoogleExternalAccount(subject string) []byte {
	conf, _ := json.Marshal(map[string]any{"type": "external_account", "audience": GooglePoolAudience,
		"subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": c.URL() + "/google/sts",
		"credential_source": map[string]any{"url": c.URL() + "/ci/id-token/" + c.OIDCToken(subject)}})
	return conf
}

// ciIDToken is a CI's token service: it hands the job its OIDC token (here, the one
// its URL names).
func (c *Cloud) ciIDToken(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte(r.PathValue("token")))
}

// googleSTS is Google's Security Token Service (cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token):
// an OIDC token of the pool's provider exchanged for a federated access token.
func (c *Cloud) googleSTS(w http.ResponseWriter, r *http.Request) {
	subject := c.principal(r.FormValue("subject_token"))
	switch {
	case r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" || r.FormValue("audience") != GooglePoolAudience:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Invalid value for \"audience\"."})
	case subject == "":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "The given ID Token is invalid or expired."})
	default:
		tok, lifetime := c.mint("ya29.", GoogleFederatedPrincipal(subject))
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
			"token_type": "Bearer", "expires_in": int(lifetime.Seconds())})
	}
}

// googleToken is Google's OAuth 2.0 token endpoint: for service accounts, the JWT
// bearer grant (RFC 7523: developers.google.com/identity/protocols/oauth2/service-account),
// a JWT signed with the account's key exchanged for an access token, a signature by no
// known key refused as Google refuses it; for users, the refresh token grant.
func (c *Cloud) googleToken(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("grant_type") == "refresh_token" {
		c.mu.Lock()
		principal := c.googleRefresh[r.FormValue("refresh_token")]
		c.mu.Unlock()
		if principal == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
			return
		}
		c.googleAccessToken(w, principal)
		return
	}
	if r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "Invalid grant_type: " + r.FormValue("grant_type")})
		return
	}
	email, ok := c.verifyJWT(r.FormValue("assertion"))
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
		return
	}
	c.googleAccessToken(w, email)
}

// googleAccessToken hands out an access token for principal.
func (c *Cloud) googleAccessToken(w http.ResponseWriter, principal string) {
	tok, lifetime := c.mint("ya29.", principal)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": int(lifetime.Seconds()), "token_type": "Bearer"})
}

// verifyJWT checks an RS256 JWT against the key its header names, and gives its issuer.
func (c *Cloud) verifyJWT(jwt string) (email string, ok bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", false
	}
	var header struct{ Kid string }
	var claims struct{ Iss string }
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if json.Unmarshal(h, &header) != nil || json.Unmarshal(p, &claims) != nil {
		return "", false
	}
	c.mu.Lock()
	acct := c.google[header.Kid]
	c.mu.Unlock()
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if acct == nil || acct.email != claims.Iss || rsa.VerifyPKCS1v15(acct.key, crypto.SHA256, sum[:], sig) != nil {
		return "", false
	}
	return acct.email, true
}

// gkeCluster is GKE's projects.locations.clusters.get
// (cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/get),
// with Google's error bodies for a bad token, a denied account and an unknown cluster.
func (c *Cloud) gkeCluster(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/gke/v1/")
	principal := c.principal(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if principal == "" {
		googleError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	cl, found, allowed := c.lookup(principal, name)
	switch {
	case !allowed:
		googleError(w, http.StatusForbidden, "PERMISSION_DENIED", "Required \"container.clusters.get\" permission(s) for \""+name+"\".")
	case !found:
		googleError(w, http.StatusNotFound, "NOT_FOUND", "Not found: "+name+".")
	default:
		writeJSON(w, http.StatusOK, map[string]any{
			"name":       name[strings.LastIndex(name, "/")+1:],
			"endpoint":   strings.TrimPrefix(cl.Endpoint, "https://"),
			"status":     "RUNNING",
			"masterAuth": map[string]string{"clusterCaCertificate": base64.StdEncoding.EncodeToString(cl.CA)},
		})
	}
}

func googleError(w http.ResponseWriter, code int, status, message string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": message, "status": status}})
}
