package cluster_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"k8s.io/client-go/rest"

	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	cloudapi "github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// apiServer stands for a cluster's API server: it records the bearer tokens it is sent.
type apiServer struct {
	*httptest.Server
	mu     sync.Mutex
	tokens []string
}

func newAPIServer(t *testing.T) *apiServer {
	s := &apiServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.tokens = append(s.tokens, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"kind":"APIVersions","versions":["v1"]}`))
	}))
	t.Cleanup(s.Close)
	return s
}

// cluster makes the API server known to the fake cloud under name.
func (s *apiServer) cluster() fakecloud.Cluster {
	return fakecloud.Cluster{Endpoint: s.URL, CA: certPEM(s.Server)}
}

// get makes one request through rc, as client-go would, and returns the token the
// server saw.
func (s *apiServer) get(t *testing.T, rc *rest.Config) string {
	t.Helper()
	client, err := rest.HTTPClientFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(rc.Host + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[len(s.tokens)-1]
}

const gkeName = "projects/p/locations/us-central1/clusters/c"

// gkeHub is a hub whose cluster is GKE cluster c, with the given service key file
// (sops-encrypted), or keyless when key is nil.
func gkeHub(t *testing.T, key []byte) (*cluster.Options, func(namespace string) (*cluster.Access, error)) {
	t.Helper()
	age := sopstest.NewKey(t)
	block := "cluster:\n  provider: gcloud\n  gcloud: {project: p, zone: us-central1, cluster: c"
	files := map[string][]byte{}
	if key != nil {
		block += ", service_key: gke-key.json"
		files["deployments/h/secrets/gke-key.json"] = sopstest.MustEncrypt(t, "gke-key.json", key, age.Recipient)
	}
	h := hub(t, block+"}\n", files)
	opts := &cluster.Options{}
	return opts, func(namespace string) (*cluster.Access, error) {
		return cluster.ForHub(h, namespace, &secrets.Decrypter{AgeIdentities: []string{age.Identity}}, *opts)
	}
}

func gkeClouds(cloud *fakecloud.Cloud) *cloudapi.APIs {
	return &cloudapi.APIs{HTTPClient: cloud.Client(), Google: cloudapi.GoogleAPI{GKEEndpoint: cloud.GKEEndpoint()}}
}

// The service key's JWT is exchanged for a token, the token gets the cluster's endpoint
// and CA from GKE, and the API server is sent the token.
func TestGKEServiceKey(t *testing.T) {
	cloud := fakecloud.New(t)
	api := newAPIServer(t)
	cloud.AddCluster(gkeName, api.cluster())
	key := cloud.GoogleServiceAccountKey(t, "deployer@p.iam.gserviceaccount.com")
	opts, forHub := gkeHub(t, key)
	opts.Clouds = gkeClouds(cloud)

	a, err := forHub("h-prod")
	if err != nil {
		t.Fatal(err)
	}
	if a.Server != "GKE cluster "+gkeName || a.Source != "deployments/h/secrets/gke-key.json" || a.Identity == "" {
		t.Errorf("got %+v", a)
	}
	if cloud.Minted() != 0 {
		t.Error("ForHub asked the cloud: it must work offline")
	}
	rc, err := a.Getter.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != api.URL || string(rc.CAData) != string(certPEM(api.Server)) || rc.BearerToken != "" {
		t.Errorf("rest config: host %q, token in the config %v", rc.Host, rc.BearerToken != "")
	}
	if ns, _, _ := a.Getter.ToRawKubeConfigLoader().Namespace(); ns != "h-prod" {
		t.Errorf("namespace %q", ns)
	}
	first := api.get(t, rc)
	if !slicesContain(cloud.Tokens(), first) {
		t.Errorf("the API server got %q, not a token GKE's token endpoint handed out", first)
	}
	// The cluster is asked once; the token lasts.
	rc2, err := a.Getter.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if again := api.get(t, rc2); again != first || cloud.Minted() != 1 {
		t.Errorf("a second request minted again (%d tokens)", cloud.Minted())
	}
	assertNoSecret(t, strings.Join([]string{a.Server, a.Source, a.Identity}, "\n"), key, cloud.Tokens())
}

// A token about to expire is renewed before the API server would refuse it.
func TestGKERefreshBeforeExpiry(t *testing.T) {
	cloud := fakecloud.New(t)
	cloud.TokenLifetime = 5 * time.Second // within oauth2's early refresh (10 s): renewed on every use
	api := newAPIServer(t)
	cloud.AddCluster(gkeName, api.cluster())
	opts, forHub := gkeHub(t, cloud.GoogleServiceAccountKey(t, "deployer@p.iam.gserviceaccount.com"))
	opts.Clouds = gkeClouds(cloud)
	a, err := forHub("ns")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := a.Getter.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	first, second := api.get(t, rc), api.get(t, rc)
	if first == second || !slicesContain(cloud.Tokens(), second) {
		t.Errorf("the token was not renewed: %v", first == second)
	}
}

// Keyless: the application default credentials (a workload identity, a person's login).
func TestGKEKeyless(t *testing.T) {
	cloud := fakecloud.New(t)
	api := newAPIServer(t)
	cloud.AddCluster(gkeName, api.cluster())
	opts, forHub := gkeHub(t, nil)
	token := cloud.UserToken("ci@p.iam.gserviceaccount.com")
	clouds := gkeClouds(cloud)
	clouds.Google.DefaultCredentials = func(ctx context.Context, scopes ...string) (*google.Credentials, error) {
		return &google.Credentials{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})}, nil
	}
	opts.Clouds = clouds
	a, err := forHub("ns")
	if err != nil {
		t.Fatal(err)
	}
	if a.Source != "Google application default credentials" {
		t.Errorf("source %q", a.Source)
	}
	rc, err := a.Getter.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if got := api.get(t, rc); got != token {
		t.Error("the API server was not sent the default credentials' token")
	}
}

// Each failure is one line naming the hub's hubploy.yaml and block and what to do, and
// quotes no key or token.
func TestGKEErrors(t *testing.T) {
	const who = "deployer@p.iam.gserviceaccount.com"
	for _, tc := range []struct {
		name    string
		setup   func(cloud *fakecloud.Cloud, clouds *cloudapi.APIs)
		keyless bool
		want    string
	}{
		{"wrong key", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) { cloud.RevokeGoogleKeys() }, false,
			`deployments/h/hubploy.yaml: key "cluster.gcloud": Google refused the service key deployments/h/secrets/gke-key.json (invalid_grant Invalid JWT Signature.) (the key or login is wrong, expired or revoked`},
		{"expired token", func(cloud *fakecloud.Cloud, clouds *cloudapi.APIs) {
			cloud.TokenLifetime = time.Nanosecond
			token := cloud.UserToken(who)
			clouds.Google.DefaultCredentials = func(context.Context, ...string) (*google.Credentials, error) {
				return &google.Credentials{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})}, nil
			}
		}, true, `deployments/h/hubploy.yaml: key "cluster.gcloud": GKE refused the token of the application default credentials as expired or invalid`},
		{"no default credentials", func(_ *fakecloud.Cloud, clouds *cloudapi.APIs) {
			clouds.Google.DefaultCredentials = func(context.Context, ...string) (*google.Credentials, error) {
				return nil, context.DeadlineExceeded
			}
		}, true, `deployments/h/hubploy.yaml: key "cluster.gcloud": has no service_key, and no Google application default credentials were found`},
		{"permission denied", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) { cloud.Deny(who) }, false,
			`deployments/h/hubploy.yaml: key "cluster.gcloud": permission denied to get ` + gkeName + ` with the service key deployments/h/secrets/gke-key.json (Required "container.clusters.get" permission(s) for "` + gkeName + `".) (grant the account container.clusters.get`},
		{"cluster not found", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) { cloud.RemoveCluster(gkeName) }, false,
			`deployments/h/hubploy.yaml: key "cluster.gcloud": GKE has no cluster ` + gkeName + ` (fix project, zone (the cluster's location) or cluster)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cloud := fakecloud.New(t)
			cloud.AddCluster(gkeName, newAPIServer(t).cluster())
			var key []byte
			if !tc.keyless {
				key = cloud.GoogleServiceAccountKey(t, who)
			}
			opts, forHub := gkeHub(t, key)
			opts.Clouds = gkeClouds(cloud)
			tc.setup(cloud, opts.Clouds)
			a, err := forHub("ns")
			if err != nil {
				t.Fatal(err)
			}
			assertRefusedOnFirstUse(t, a, tc.want, key, cloud.Tokens())
		})
	}
}

// What ForHub itself refuses, offline.
func TestGKEBadInput(t *testing.T) {
	age := sopstest.NewKey(t)
	dec := &secrets.Decrypter{AgeIdentities: []string{age.Identity}}
	notAKey := []byte(`{"type": "authorized_user", "client_secret": "s3cr3t-client-secret", "refresh_token": "s3cr3t-refresh"}`)
	for _, tc := range []struct {
		name, hubploy string
		files         map[string][]byte
		opts          cluster.Options
		want          string
	}{
		{"missing zone", "cluster:\n  provider: gcloud\n  gcloud: {project: p, cluster: c}\n", nil, cluster.Options{},
			`deployments/h/hubploy.yaml: key "cluster.gcloud.zone": is missing`},
		{"missing key file", "cluster:\n  provider: gcloud\n  gcloud: {project: p, cluster: c, zone: z, service_key: k.json}\n", nil, cluster.Options{},
			`deployments/h/secrets/k.json: cannot read: it does not exist (key "cluster.gcloud.service_key" in deployments/h/hubploy.yaml names it`},
		{"not a service account key", "cluster:\n  provider: gcloud\n  gcloud: {project: p, cluster: c, zone: z, service_key: k.json}\n",
			map[string][]byte{"deployments/h/secrets/k.json": sopstest.MustEncrypt(t, "k.json", notAKey, age.Recipient)}, cluster.Options{},
			`deployments/h/secrets/k.json: is not a Google service account key`},
		{"a kube context", "cluster:\n  provider: gcloud\n  gcloud: {project: p, cluster: c, zone: z}\n", nil, cluster.Options{Context: "x"},
			`deployments/h/hubploy.yaml: key "cluster.provider": is "gcloud", which has no kubeconfig contexts`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.files == nil {
				tc.files = map[string][]byte{}
			}
			_, err := cluster.ForHub(hub(t, tc.hubploy, tc.files), "ns", dec, tc.opts)
			if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			assertNoSecret(t, err.Error(), notAKey, nil)
		})
	}
}

// Options.Server (a tunnel to the same API server) replaces the address the cloud
// gives, and keeps its CA and tokens.
func TestCloudServerOverride(t *testing.T) {
	cloud := fakecloud.New(t)
	api := newAPIServer(t)
	cloud.AddCluster(gkeName, fakecloud.Cluster{Endpoint: "https://10.0.0.1", CA: certPEM(api.Server)})
	opts, forHub := gkeHub(t, cloud.GoogleServiceAccountKey(t, "deployer@p.iam.gserviceaccount.com"))
	opts.Clouds, opts.Server = gkeClouds(cloud), api.URL
	a, err := forHub("ns")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := a.Getter.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != api.URL || !slicesContain(cloud.Tokens(), api.get(t, rc)) {
		t.Errorf("host %q", rc.Host)
	}
}
