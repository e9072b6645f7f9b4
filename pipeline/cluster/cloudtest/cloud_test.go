// Package cloudtest deploys to a real control plane (kubeenv) through each cloud
// provider of pipeline/cluster: the fake clouds (fakecloud, which serve the clouds'
// documented exchanges) hand out the test cluster's endpoint and CA, and tokens that
// the test API server accepts only by asking them (its token webhook), so hubploy
// reaches the cluster through the provider's path and no other.
package cloudtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
	"github.com/hubploy/hubploy/pipeline/charts"
	cloudapi "github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/deploy"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

var (
	kube  *kubeenv.Cluster
	cloud *fakecloud.Cloud
)

func TestMain(m *testing.M) {
	cloud = fakecloud.Start()
	defer cloud.Server.Close()
	kubeenv.MainWith(m, kubeenv.Options{TokenWebhook: cloud.Webhook()}, func(c *kubeenv.Cluster) { kube = c })
}

// testCluster is the test cluster as the clouds describe it.
func testCluster() fakecloud.Cluster {
	return fakecloud.Cluster{Endpoint: kube.URL(), CA: kube.RESTConfig().CAData}
}

// clouds are the fake clouds as hubploy reaches them.
func clouds() *cloudapi.APIs {
	return &cloudapi.APIs{HTTPClient: cloud.Client(),
		Google: cloudapi.GoogleAPI{GKEEndpoint: cloud.GKEEndpoint()},
		AWS:    cloudapi.AWSAPI{STSEndpoint: cloud.STSEndpoint(), EKSEndpoint: cloud.EKSEndpoint()},
		Azure:  cloudapi.AzureAPI{Cloud: cloud.AzureCloud()}}
}

// hubOnCloud is a hub of a copy of the example given the cluster block and the files
// under its secrets/ folder (sops-encrypted), its staging release in a namespace of
// its own, and its access, whose identity the API server must take for principal.
type hubOnCloud struct {
	name, principal, clusterBlock string
	secretFiles                   map[string][]byte
	clouds                        *cloudapi.APIs
}

// prepare writes h into the copy at root and prepares its release and access.
func (h hubOnCloud) prepare(t *testing.T, root string) (*release.Release, *cluster.Access) {
	t.Helper()
	hubDir := filepath.Join(root, "deployments", h.name)
	if _, err := os.Stat(hubDir); err != nil { // a hub more than the example has: stat20's twin
		if err := os.CopyFS(hubDir, os.DirFS(filepath.Join(root, "deployments", "stat20"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(hubDir, "hubploy.yaml"), []byte(h.clusterBlock), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, clear := range h.secretFiles {
		if err := os.WriteFile(filepath.Join(hubDir, "secrets", name), sopstest.MustEncrypt(t, name, clear, example.Recipient(t)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ageKey, err := os.ReadFile(example.AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := r.Hub(h.name)
	if err != nil {
		t.Fatal(err)
	}
	ns := kube.NewNamespace(t)
	dec := &secrets.Decrypter{AgeIdentities: []string{string(ageKey)}}
	rel, err := release.Prepare(t.Context(), hub, "staging", release.Options{
		Namespace: ns,
		Decrypter: dec,
		Charts:    &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{example.Z2JHRepository: example.MirrorFolder()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	access, err := cluster.ForHub(hub, ns, dec, cluster.Options{Clouds: h.clouds})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := access.Getter.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	review, err := kubernetes.NewForConfigOrDie(rc).AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if review.Status.UserInfo.Username != h.principal {
		t.Errorf("%s: the API server took hubploy for %q, want %q", h.name, review.Status.UserInfo.Username, h.principal)
	}
	return rel, access
}

// deployed checks that the release of res is there, as the admin sees it.
func deployed(t *testing.T, res *deploy.Result) {
	t.Helper()
	if res.Outcome != deploy.Deployed {
		t.Fatalf("%s: outcome %s: %s", res.Hub, res.Outcome, res.Error)
	}
	if _, err := kube.Client().AppsV1().Deployments(res.Namespace).Get(t.Context(), "hub", metav1.GetOptions{}); err != nil {
		t.Errorf("%s: the hub's Deployment: %v", res.Hub, err)
	}
}

// deployStat20 deploys the example's stat20 hub (staging) with the cluster block given,
// and the files under its secrets/ folder given (sops-encrypted), checks that the API
// server took hubploy for principal, and returns the deploy's progress and result.
func deployStat20(t *testing.T, clouds *cloudapi.APIs, principal, clusterBlock string, secretFiles map[string][]byte) (log string, res *deploy.Result) {
	t.Helper()
	rel, access := hubOnCloud{"stat20", principal, clusterBlock, secretFiles, clouds}.prepare(t, example.Copy(t))
	var b strings.Builder
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	res, err := (&deploy.Upgrade{Access: access, Timeout: 90 * time.Second,
		Progress: func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }}).Run(ctx, rel)
	t.Log(b.String())
	if err != nil {
		t.Fatal(err)
	}
	deployed(t, res)
	return b.String(), res
}

// noSecret fails when out holds a token the clouds handed out or a secret value of a
// credentials file.
func noSecret(t *testing.T, out string, credentials []byte) {
	t.Helper()
	for _, s := range append(fakecloud.SecretValues(credentials), cloud.Tokens()...) {
		if strings.Contains(out, s) {
			t.Fatalf("the output holds a secret (%.6s…):\n%s", s, out)
		}
	}
}

func TestGKEServiceKey(t *testing.T) {
	const name = "projects/hubploy-test/locations/us-central1/clusters/key"
	cloud.AddCluster(name, testCluster())
	const account = "deployer@hubploy-test.iam.gserviceaccount.com"
	key := cloud.GoogleServiceAccountKey(t, account)
	minted := cloud.Minted()
	log, res := deployStat20(t, clouds(), account, "cluster:\n  provider: gcloud\n  gcloud:\n    project: hubploy-test\n    zone: us-central1\n    cluster: key\n    service_key: gke-key.json\n",
		map[string][]byte{"gke-key.json": key})
	if cloud.Minted() == minted {
		t.Error("no token was minted: the cluster was not reached through GKE")
	}
	if !strings.Contains(log, "connecting to GKE cluster "+name) {
		t.Errorf("progress:\n%s", log)
	}
	noSecret(t, log+res.Error, key)
}

// Keyless: the application default credentials' token, as a workload identity has it.
func TestGKEKeyless(t *testing.T) {
	const name = "projects/hubploy-test/locations/europe-west1-b/clusters/keyless"
	cloud.AddCluster(name, testCluster())
	const account = "ci@hubploy-test.iam.gserviceaccount.com"
	token := cloud.UserToken(account)
	c := clouds()
	c.Google.DefaultCredentials = func(context.Context, ...string) (*google.Credentials, error) {
		return &google.Credentials{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})}, nil
	}
	log, res := deployStat20(t, c, account, "cluster:\n  provider: gcloud\n  gcloud: {project: hubploy-test, zone: europe-west1-b, cluster: keyless}\n", nil)
	noSecret(t, log+res.Error, nil)
}

// EKS with v1.2's keys: the API server takes aws-iam-authenticator's token for the
// keys' user, having asked STS, as EKS does.
func TestEKSKeys(t *testing.T) {
	cloud.AddCluster(fakecloud.EKSName("us-west-2", "keys"), testCluster())
	id, secret, arn := cloud.AWSUserKeys("deployer")
	keys := []byte("creds:\n  aws_access_key_id: " + id + "\n  aws_secret_access_key: " + secret + "\n")
	log, res := deployStat20(t, clouds(), arn, "cluster:\n  provider: aws\n  aws: {region: us-west-2, cluster: keys, service_key: aws-creds.yaml}\n",
		map[string][]byte{"aws-creds.yaml": keys})
	if !strings.Contains(log, "connecting to EKS cluster keys in us-west-2") {
		t.Errorf("progress:\n%s", log)
	}
	noSecret(t, log+res.Error, keys)
}

// EKS with role_arn, assumed with the default credentials.
func TestEKSRole(t *testing.T) {
	cloud.AddCluster(fakecloud.EKSName("eu-west-1", "role"), testCluster())
	id, secret, _ := cloud.AWSUserKeys("ci")
	role := cloud.AWSRole("deployer")
	c := clouds()
	c.AWS.DefaultConfig = func(ctx context.Context, region string) (aws.Config, error) {
		return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")}, nil
	}
	log, res := deployStat20(t, c, fakecloud.AssumedRoleARN(role, "hubploy-cluster-auth"),
		"cluster:\n  provider: aws\n  aws: {region: eu-west-1, cluster: role, role_arn: '"+role+"'}\n", nil)
	noSecret(t, log+res.Error, []byte("secret = "+secret))
}

// AKS with 0.3's service principal: the API server takes the token of the cluster
// user's kubeconfig that AKS gave.
func TestAKSServicePrincipal(t *testing.T) {
	sub := cloud.AzureSubscription()
	cloud.AddCluster(fakecloud.AKSName(sub, "hubs", "sp"), testCluster())
	authFile, _ := cloud.AzureServicePrincipal("hubploy", "72f988bf-86f1-41af-91ab-2d7cd011db47")
	log, res := deployStat20(t, clouds(), fakecloud.AKSUser("hubs", "sp"),
		"cluster:\n  provider: azure\n  azure: {resource_group: hubs, cluster: sp, auth_file: azure-sp.json}\n",
		map[string][]byte{"azure-sp.json": authFile})
	if !strings.Contains(log, "connecting to AKS cluster sp in resource group hubs") {
		t.Errorf("progress:\n%s", log)
	}
	noSecret(t, log+res.Error, authFile)
}

// AKS with Entra ID authentication and the default credential (a workload identity):
// the API server takes the identity's own Entra token, not kubelogin's.
func TestAKSEntraIDDefaultCredential(t *testing.T) {
	sub := cloud.AzureSubscription()
	cl := testCluster()
	cl.EntraID = fakecloud.EntraExec
	cloud.AddCluster(fakecloud.AKSName(sub, "hubs", "entra"), cl)
	authFile, appID := cloud.AzureServicePrincipal("workload", "72f988bf-86f1-41af-91ab-2d7cd011db47")
	var sp struct{ AppID, Password, Tenant string }
	if err := json.Unmarshal(authFile, &sp); err != nil {
		t.Fatal(err)
	}
	c := clouds()
	c.Azure.DefaultCredential = func(opts azcore.ClientOptions) (azcore.TokenCredential, error) {
		// What the environment's AZURE_CLIENT_ID, _TENANT_ID and _SECRET would give.
		return azidentity.NewClientSecretCredential(sp.Tenant, sp.AppID, sp.Password, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	}
	log, res := deployStat20(t, c, appID, "cluster:\n  provider: azure\n  azure: {resource_group: hubs, cluster: entra}\n", nil)
	noSecret(t, log+res.Error, authFile)
}

// Hubs on three clouds deploy at once, each with its own credentials, held in memory
// apart from the others'.
func TestHubsOnThreeCloudsAtOnce(t *testing.T) {
	cloud.AddCluster("projects/hubploy-test/locations/us-east1/clusters/many", testCluster())
	cloud.AddCluster(fakecloud.EKSName("us-east-1", "many"), testCluster())
	cloud.AddCluster(fakecloud.AKSName(cloud.AzureSubscription(), "many", "many"), testCluster())
	const account = "many@hubploy-test.iam.gserviceaccount.com"
	googleKey := cloud.GoogleServiceAccountKey(t, account)
	id, secret, arn := cloud.AWSUserKeys("many")
	awsKeys := []byte("[default]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n")
	authFile, _ := cloud.AzureServicePrincipal("many", "72f988bf-86f1-41af-91ab-2d7cd011db47")
	root := example.Copy(t)
	var jobs []deploy.Job
	for _, h := range []hubOnCloud{
		{"datahub", account, "cluster:\n  provider: gcloud\n  gcloud: {project: hubploy-test, zone: us-east1, cluster: many, service_key: gke-key.json}\n", map[string][]byte{"gke-key.json": googleKey}, clouds()},
		{"stat20", arn, "cluster:\n  provider: aws\n  aws: {region: us-east-1, cluster: many, service_key: aws-eks-config.cfg}\n", map[string][]byte{"aws-eks-config.cfg": awsKeys}, clouds()},
		{"stat30", fakecloud.AKSUser("many", "many"), "cluster:\n  provider: azure\n  azure: {resource_group: many, cluster: many, auth_file: azure-sp.json}\n", map[string][]byte{"azure-sp.json": authFile}, clouds()},
	} {
		rel, access := h.prepare(t, root)
		jobs = append(jobs, deploy.Job{Release: rel, Access: access})
	}
	var mu sync.Mutex
	var log strings.Builder
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	results := (&deploy.Many{Options: deploy.Upgrade{Timeout: 90 * time.Second}, Progress: func(job deploy.Job, format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&log, job.Release.Name+": "+format+"\n", args...)
	}}).Run(ctx, jobs)
	t.Log(log.String())
	for _, res := range results {
		deployed(t, res)
		noSecret(t, res.Error, nil)
	}
	for _, file := range [][]byte{googleKey, awsKeys, authFile} {
		noSecret(t, log.String(), file)
	}
}
