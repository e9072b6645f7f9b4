package action

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/registrytest"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/images"
)

const doctorECR = "111122223333.dkr.ecr.us-west-2.amazonaws.com"

// doctorOnECR is doctor of datahub (staging) with its images on ECR, logged in to with
// the keys of a sops file, through the fake AWS and a registry that takes only the
// password it hands out; the cluster is a kubeconfig to a server that is not there.
// deny refuses the keys' user. It returns the result as JSON, and the secrets.
func doctorOnECR(t *testing.T, deny bool) (*DoctorResult, string, []string) {
	fake := fakecloud.New(t)
	const password = "eyJwYXlsb2FkIjoiZG9jdG9yLXJlZ2lzdHJ5In0"
	fake.SetRegistryPassword(password)
	reg := registrytest.Serve(t, "AWS", password)
	id, secret, arn := fake.AWSUserKeys("ci")
	if deny {
		fake.Deny(arn)
	}
	c := config(t, nil)
	hubDir := filepath.Join(c.Settings.RepoDir, "deployments", "datahub")
	config := "images:\n  images:\n    - name: " + doctorECR + "/datahub/user-image\n    - name: " + doctorECR + "/datahub/other-image:v1\n      helm_substitution_path: jupyterhub.hub.image\n" +
		"  registry:\n    provider: aws\n    aws: {region: us-west-2, service_key: ecr.yaml}\n"
	keys := []byte("creds:\n  aws_access_key_id: " + id + "\n  aws_secret_access_key: " + secret + "\n")
	if err := os.WriteFile(filepath.Join(hubDir, "hubploy.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hubDir, "secrets", "ecr.yaml"), sopstest.MustEncrypt(t, "ecr.yaml", keys, example.Recipient(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := c.hub("datahub")
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := images.Resolve(h, "staging")
	if err != nil {
		t.Fatal(err)
	}
	reg.Push(t, reg.Host+strings.TrimPrefix(imgs[0].Ref(), doctorECR))
	kc, err := images.KeychainWith(h, c.Decrypter, &cloud.APIs{HTTPClient: fake.Client(), AWS: cloud.AWSAPI{ECREndpoint: fake.ECREndpoint()}})
	if err != nil {
		t.Fatal(err)
	}
	const kubeToken = "kube-token-of-the-doctor-test"
	kubeconfig := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://" + registrytest.Unreachable(t) + "'}}]\n" +
		"users: [{name: u, user: {token: " + kubeToken + "}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
	res, err := (&Doctor{Config: c, Hub: "datahub", Env: "staging", Cluster: ClusterOptions{Kubeconfig: []byte(kubeconfig)},
		Registry: Registry{Keychain: kc, Options: []remote.Option{remote.WithTransport(fakecloud.RegistryAt(doctorECR, reg.Host))}}}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(res)
	var text strings.Builder
	WriteDoctor(&text, res)
	return res, string(out) + text.String(), append(fake.Tokens(), secret, password, kubeToken)
}

func TestDoctor(t *testing.T) {
	res, out, secrets := doctorOnECR(t, false)
	t.Log(out)
	want := []DoctorLine{
		{Check: "cluster credentials", OK: true, Detail: "the given kubeconfig"},
		{Check: "cluster", OK: false},
		{Check: "registry credentials", OK: true, Detail: "the keys of deployments/datahub/secrets/ecr.yaml (ECR)"},
		{Check: "registry", OK: true, Detail: doctorECR + ": can read; 1 of 2 image tags present (missing " + doctorECR + "/datahub/other-image:v1)"},
	}
	if res.OK || len(res.Lines) != len(want) {
		t.Fatalf("got %+v", res)
	}
	for i, w := range want {
		got := res.Lines[i]
		if got.Check != w.Check || got.OK != w.OK || (w.Detail != "" && got.Detail != w.Detail) {
			t.Errorf("line %d: got %+v\nwant %+v", i, got, w)
		}
	}
	if !strings.Contains(res.Lines[1].Error, "connection refused") {
		t.Errorf("the cluster's error: %s", res.Lines[1].Error)
	}
	noSecret(t, out, secrets)
}

// An identity ECR refuses: the registry line names the block, without the key.
func TestDoctorRegistryDenied(t *testing.T) {
	res, out, secrets := doctorOnECR(t, true)
	got := res.Lines[len(res.Lines)-1]
	want := `deployments/datahub/hubploy.yaml: key "images.registry.aws": permission denied with the keys of deployments/datahub/secrets/ecr.yaml (User: arn:aws:iam::111122223333:user/ci is not authorized to perform: ecr:GetAuthorizationToken`
	if got.Check != "registry" || got.OK || got.Detail != doctorECR || !strings.HasPrefix(got.Error, want) || strings.Contains(got.Error, "\n") {
		t.Fatalf("got %+v\nwant %s", got, want)
	}
	noSecret(t, out, secrets)
}

func noSecret(t *testing.T, out string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("the output holds a secret (%.6s…):\n%s", s, out)
		}
	}
}
