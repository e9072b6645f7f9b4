package daggere2e

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/keys"
	"gopkg.in/yaml.v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	"github.com/hubploy/hubploy/internal/testenv/fakekms"
)

// cloudName is the host under which the module's container reaches the fake clouds:
// one their certificate (httptest's) names.
const cloudName = "example.com"

// Each cloud provider deploys through dagger call with the module's credentials only,
// handed over as Secrets: a keyless hub's GKE cluster with a Google service key, its
// EKS cluster with a CI's web identity token for a role, its AKS cluster with a
// federated token. The fake clouds, on the host, are reached through a tunnel named
// by with-cloud-endpoints; the API server they hand out is reached through
// with-cluster's, and lets hubploy in only with the token the cloud gave. The hub's
// secrets are sops-encrypted for a GCP KMS key on GKE (opened with the same Google
// credentials) and for a PGP key on AKS (with-pgp-key), not for age; their value
// reaches the cluster.
func TestCloudCredentialsThroughTheModule(t *testing.T) {
	setup(t)
	u, err := url.Parse(clouds.Server.URL)
	if err != nil {
		t.Fatal(err)
	}
	clouds.PublicURL = "https://" + cloudName + ":" + u.Port()
	ca := filepath.Join(t.TempDir(), "clouds-ca.pem")
	if err := os.WriteFile(ca, clouds.CA(), 0o644); err != nil {
		t.Fatal(err)
	}
	endpoints := []string{"with-cloud-endpoints", "--gke=" + clouds.GKEEndpoint(), "--aws-sts=" + clouds.STSEndpoint(), "--aws-eks=" + clouds.EKSEndpoint(),
		"--azure-authority-host=" + clouds.URL() + "/", "--azure-resource-manager=" + clouds.URL() + "/arm",
		"--ca=" + ca, "--service=tcp://localhost:" + u.Port(), "--service-name=" + cloudName}
	testCluster := fakecloud.Cluster{Endpoint: kube.URL(), CA: kube.RESTConfig().CAData}
	gcpKMS := fakekms.NewGCPKMS(t)
	gcpKMS.Accept = func(token string) bool { return clouds.Principal(token) == "ci@hubploy-test.iam.gserviceaccount.com" }
	clouds.Handle("POST /kms/v1/", http.StripPrefix("/kms", gcpKMS.Handler))
	endpoints = append(endpoints, "--gcp-kms="+clouds.URL()+"/kms/")
	pgpKey := sopstest.NewPGPKey(t)
	t.Setenv("HUBPLOY_TEST_PGP", pgpKey.Armored)

	const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	sub := clouds.AzureSubscription()
	googleKey := clouds.GoogleServiceAccountKey(t, "ci@hubploy-test.iam.gserviceaccount.com")
	role := clouds.AWSRole("deployer")
	awsToken := clouds.OIDCToken("repo:hubploy/hubs:ref:refs/heads/staging")
	azureToken := clouds.OIDCToken("repo:hubploy/hubs:environment:staging")
	azureApp := clouds.AzureFederatedPrincipal(tenant, azureToken)
	for _, tc := range []struct {
		name, block string
		cluster     string
		credentials []string
		env         map[string]string
		principal   string
		sopsKey     keys.MasterKey // the secrets' (nil: the fixture's age key)
	}{
		{"GKE", "gcloud: {project: hubploy-test, zone: us-central1, cluster: module}", "projects/hubploy-test/locations/us-central1/clusters/module",
			[]string{"with-google-credentials", "--credentials=env:HUBPLOY_TEST_GOOGLE"}, map[string]string{"HUBPLOY_TEST_GOOGLE": string(googleKey)},
			"ci@hubploy-test.iam.gserviceaccount.com", gcpKMS.MasterKey("hubploy")},
		{"EKS", "aws: {region: us-west-2, cluster: module}", fakecloud.EKSName("us-west-2", "module"),
			[]string{"with-aws-credentials", "--web-identity-token=env:HUBPLOY_TEST_AWS", "--role-arn=" + role}, map[string]string{"HUBPLOY_TEST_AWS": awsToken},
			fakecloud.AssumedRoleARN(role, "hubploy-cluster-auth"), nil},
		{"AKS", "azure: {resource_group: hubs, cluster: module}", fakecloud.AKSName(sub, "hubs", "module"),
			[]string{"with-azure-credentials", "--tenant-id=" + tenant, "--client-id=" + azureApp, "--federated-token=env:HUBPLOY_TEST_AZURE", "with-pgp-key", "--key=env:HUBPLOY_TEST_PGP"},
			map[string]string{"HUBPLOY_TEST_AZURE": azureToken}, fakecloud.AKSUser("hubs", "module"), pgpKey.MasterKey(t)},
		{"no credentials", "gcloud: {project: hubploy-test, zone: us-central1, cluster: module}", "projects/hubploy-test/locations/us-central1/clusters/module", nil, nil, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clouds.AddCluster(tc.cluster, testCluster)
			repo := t.TempDir()
			if err := os.CopyFS(repo, os.DirFS(fixture)); err != nil {
				t.Fatal(err)
			}
			provider := regexp.MustCompile(`^\w+`).FindString(tc.block)
			if err := os.WriteFile(filepath.Join(repo, "deployments", "stat20", "hubploy.yaml"), []byte("cluster:\n  provider: "+provider+"\n  "+tc.block+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			proxyToken := newProxyToken(t, repo, tc.sopsKey)
			secrets := []string{proxyToken, pgpKey.Armored}
			for k, v := range tc.env {
				t.Setenv(k, v)
				secrets = append(secrets, v)
			}
			secrets = append(secrets, fakecloud.SecretValues(googleKey)...)
			ns := kube.NewNamespace(t)
			args := []string{"--repo=" + repo, "--age-key=file:" + example.AgeKeyFile(), "--chart-mirror=" + example.Z2JHRepository + "=offline-charts"}
			args = append(append(append(args, tc.credentials...), endpoints...), "with-cluster", "--namespace="+ns, "--api-server=tcp://localhost:"+apiServerPort(t))
			doctor := append(slices.Clone(args), "doctor", "--hub=stat20", "--env=staging")
			r := callModule(t, ".", append(args, "deploy", "--env=staging", "--hub=stat20", "--timeout=120s")...)
			if tc.principal == "" {
				// The container's environment is not searched: one line says what to pass.
				const want = `deployments/stat20/hubploy.yaml: key "cluster.gcloud": no Google credentials were given to the Dagger module (pass them with with-google-credentials)`
				if r.err == nil || !strings.Contains(r.output(), want) {
					t.Fatalf("deploy without credentials: %v\n%s", r.err, tail(r.output(), 40))
				}
				assertNoStackTrace(t, r)
				// doctor says the same on its cluster line, and fails.
				r = callModule(t, ".", doctor...)
				if r.err == nil || !regexp.MustCompile(`cluster\s+failed\s+.*no Google credentials were given to the Dagger module`).MatchString(r.output()) {
					t.Errorf("doctor without credentials: %v\n%s", r.err, tail(r.output(), 20))
				}
				return
			}
			if r.err != nil || !regexp.MustCompile(`stat20\s+staging\s+deployed\s+1\s`).MatchString(r.stdout) {
				t.Fatalf("deploy: %v\n%s", r.err, tail(r.output(), 40))
			}
			if !clouds.Reviewed(tc.principal) {
				t.Errorf("the API server never let %s in", tc.principal)
			}
			assertNoSecrets(t, "deploy", r.output(), append(secrets, clouds.Tokens()...))
			hubSecret, err := kube.Client().CoreV1().Secrets(ns).Get(t.Context(), "hub", metav1.GetOptions{})
			if err != nil || string(hubSecret.Data["hub.config.ConfigurableHTTPProxy.auth_token"]) != proxyToken {
				t.Errorf("the hub's Secret does not hold the decrypted proxy token (%v)", err)
			}
			if tc.name != "GKE" {
				return
			}
			// doctor finds the same: the cluster, reached as the credentials' identity.
			r = callModule(t, ".", doctor...)
			if r.err != nil || !regexp.MustCompile(`cluster\s+ok\s+.* as `+regexp.QuoteMeta(tc.principal)).MatchString(r.stdout) {
				t.Errorf("doctor: %v\n%s", r.err, tail(r.output(), 20))
			}
			assertNoSecrets(t, "doctor", r.output(), append(secrets, clouds.Tokens()...))
		})
	}
}

// newProxyToken gives stat20's staging secrets in repo a new proxy token, encrypted for
// mk instead of the example's age key (mk nil: for that key); it returns the token.
func newProxyToken(t *testing.T, repo string, mk keys.MasterKey) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	token := hex.EncodeToString(b) // the chart's schema wants hex
	rewriteSecrets(t, repo, "deployments/stat20/secrets/staging.yaml", mk, func(plain []byte) []byte {
		var doc map[string]any
		if err := yaml.Unmarshal(plain, &doc); err != nil {
			t.Fatal(err)
		}
		doc["jupyterhub"].(map[string]any)["proxy"].(map[string]any)["secretToken"] = token
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return out
	})
	return token
}
