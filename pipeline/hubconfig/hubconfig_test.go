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
			images: []Image{{Name: "gcr.io/my-project/myhub-user-image", Path: "image", HelmSubstitutionPath: "jupyterhub.singleuser.image", TagStrategy: TagContent, Key: "images"}},
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
				{Name: "us-central1-docker.pkg.dev/ucb-datahub-2018/user-images/data100-user-image", Path: "image/", HelmSubstitutionPath: "jupyterhub.singleuser.image", Repo2Docker: &Repo2Docker{BaseImage: "docker.io/library/buildpack-deps:jammy"}, TagStrategy: TagContent, Key: "images.images[0]"},
				{Name: "example.com/second", Path: "images/second", HelmSubstitutionPath: "jupyterhub.hub.image", TagStrategy: TagContent, Key: "images.images[1]"},
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
		{
			name: "tag strategies: the images block's default, an image's own, a tag in the name",
			doc: `
images:
  tag_strategy: git-commit
  images:
    - name: reg.example/a
    - name: reg.example/b
      tag_strategy: content
    - name: reg.example/c:v1
`,
			images: []Image{
				{Name: "reg.example/a", Path: "image", HelmSubstitutionPath: DefaultSubstitutionPath, TagStrategy: TagGitCommit, Key: "images.images[0]"},
				{Name: "reg.example/b", Path: "image", HelmSubstitutionPath: DefaultSubstitutionPath, TagStrategy: TagContent, Key: "images.images[1]"},
				{Name: "reg.example/c:v1", Path: "image", HelmSubstitutionPath: DefaultSubstitutionPath, TagStrategy: TagGitCommit, Key: "images.images[2]"},
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
		{"aws both keys", "cluster:\n  provider: aws\n  aws: {service_key: a, role_arn: b, cluster: c}\n", `d/hubploy.yaml: key "cluster.aws": both service_key and role_arn are set (keep one, or neither for the default AWS credentials)`},
		{"aws registry both keys", "images:\n  registry:\n    provider: aws\n    aws: {service_key: a, role_arn: b}\n", `d/hubploy.yaml: key "images.registry.aws": both service_key and role_arn are set (keep one, or neither for the default AWS credentials)`},
		{"both image forms", "images:\n  image_name: a\n  images: [{name: b}]\n", `d/hubploy.yaml: key "images": both images.image_name and images.images are set`},
		{"malformed", "images: [\n", "d/hubploy.yaml:1: "},
		{"unknown tag strategy", "images:\n  images:\n  - {name: r.example/a, tag_strategy: git-comit}\n", `d/hubploy.yaml: key "images.images[0].tag_strategy": unknown tag strategy "git-comit" (did you mean "git-commit"? use content or git-commit)`},
		{"unknown default tag strategy", "images:\n  image_name: r.example/a\n  tag_strategy: hash\n", `d/hubploy.yaml: key "images.tag_strategy": unknown tag strategy "hash" (use content or git-commit)`},
		{"tag strategy with a tag in the name", "images:\n  images:\n  - {name: r.example/a:v1, tag_strategy: content}\n", `d/hubploy.yaml: key "images.images[0].tag_strategy": is set, but the image's name carries a tag, so no tag is computed (remove it, or the tag from the name)`},
		{"invalid image name", "images:\n  images:\n  - {name: r.example/Hub/Image}\n", `d/hubploy.yaml: key "images.images[0].name": invalid image name "r.example/Hub/Image": repository can only contain the characters`},
		{"invalid legacy image name", "images:\n  image_name: 'r.example/a b'\n", `d/hubploy.yaml: key "images.image_name": invalid image name "r.example/a b"`},
		{"invalid tag", "images:\n  images:\n  - {name: 'r.example/a:v1+build'}\n", `d/hubploy.yaml: key "images.images[0].name": invalid tag in "r.example/a:v1+build"`},
		{"digest", "images:\n  images:\n  - {name: 'r.example/a@sha256:abcd'}\n", `d/hubploy.yaml: key "images.images[0].name": "r.example/a@sha256:abcd" is a digest`},
		{"second document", "cluster:\n  provider: kubeconfig\n  kubeconfig: {filename: k.yaml}\n---\ndeploy: {namespace: x}\n", `d/hubploy.yaml:4: starts a second YAML document, which hubploy would ignore`},
		{"key set twice", "deploy: {namespace: x}\ncluster: {provider: aws}\ndeploy: {namespace: y}\n", `d/hubploy.yaml:3: key "deploy": is set twice, first at line 1`},
		{"image path up", "images:\n  images:\n  - {name: r.example/a, path: ../../../etc}\n", `d/hubploy.yaml: key "images.images[0].path": "../../../etc" leads outside the hub's folder`},
		{"image path absolute", "images:\n  images:\n  - {name: r.example/a, path: /etc}\n", `d/hubploy.yaml: key "images.images[0].path": "/etc" leads outside the hub's folder`},
		{"kubeconfig up", "cluster:\n  provider: kubeconfig\n  kubeconfig: {filename: ../../other/secrets/kubeconfig.yaml}\n", `d/hubploy.yaml: key "cluster.kubeconfig.filename": "../../other/secrets/kubeconfig.yaml" leads outside the hub's secrets/ folder`},
		{"kubeconfig absolute", "cluster:\n  provider: kubeconfig\n  kubeconfig: {filename: /root/.kube/config}\n", `d/hubploy.yaml: key "cluster.kubeconfig.filename": "/root/.kube/config" leads outside`},
		{"docker config up", "images:\n  image_name: r.example/a\n  registry:\n    provider: dockerconfig\n    dockerconfig: {filename: ../../../../.docker/config.json}\n", `d/hubploy.yaml: key "images.registry.dockerconfig.filename": "../../../../.docker/config.json" leads outside`},
		{"huge image name", "images:\n  images:\n  - {name: r.example/" + strings.Repeat("X", 1<<20) + "}\n", `d/hubploy.yaml: key "images.images[0].name": invalid image name "r.example/XXXX`},
		{"check url not http", "deploy:\n  check: {url: 'hub.example.org'}\n", `d/hubploy.yaml: key "deploy.check.url": "hub.example.org" is not an http(s) URL (write the hub's address`},
		{"check url with credentials", "deploy:\n  check: {url: 'https://u:pw@hub.example.org/'}\n", `d/hubploy.yaml: key "deploy.check.url": "https://u:xxxxx@hub.example.org/" carries credentials`},
		{"check user with a slash", "deploy:\n  check: {user: a/b}\n", `d/hubploy.yaml: key "deploy.check.user": "a/b" is not a name the hub accepts`},
		{"check user named like the service", "deploy:\n  check: {user: hub-health}\n", `d/hubploy.yaml: key "deploy.check.user": is the service's name, "hub-health"`},
		{"misspelled check key", "deploy:\n  check: {ulr: x}\n", `d/hubploy.yaml:2: key "deploy.check.ulr": unknown key (did you mean "url"?)`},
		{"empty test", "images:\n  images:\n  - {name: r.example/a, tests: ['true', ' ']}\n", `d/hubploy.yaml: key "images.images[0].tests[1]": is empty (write a shell command`},
		{"service key absolute", "cluster:\n  provider: gcloud\n  gcloud: {service_key: /etc/key.json}\n", `d/hubploy.yaml: key "cluster.gcloud.service_key": "/etc/key.json" leads outside`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("d/hubploy.yaml", []byte(tc.doc))
			if err == nil || !inputerr.Is(err) {
				t.Fatalf("want an input error, got %v", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got  %q\nwant %q", err, tc.want)
			}
			if len(err.Error()) > 1000 {
				t.Fatalf("an error of %d bytes is no line to read", len(err.Error()))
			}
		})
	}
}

// An aws block with neither service_key nor role_arn logs in with the default chain
// (a web identity in CI): no error.
func TestAWSDefaultCredentials(t *testing.T) {
	doc := "images:\n  image_name: r.example/a\n  registry:\n    provider: aws\n    aws: {account_id: '111122223333', region: us-west-2}\n" +
		"cluster:\n  provider: aws\n  aws: {cluster: c, region: us-west-2}\n"
	if _, err := Parse("d/hubploy.yaml", []byte(doc)); err != nil {
		t.Fatal(err)
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

func TestCheckBlock(t *testing.T) {
	c, err := Parse("h.yaml", []byte("deploy:\n  canary: true\n  check:\n    url: https://{env}.{hub}.example.org/\n    service: deployer\n    user: probe\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CheckURL("datahub", "staging"); got != "https://staging.datahub.example.org/" {
		t.Errorf("CheckURL = %q", got)
	}
	if c.CheckService() != "deployer" || c.CheckUser() != "probe" || !c.IsCanary() {
		t.Errorf("service %q, user %q, canary %v", c.CheckService(), c.CheckUser(), c.IsCanary())
	}
	var none Config
	if none.CheckURL("a", "b") != "" || none.CheckService() != DefaultCheckService || none.CheckUser() != "" || none.IsCanary() {
		t.Errorf("defaults: %q %q %q %v", none.CheckURL("a", "b"), none.CheckService(), none.CheckUser(), none.IsCanary())
	}
}
