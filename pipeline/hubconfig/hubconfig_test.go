package hubconfig

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// The forms below are the shapes real repos used (hubploy-template, datahub 2024-05 and
// 2024-10, the v1.2 fork with a kubeconfig context).
func TestParseKnownForms(t *testing.T) {
	for _, tc := range []struct {
		name   string
		doc    string
		images []Image
		check  func(t *testing.T, c *Config)
	}{
		{
			name: "0.3 template, single image_name",
			doc: `
images:
  image_name: gcr.io/my-project/myhub-user-image
  registry:
    provider: gcloud
    gcloud:
      project: my-project
      service_key: gcr-key.json
cluster:
  provider: gcloud
  gcloud:
    project: my-project
    service_key: gke-key.json
    cluster: my-cluster
    zone: us-central1-b
`,
			images: []Image{{Name: "gcr.io/my-project/myhub-user-image", Path: "image", HelmSubstitutionPath: "jupyterhub.singleuser.image"}},
		},
		{
			name: "0.3 multi image with repo2docker and aws legacy keys",
			doc: `
images:
  images:
    - name: us-central1-docker.pkg.dev/ucb-datahub-2018/user-images/data100-user-image
      path: image/
      repo2docker:
        base_image: docker.io/library/buildpack-deps:jammy
    - name: example.com/second
      path: images/second
      helm_substitution_path: jupyterhub.hub.image
  registry:
    provider: aws
    aws:
      project: "123456789"
      zone: us-west-2
      service_key: aws-ecr-config.cfg
cluster:
  provider: aws
  aws:
    account_id: "123456789"
    region: us-west-2
    cluster: eks1
    role_arn: arn:aws:iam::123456789:role/deployer
`,
			images: []Image{
				{Name: "us-central1-docker.pkg.dev/ucb-datahub-2018/user-images/data100-user-image", Path: "image/", HelmSubstitutionPath: "jupyterhub.singleuser.image", Repo2Docker: &Repo2Docker{BaseImage: "docker.io/library/buildpack-deps:jammy"}},
				{Name: "example.com/second", Path: "images/second", HelmSubstitutionPath: "jupyterhub.hub.image"},
			},
			check: func(t *testing.T, c *Config) {
				if a := c.Images.Registry.AWS; a.AccountID != "123456789" || a.Region != "us-west-2" || a.Project != "" {
					t.Errorf("legacy aws keys not renamed: %+v", a)
				}
			},
		},
		{
			name: "v1.2 kubeconfig with context template, no images",
			doc: `
cluster:
  provider: kubeconfig
  kubeconfig:
    filename: kubeconfig.yaml
    context: "nautilus-{namespace}"
`,
			check: func(t *testing.T, c *Config) {
				if got := c.Cluster.Kubeconfig.KubeContext("stat20-prod"); got != "nautilus-stat20-prod" {
					t.Errorf("context = %q", got)
				}
			},
		},
		{name: "empty file", doc: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("hubploy.yaml", []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.images, c.ImageList()); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"misspelled key", "images:\n  image_nme: x\n", `d/hubploy.yaml:2: key "images.image_nme": unknown key (did you mean "image_name"?)`},
		{"misspelled top key", "clustr:\n  provider: gcloud\n", `d/hubploy.yaml:1: key "clustr": unknown key (did you mean "cluster"?)`},
		{"empty image name", "images:\n  images:\n  - name: ''\n", `d/hubploy.yaml: key "images.images[0].name": is empty`},
		{"unknown provider", "cluster:\n  provider: gcloudd\n", `d/hubploy.yaml: key "cluster.provider": unknown provider "gcloudd" (did you mean "gcloud"?)`},
		{"provider without block", "cluster:\n  provider: kubeconfig\n", `d/hubploy.yaml: key "cluster.kubeconfig": provider is "kubeconfig" but there is no kubeconfig block`},
		{"aws both keys", "cluster:\n  provider: aws\n  aws: {service_key: a, role_arn: b, cluster: c}\n", `d/hubploy.yaml: key "cluster.aws": set exactly one of service_key and role_arn`},
		{"both image forms", "images:\n  image_name: a\n  images: [{name: b}]\n", `d/hubploy.yaml: key "images": both images.image_name and images.images are set`},
		{"malformed", "images: [\n", "d/hubploy.yaml:1: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("d/hubploy.yaml", []byte(tc.doc))
			if err == nil || !inputerr.Is(err) {
				t.Fatalf("want an input error, got %v", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got  %q\nwant %q", err, tc.want)
			}
		})
	}
}

func TestSplitTag(t *testing.T) {
	for ref, want := range map[string][2]string{
		"gcr.io/p/img:34f4eb103e6a":  {"gcr.io/p/img", "34f4eb103e6a"},
		"localhost:5000/img":         {"localhost:5000/img", ""},
		"localhost:5000/img:v1":      {"localhost:5000/img", "v1"},
		"img@sha256:abcd":            {"img@sha256:abcd", ""},
		"quay.io/jupyterhub/k8s-hub": {"quay.io/jupyterhub/k8s-hub", ""},
	} {
		n, tag := SplitTag(ref)
		if n != want[0] || tag != want[1] {
			t.Errorf("SplitTag(%q) = %q, %q", ref, n, tag)
		}
	}
}

func TestReleaseAndNamespace(t *testing.T) {
	c, err := Parse("h.yaml", []byte("deploy:\n  namespace: jupyter-{env}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r, ns := c.ReleaseAndNamespace("datahub", "prod"); r != "datahub-prod" || ns != "jupyter-prod" {
		t.Errorf("got %s, %s", r, ns)
	}
	if r, ns := (&Config{}).ReleaseAndNamespace("a", "b"); r != "a-b" || ns != "a-b" {
		t.Errorf("defaults: %s, %s", r, ns)
	}
}
