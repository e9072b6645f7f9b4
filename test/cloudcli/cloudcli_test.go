// Package cloudcli deploys through each cloud provider with the hubploy binary, as
// users and CI run it: the fake clouds (internal/testenv/fakecloud) hand out the test
// cluster's endpoint and CA, and tokens its API server accepts only by asking them
// (its token webhook). The binary finds the fake clouds through the variables users
// set for private or sovereign endpoints (AWS_ENDPOINT_URL_<SERVICE>,
// AZURE_AUTHORITY_HOST, HUBPLOY_GKE_ENDPOINT, …) and trusts their CA through
// SSL_CERT_FILE; it has no kubeconfig, so it reaches the cluster through the provider
// or not at all.
package cloudcli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hubploy/hubploy/internal/clitest"
	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
	"github.com/hubploy/hubploy/pipeline/action"
)

var (
	kube    *kubeenv.Cluster
	cloud   *fakecloud.Cloud
	hubploy string // the built binary
)

func TestMain(m *testing.M) {
	cloud = fakecloud.Start() // serves until the test binary exits
	kubeenv.MainWith(m, kubeenv.Options{TokenWebhook: cloud.Webhook()}, func(c *kubeenv.Cluster) {
		bin, err := clitest.Build(c.Dir())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		kube, hubploy = c, bin
	})
}

// testCluster is the test cluster as the clouds describe it.
func testCluster() fakecloud.Cluster {
	return fakecloud.Cluster{Endpoint: kube.URL(), CA: kube.RESTConfig().CAData}
}

const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// hubOnCloud is the example's stat20 hub with another cluster block and the files
// under its secrets/ folder (sops-encrypted), and the variables of its environment.
type hubOnCloud struct {
	clusterBlock string
	secretFiles  map[string][]byte
	vars         []string
}

// env is a copy of the example with h in it, run with no kubeconfig, no cloud login
// of the machine's, and the fake clouds where the clouds would be.
func (h hubOnCloud) env(t *testing.T) *clitest.Env {
	t.Helper()
	e := clitest.New(t, kube, hubploy)
	hubDir := filepath.Join(e.Repo, "deployments", "stat20")
	if err := os.WriteFile(filepath.Join(hubDir, "hubploy.yaml"), []byte(h.clusterBlock), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, clear := range h.secretFiles {
		if err := os.WriteFile(filepath.Join(hubDir, "secrets", name), sopstest.MustEncrypt(t, name, clear, example.Recipient(t)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	ca := filepath.Join(home, "fakecloud-ca.pem")
	if err := os.WriteFile(ca, cloud.CA(), 0o644); err != nil {
		t.Fatal(err)
	}
	e.Vars = append([]string{
		"HOME=" + home, "XDG_CONFIG_HOME=" + home, "KUBECONFIG=", "KUBERNETES_SERVICE_HOST=",
		"SSL_CERT_FILE=" + ca,
		"GOOGLE_APPLICATION_CREDENTIALS=", "HUBPLOY_GKE_ENDPOINT=" + cloud.GKEEndpoint(), "HUBPLOY_GOOGLE_TOKEN_URI=" + cloud.Server.URL + "/google/token",
		"AWS_ENDPOINT_URL_STS=" + cloud.STSEndpoint(), "AWS_ENDPOINT_URL_EKS=" + cloud.EKSEndpoint(), "AWS_ENDPOINT_URL_ECR=" + cloud.ECREndpoint(),
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_ROLE_ARN=", "AWS_WEB_IDENTITY_TOKEN_FILE=", "AWS_CA_BUNDLE=",
		"AWS_EC2_METADATA_DISABLED=true",
		"AZURE_AUTHORITY_HOST=" + cloud.Server.URL + "/", "HUBPLOY_AZURE_RESOURCE_MANAGER=" + cloud.Server.URL + "/arm",
		"AZURE_CLIENT_ID=", "AZURE_TENANT_ID=", "AZURE_CLIENT_SECRET=", "AZURE_FEDERATED_TOKEN_FILE=",
	}, h.vars...)
	return e
}

// deploy runs hubploy deploy stat20 staging into a namespace of the test's.
func deploy(t *testing.T, e *clitest.Env) (ns string, code int, stdout, stderr string) {
	t.Helper()
	ns = e.Namespace("st")
	code, stdout, stderr = e.Run("deploy", "stat20", "staging", "--namespace", ns, "--timeout", "120")
	t.Logf("exit %d\n%s%s", code, stdout, stderr)
	return ns, code, stdout, stderr
}

// doctor runs hubploy doctor stat20 staging -o json, wanting exit code want.
func doctor(t *testing.T, e *clitest.Env, want int) (*action.DoctorResult, string) {
	t.Helper()
	code, stdout, stderr := e.Run("doctor", "stat20", "staging", "-o", "json")
	var res action.DoctorResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || code != want || len(res.Lines) < 2 {
		t.Fatalf("doctor: exit %d, want %d (%v)\n%s%s", code, want, err, stdout, stderr)
	}
	return &res, stdout + stderr
}

// noSecret fails when out holds a token the clouds handed out or a secret value of a
// credentials file.
func noSecret(t *testing.T, out string, files ...[]byte) {
	t.Helper()
	secrets := cloud.Tokens()
	for _, f := range files {
		secrets = append(secrets, fakecloud.SecretValues(f)...)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("the output holds a secret (%.6s…):\n%s", s, out)
		}
	}
}

// Each provider deploys through the binary; the API server let hubploy in as the
// cloud's identity, which only the provider's path gives.
func TestDeployThroughEachProvider(t *testing.T) {
	googleKey := cloud.GoogleServiceAccountKey(t, "deployer@hubploy-test.iam.gserviceaccount.com")
	adc := cloud.GoogleUserCredentials("alice@example.org")
	adcFile := filepath.Join(t.TempDir(), "application_default_credentials.json")
	if err := os.WriteFile(adcFile, adc, 0o600); err != nil {
		t.Fatal(err)
	}
	wif := cloud.GoogleExternalAccount("repo:hubploy/hubs:ref:refs/heads/staging")
	wifFile := filepath.Join(t.TempDir(), "wif-credentials.json")
	if err := os.WriteFile(wifFile, wif, 0o600); err != nil {
		t.Fatal(err)
	}
	// A CI job's OIDC token in a file, as GitHub's and GitLab's AWS and Azure logins
	// leave it for the SDKs' web identity and workload identity credentials.
	ciToken := cloud.OIDCToken("repo:hubploy/hubs:ref:refs/heads/staging")
	tokenFile := filepath.Join(t.TempDir(), "ci-token")
	if err := os.WriteFile(tokenFile, []byte(ciToken), 0o600); err != nil {
		t.Fatal(err)
	}
	federatedApp := cloud.AzureFederatedPrincipal(tenant, ciToken)
	keyID, keySecret, keyUser := cloud.AWSUserKeys("deployer")
	awsKeys := []byte("creds:\n  aws_access_key_id: " + keyID + "\n  aws_secret_access_key: " + keySecret + "\n")
	ciID, ciSecret, ciUser := cloud.AWSUserKeys("ci")
	ciKeys := []string{"AWS_ACCESS_KEY_ID=" + ciID, "AWS_SECRET_ACCESS_KEY=" + ciSecret}
	role := cloud.AWSRole("deployer")
	authFile, _ := cloud.AzureServicePrincipal("hubploy", tenant)
	sub := cloud.AzureSubscription()
	for _, name := range []string{"projects/hubploy-test/locations/us-central1/clusters/cli-key", "projects/hubploy-test/locations/us-central1/clusters/cli-keyless", "projects/hubploy-test/locations/us-central1/clusters/cli-wif",
		fakecloud.EKSName("us-west-2", "cli-keys"), fakecloud.EKSName("us-west-2", "cli-role"), fakecloud.EKSName("us-west-2", "cli-default"), fakecloud.EKSName("us-west-2", "cli-oidc"),
		fakecloud.AKSName(sub, "hubs", "cli-sp"), fakecloud.AKSName(sub, "hubs", "cli-oidc")} {
		cloud.AddCluster(name, testCluster())
	}

	for _, tc := range []struct {
		name, principal string
		hub             hubOnCloud
		credentials     []byte
	}{
		{"GKE key", "deployer@hubploy-test.iam.gserviceaccount.com", hubOnCloud{
			"cluster:\n  provider: gcloud\n  gcloud: {project: hubploy-test, zone: us-central1, cluster: cli-key, service_key: gke-key.json}\n",
			map[string][]byte{"gke-key.json": googleKey}, nil}, googleKey},
		{"GKE keyless", "alice@example.org", hubOnCloud{
			"cluster:\n  provider: gcloud\n  gcloud: {project: hubploy-test, zone: us-central1, cluster: cli-keyless}\n",
			nil, []string{"GOOGLE_APPLICATION_CREDENTIALS=" + adcFile}}, adc},
		// The v1.2 fork's keyless CI: workload identity federation's configuration.
		{"GKE federated", fakecloud.GoogleFederatedPrincipal("repo:hubploy/hubs:ref:refs/heads/staging"), hubOnCloud{
			"cluster:\n  provider: gcloud\n  gcloud: {project: hubploy-test, zone: us-central1, cluster: cli-wif}\n",
			nil, []string{"GOOGLE_APPLICATION_CREDENTIALS=" + wifFile}}, wif},
		{"EKS keys", keyUser, hubOnCloud{
			"cluster:\n  provider: aws\n  aws: {region: us-west-2, cluster: cli-keys, service_key: aws-creds.yaml}\n",
			map[string][]byte{"aws-creds.yaml": awsKeys}, nil}, awsKeys},
		{"EKS role", fakecloud.AssumedRoleARN(role, "hubploy-cluster-auth"), hubOnCloud{
			"cluster:\n  provider: aws\n  aws: {region: us-west-2, cluster: cli-role, role_arn: '" + role + "'}\n", nil, ciKeys}, []byte("secret = " + ciSecret)},
		{"EKS default credentials", ciUser, hubOnCloud{
			"cluster:\n  provider: aws\n  aws: {region: us-west-2, cluster: cli-default}\n", nil, ciKeys}, []byte("secret = " + ciSecret)},
		{"EKS web identity", fakecloud.AssumedRoleARN(role, "ci"), hubOnCloud{
			"cluster:\n  provider: aws\n  aws: {region: us-west-2, cluster: cli-oidc}\n", nil,
			[]string{"AWS_WEB_IDENTITY_TOKEN_FILE=" + tokenFile, "AWS_ROLE_ARN=" + role, "AWS_ROLE_SESSION_NAME=ci"}}, []byte("token = " + ciToken)},
		{"AKS workload identity", fakecloud.AKSUser("hubs", "cli-oidc"), hubOnCloud{
			"cluster:\n  provider: azure\n  azure: {resource_group: hubs, cluster: cli-oidc}\n", nil,
			[]string{"AZURE_FEDERATED_TOKEN_FILE=" + tokenFile, "AZURE_CLIENT_ID=" + federatedApp, "AZURE_TENANT_ID=" + tenant}}, []byte("token = " + ciToken)},
		{"AKS service principal", fakecloud.AKSUser("hubs", "cli-sp"), hubOnCloud{
			"cluster:\n  provider: azure\n  azure: {resource_group: hubs, cluster: cli-sp, auth_file: azure-sp.json}\n",
			map[string][]byte{"azure-sp.json": authFile}, nil}, authFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.hub.env(t)
			ns, code, stdout, stderr := deploy(t, e)
			if code != 0 || !strings.Contains(stdout, "stat20  staging  deployed  1") {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			if !cloud.Reviewed(tc.principal) {
				t.Errorf("the API server never let %s in", tc.principal)
			}
			if _, err := kube.Client().AppsV1().Deployments(ns).Get(t.Context(), "hub", metav1.GetOptions{}); err != nil {
				t.Errorf("the hub's Deployment: %v", err)
			}
			noSecret(t, stdout+stderr, tc.credentials)

			// doctor says who the API server takes hubploy for: the cloud's identity.
			res, out := doctor(t, e, 0)
			if cl := res.Lines[1]; cl.Check != "cluster" || !strings.Contains(cl.Detail, " as "+tc.principal+" (groups system:masters") {
				t.Errorf("doctor's cluster line: %+v", cl)
			}
			noSecret(t, out, tc.credentials)
		})
	}
}

// A wrong key, an identity without permission and a cluster the cloud does not have:
// exit 1, a line naming the hub's hubploy.yaml and the block, no secret anywhere.
func TestProviderErrors(t *testing.T) {
	// A key whose private key is another account's: Google finds the signature wrong.
	googleKey, other := cloud.GoogleServiceAccountKey(t, "wrong@hubploy-test.iam.gserviceaccount.com"), cloud.GoogleServiceAccountKey(t, "other@hubploy-test.iam.gserviceaccount.com")
	wrongKey := []byte(strings.Replace(string(googleKey), privateKey(t, googleKey), privateKey(t, other), 1))
	id, secret, arn := cloud.AWSUserKeys("denied")
	cloud.Deny(arn)
	cloud.AddCluster(fakecloud.EKSName("us-west-2", "cli-denied"), testCluster())
	awsKeys := []byte("[default]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n")
	authFile, _ := cloud.AzureServicePrincipal("hubploy", tenant)
	cloud.AzureSubscription()

	const file = "deployments/stat20/hubploy.yaml"
	for _, tc := range []struct {
		name        string
		hub         hubOnCloud
		credentials []byte
		want        string
	}{
		{"wrong key", hubOnCloud{"cluster:\n  provider: gcloud\n  gcloud: {project: hubploy-test, zone: us-central1, cluster: cli-key, service_key: gke-key.json}\n",
			map[string][]byte{"gke-key.json": wrongKey}, nil}, wrongKey,
			file + `: key "cluster.gcloud": Google refused the service key deployments/stat20/secrets/gke-key.json (invalid_grant Invalid JWT Signature.)`},
		{"permission denied", hubOnCloud{"cluster:\n  provider: aws\n  aws: {region: us-west-2, cluster: cli-denied, service_key: aws.cfg}\n",
			map[string][]byte{"aws.cfg": awsKeys}, nil}, awsKeys,
			file + `: key "cluster.aws": permission denied with the keys of deployments/stat20/secrets/aws.cfg (User: ` + arn + ` is not authorized to perform: eks:DescribeCluster`},
		{"cluster not found", hubOnCloud{"cluster:\n  provider: azure\n  azure: {resource_group: hubs, cluster: nowhere, auth_file: azure-sp.json}\n",
			map[string][]byte{"azure-sp.json": authFile}, nil}, authFile,
			file + `: key "cluster.azure": AKS has no cluster nowhere in resource group hubs of subscription(s) `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, code, stdout, stderr := deploy(t, tc.hub.env(t))
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			var lines []string
			for _, line := range strings.Split(stderr, "\n") {
				if strings.Contains(line, tc.want) {
					lines = append(lines, line)
				}
			}
			if len(lines) == 0 {
				t.Errorf("no line of stderr says %q:\n%s", tc.want, stderr)
			}
			clitest.AssertNoStackTrace(t, stdout+stderr)
			noSecret(t, stdout+stderr, tc.credentials)

			// doctor finds the credentials, fails the cluster line with the same error,
			// and exits 1.
			res, out := doctor(t, tc.hub.env(t), 1)
			if cl := res.Lines[1]; !res.Lines[0].OK || cl.Check != "cluster" || cl.OK || !strings.HasPrefix(cl.Error, tc.want) {
				t.Errorf("doctor's line: %+v\nwant %s", cl, tc.want)
			}
			noSecret(t, out, tc.credentials)
		})
	}
}

// privateKey is the private key of a service account's JSON key.
func privateKey(t *testing.T, key []byte) string {
	t.Helper()
	_, rest, ok := strings.Cut(string(key), `"private_key": "`)
	pk, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 {
		t.Fatal("the key has no private_key")
	}
	return pk
}

// --print-commands for a hub on a cloud: the cloud CLI's login into a kubeconfig of its
// own (and a configuration of its own for a key), the credential file's values
// decrypted by sops where they are used, then helm; hubploy itself asks no cloud.
func TestPrintCommandsLogIn(t *testing.T) {
	googleKey := cloud.GoogleServiceAccountKey(t, "deployer@hubploy-test.iam.gserviceaccount.com")
	id, secret, _ := cloud.AWSUserKeys("deployer")
	authFile, _ := cloud.AzureServicePrincipal("hubploy", tenant)
	const kubeconfig = `export KUBECONFIG="$(mktemp)"`
	for _, tc := range []struct {
		name  string
		hub   hubOnCloud
		lines []string
		files [][]byte
	}{
		{"GKE key", hubOnCloud{"cluster:\n  provider: gcloud\n  gcloud: {project: hubploy-test, zone: us-central1, cluster: c1, service_key: gke-key.json}\n",
			map[string][]byte{"gke-key.json": googleKey}, nil}, []string{kubeconfig, `export CLOUDSDK_CONFIG="$(mktemp -d)"`,
			"gcloud auth activate-service-account --key-file <(sops --decrypt deployments/stat20/secrets/gke-key.json)",
			"gcloud container clusters get-credentials c1 --zone us-central1 --project hubploy-test"}, [][]byte{googleKey}},
		{"GKE keyless", hubOnCloud{"cluster:\n  provider: gcloud\n  gcloud: {project: hubploy-test, zone: us-central1, cluster: c1}\n", nil, nil},
			[]string{kubeconfig, "# with your own gcloud login", "gcloud container clusters get-credentials c1 --zone us-central1 --project hubploy-test"}, nil},
		{"EKS v1.2 keys", hubOnCloud{"cluster:\n  provider: aws\n  aws: {region: us-west-2, cluster: c1, service_key: aws.yaml}\n",
			map[string][]byte{"aws.yaml": []byte("creds:\n  aws_access_key_id: " + id + "\n  aws_secret_access_key: " + secret + "\n")}, nil},
			[]string{kubeconfig, `export AWS_ACCESS_KEY_ID="$(sops --decrypt --extract '["creds"]["aws_access_key_id"]' deployments/stat20/secrets/aws.yaml)" ` +
				`AWS_SECRET_ACCESS_KEY="$(sops --decrypt --extract '["creds"]["aws_secret_access_key"]' deployments/stat20/secrets/aws.yaml)"`,
				"aws eks update-kubeconfig --name c1 --region us-west-2"}, [][]byte{[]byte("secret = " + secret)}},
		{"EKS 0.3 credentials file", hubOnCloud{"cluster:\n  provider: aws\n  aws: {region: us-west-2, cluster: c1, service_key: aws.cfg}\n",
			map[string][]byte{"aws.cfg": []byte("[default]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n")}, nil},
			[]string{kubeconfig, `export AWS_ACCESS_KEY_ID="$(sops --decrypt --extract '["default"]["aws_access_key_id"]' deployments/stat20/secrets/aws.cfg)" ` +
				`AWS_SECRET_ACCESS_KEY="$(sops --decrypt --extract '["default"]["aws_secret_access_key"]' deployments/stat20/secrets/aws.cfg)"`,
				"aws eks update-kubeconfig --name c1 --region us-west-2"}, [][]byte{[]byte("secret = " + secret)}},
		{"EKS role", hubOnCloud{"cluster:\n  provider: aws\n  aws: {region: us-west-2, cluster: c1, role_arn: 'arn:aws:iam::111122223333:role/deployer'}\n", nil, nil},
			[]string{kubeconfig, "# with your own AWS credentials", "aws eks update-kubeconfig --name c1 --region us-west-2 --role-arn arn:aws:iam::111122223333:role/deployer"}, nil},
		{"AKS service principal", hubOnCloud{"cluster:\n  provider: azure\n  azure: {resource_group: hubs, cluster: c1, auth_file: azure-sp.json}\n",
			map[string][]byte{"azure-sp.json": authFile}, nil},
			[]string{kubeconfig, `export AZURE_CONFIG_DIR="$(mktemp -d)"`,
				`az login --service-principal --username "$(sops --decrypt --extract '["appId"]' deployments/stat20/secrets/azure-sp.json)" ` +
					`--password "$(sops --decrypt --extract '["password"]' deployments/stat20/secrets/azure-sp.json)" ` +
					`--tenant "$(sops --decrypt --extract '["tenant"]' deployments/stat20/secrets/azure-sp.json)"`,
				`az aks get-credentials --resource-group hubs --name c1 --file "$KUBECONFIG"`,
				"# a cluster with Entra ID authentication also needs: kubelogin convert-kubeconfig -l azurecli"}, [][]byte{authFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			minted := cloud.Minted()
			code, stdout, stderr := tc.hub.env(t).Run("deploy", "stat20", "staging", "--print-commands")
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			lines := strings.Split(stdout, "\n")
			if len(lines) < len(tc.lines)+2 || !slices.Equal(lines[1:1+len(tc.lines)], tc.lines) || lines[1+len(tc.lines)] != "helm dependency build hub" {
				t.Errorf("want, after the comment line:\n%s\nhelm dependency build hub\ngot:\n%s", strings.Join(tc.lines, "\n"), stdout)
			}
			if strings.Contains(stdout, "--kubeconfig") {
				t.Errorf("helm is given another kubeconfig than the login's:\n%s", stdout)
			}
			if cloud.Minted() != minted {
				t.Error("hubploy asked the cloud")
			}
			for _, f := range tc.files {
				noSecret(t, stdout+stderr, f)
			}
		})
	}
}
