// Package fakecloud serves the cloud APIs hubploy's cluster providers call (Google's
// token endpoint and GKE; AWS STS and EKS; Microsoft Entra ID and AKS) over TLS on
// loopback, from the exchanges the clouds document: the requests hubploy's SDKs make
// and the answers, errors included, that the clouds give. It also authenticates the
// bearer tokens it hands out for a Kubernetes API server, as a token webhook, so that
// a test cluster accepts exactly what a cloud would have given.
package fakecloud

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
)

// Cluster is what a cloud says of a Kubernetes cluster.
type Cluster struct {
	Endpoint string // https URL of the API server
	CA       []byte // PEM
	// EntraID, for an AKS cluster with Entra ID authentication, is the form of its
	// user kubeconfig: EntraExec or EntraAuthProvider; "": local accounts.
	EntraID string
}

// The forms of the user kubeconfig of an AKS cluster with Entra ID authentication.
const (
	EntraExec         = "exec"          // runs kubelogin (since Kubernetes 1.24)
	EntraAuthProvider = "auth-provider" // names client-go's former azure auth provider
)

// Cloud is the fake clouds' one server.
type Cloud struct {
	Server *httptest.Server
	// PublicURL is where the clients reach the server, when that is not Server.URL
	// (a tunnel into a container); its host must be one the server's certificate
	// names (example.com, or a loopback address).
	PublicURL string
	// TokenLifetime is how long the tokens it hands out last; zero: an hour.
	TokenLifetime time.Duration

	mux              *http.ServeMux
	mu               sync.Mutex
	tokens           map[string]issued // bearer tokens handed out, by value
	minted           int               // how many tokens, keys and passwords
	clusters         map[string]Cluster
	denied           map[string]bool // principals refused every cluster
	google           map[string]*googleAccount
	googleRefresh    map[string]string // users' refresh tokens, to their principals
	reviewed         map[string]bool   // principals the token webhook authenticated
	aws              map[string]awsKey // by access key id
	registryPassword string
	azure            map[string]azurePrincipal // by app id
	// azureSubscriptions are the subscriptions every principal sees.
	azureSubscriptions []string
}

// issued is a token handed out, who it stands for and until when.
type issued struct {
	principal string
	expiry    time.Time
}

// New starts the fake clouds; they stop when the test ends.
func New(t testing.TB) *Cloud {
	c := Start()
	t.Cleanup(c.Server.Close)
	return c
}

// Start starts the fake clouds, for a TestMain; close c.Server when done.
func Start() *Cloud {
	c := &Cloud{tokens: map[string]issued{}, clusters: map[string]Cluster{}, denied: map[string]bool{}, google: map[string]*googleAccount{}, googleRefresh: map[string]string{}, reviewed: map[string]bool{}, aws: map[string]awsKey{}, azure: map[string]azurePrincipal{}}
	c.mux = http.NewServeMux()
	c.mux.HandleFunc("POST /authenticate", c.tokenReview)
	c.serveGoogle(c.mux)
	c.serveAWS(c.mux)
	c.serveAzure(c.mux)
	c.Server = httptest.NewTLSServer(c.mux)
	return c
}

// URL is the server's base URL as its clients reach it: PublicURL, else Server.URL.
func (c *Cloud) URL() string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	return c.Server.URL
}

// Handle serves another fake's API at pattern (an http.ServeMux pattern none of the
// clouds' paths overlap): a client that reaches the clouds reaches it too.
func (c *Cloud) Handle(pattern string, h http.Handler) { c.mux.Handle(pattern, h) }

// Client is an HTTP client that trusts the server.
func (c *Cloud) Client() *http.Client { return c.Server.Client() }

// AddCluster makes a cluster known under name (the cloud's full name for it).
func (c *Cloud) AddCluster(name string, cl Cluster) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clusters[name] = cl
}

// Deny makes every cluster refuse principal (permission denied).
func (c *Cloud) Deny(principal string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.denied[principal] = true
}

// Minted is how many tokens the server has handed out.
func (c *Cloud) Minted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.minted
}

// Tokens are the bearer tokens handed out, for tests that look for them in output.
func (c *Cloud) Tokens() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for tok := range c.tokens {
		out = append(out, tok)
	}
	return out
}

// mint hands out a new bearer token for principal.
func (c *Cloud) mint(prefix, principal string) (token string, lifetime time.Duration) {
	b := make([]byte, 24)
	rand.Read(b)
	token = prefix + hex.EncodeToString(b)
	lifetime = c.TokenLifetime
	if lifetime == 0 {
		lifetime = time.Hour
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens[token] = issued{principal: principal, expiry: time.Now().Add(lifetime)}
	c.minted++
	return token, lifetime
}

// principal is who a live token stands for; "" for an unknown or expired one.
func (c *Cloud) principal(token string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if is, ok := c.tokens[token]; ok && time.Now().Before(is.expiry) {
		return is.principal
	}
	return ""
}

// Principal is who a bearer token handed out here, or an EKS token of a live key,
// stands for; "" when it stands for nobody.
func (c *Cloud) Principal(token string) string {
	if p := c.principal(token); p != "" {
		return p
	}
	return c.eksPrincipal(token)
}

// lookup finds a cluster for principal: found is false when there is none, allowed
// false when principal is denied.
func (c *Cloud) lookup(principal, name string) (cl Cluster, found, allowed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, found = c.clusters[name]
	return cl, found, !c.denied[principal]
}

// Reviewed reports whether the token webhook has let principal in: whether a client
// reached an API server that asks it as principal.
func (c *Cloud) Reviewed(principal string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reviewed[principal]
}

// Webhook is the token webhook, for the API server's
// --authentication-token-webhook-config-file.
func (c *Cloud) Webhook() *kubeenv.Webhook {
	return &kubeenv.Webhook{URL: c.Server.URL + "/authenticate", CA: c.CA()}
}

// CA is the PEM certificate clients of the server trust.
func (c *Cloud) CA() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Server.Certificate().Raw})
}

// tokenReview is a Kubernetes token webhook (authentication.k8s.io/v1 TokenReview):
// a live token handed out here is its principal, an admin of the test cluster.
func (c *Cloud) tokenReview(w http.ResponseWriter, r *http.Request) {
	var review authenticationv1.TokenReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	principal := c.Principal(review.Spec.Token)
	review.Status = authenticationv1.TokenReviewStatus{Authenticated: principal != ""}
	if principal != "" {
		review.Status.User = authenticationv1.UserInfo{Username: principal, Groups: []string{"system:masters"}}
		c.mu.Lock()
		c.reviewed[principal] = true
		c.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, review)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// RemoveCluster makes a cluster unknown.
func (c *Cloud) RemoveCluster(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.clusters, name)
}
