package cluster_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

const kubeconfig = `apiVersion: v1
kind: Config
current-context: laptop
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:6443"}
- name: b
  cluster: {server: "https://127.0.0.2:6443"}
users:
- name: u
  user: {token: s3cr3t-token}
contexts:
- name: laptop
  context: {cluster: a, user: u}
- name: stat20-stat20-prod
  context: {cluster: b, user: u}
`

func hub(t *testing.T, hubploy string, files map[string][]byte) *repo.Hub {
	t.Helper()
	root := t.TempDir()
	files["deployments/h/hubploy.yaml"] = []byte(hubploy)
	for name, data := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, data, 0o600)
	}
	r, _ := repo.Open(root)
	h, err := r.Hub("h")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestEncryptedKubeconfigWithContextTemplate(t *testing.T) {
	key := sopstest.NewKey(t)
	h := hub(t, "cluster:\n  provider: kubeconfig\n  kubeconfig:\n    filename: kubeconfig.yaml\n    context: 'stat20-{namespace}'\n",
		map[string][]byte{"deployments/h/secrets/kubeconfig.yaml": sopstest.MustEncrypt(t, "kubeconfig.yaml", []byte(kubeconfig), key.Recipient)})
	a, err := cluster.ForHub(h, "stat20-prod", &secrets.Decrypter{AgeIdentities: []string{key.Identity}}, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Context != "stat20-stat20-prod" || a.Server != "https://127.0.0.2:6443" || a.Source != "deployments/h/secrets/kubeconfig.yaml" {
		t.Fatalf("got %+v", a)
	}
	rc, err := a.Getter.ToRESTConfig()
	if err != nil || rc.BearerToken != "s3cr3t-token" || rc.QPS != 50 {
		t.Fatalf("rest config: %v %+v", err, rc)
	}
	ns, _, _ := a.Getter.ToRawKubeConfigLoader().Namespace()
	if ns != "stat20-prod" {
		t.Fatalf("namespace %q", ns)
	}
}

func TestOverrides(t *testing.T) {
	h := hub(t, "", map[string][]byte{})
	a, err := cluster.ForHub(h, "ns", &secrets.Decrypter{}, cluster.Options{Kubeconfig: []byte(kubeconfig), Server: "https://kube-apiserver:6443"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Server != "https://kube-apiserver:6443" || a.Context != "" {
		t.Fatalf("got %+v", a)
	}
}

// A given kubeconfig (--kubeconfig) keeps the hub's context template; only a given
// context (--kube-context) replaces it.
func TestGivenKubeconfigKeepsContextTemplate(t *testing.T) {
	h := hub(t, "cluster:\n  provider: kubeconfig\n  kubeconfig:\n    filename: absent.yaml\n    context: 'stat20-{namespace}'\n", map[string][]byte{})
	for _, tc := range []struct{ context, want, server string }{
		{"", "stat20-stat20-prod", "https://127.0.0.2:6443"},
		{"laptop", "laptop", "https://127.0.0.1:6443"},
	} {
		a, err := cluster.ForHub(h, "stat20-prod", &secrets.Decrypter{}, cluster.Options{Kubeconfig: []byte(kubeconfig), Context: tc.context})
		if err != nil {
			t.Fatal(err)
		}
		if a.Context != tc.want || a.Server != tc.server || a.Source != "the given kubeconfig" {
			t.Errorf("context %q: got %+v", tc.context, a)
		}
	}
}

func TestKubeconfigFileAndContext(t *testing.T) {
	for _, tc := range []struct {
		name, hubploy, path, context string
		ok                           bool
	}{
		{"kubeconfig with template", "cluster:\n  provider: kubeconfig\n  kubeconfig: {filename: kc.yaml, context: 'lab-{namespace}'}\n",
			"deployments/h/secrets/kc.yaml", "lab-h-prod", true},
		{"kubeconfig without template", "cluster:\n  provider: kubeconfig\n  kubeconfig: {filename: sub/kc.yaml}\n", "deployments/h/secrets/sub/kc.yaml", "", true},
		{"no cluster block", "", "", "", false},
		{"cloud provider", "cluster:\n  provider: gcloud\n  gcloud: {project: p, cluster: c, zone: z}\n", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hub(t, tc.hubploy, map[string][]byte{})
			path, ok := cluster.KubeconfigFile(h)
			if path != tc.path || ok != tc.ok {
				t.Errorf("KubeconfigFile = %q, %v; want %q, %v", path, ok, tc.path, tc.ok)
			}
			if got := cluster.Context(h, "h-prod"); got != tc.context {
				t.Errorf("Context = %q, want %q", got, tc.context)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dec := &secrets.Decrypter{}
	for _, tc := range []struct {
		name, hubploy string
		files         map[string][]byte
		opts          cluster.Options
		want          string
	}{
		{"no cluster block and no ambient cluster", "", nil, cluster.Options{Ambient: &cluster.Ambient{}}, `deployments/h/hubploy.yaml: key "cluster": is missing`},
		{"missing file", "cluster:\n  provider: kubeconfig\n  kubeconfig: {filename: kc.yaml}\n", nil, cluster.Options{},
			`deployments/h/secrets/kc.yaml: cannot read: it does not exist (key "cluster.kubeconfig.filename" in deployments/h/hubploy.yaml names it; add the kubeconfig there (sops-encrypted), fix the name, or pass --kubeconfig)`},
		{"not a kubeconfig", "", nil, cluster.Options{Kubeconfig: []byte("clusters: [")}, "the given kubeconfig: is not a valid kubeconfig"},
		{"missing context", "", nil, cluster.Options{Kubeconfig: []byte(kubeconfig), Context: "prod"},
			`the given kubeconfig: has no context "prod" (it has: laptop, stat20-stat20-prod; fix --kube-context)`},
		{"missing templated context", "cluster:\n  provider: kubeconfig\n  kubeconfig: {filename: kc.yaml, context: 'lab-{namespace}'}\n", nil,
			cluster.Options{Kubeconfig: []byte(kubeconfig)},
			`the given kubeconfig: has no context "lab-ns" (it has: laptop, stat20-stat20-prod; fix key "cluster.kubeconfig.context" in deployments/h/hubploy.yaml, or pass --kube-context)`},
		{"no current context", "", nil, cluster.Options{Kubeconfig: []byte(strings.Replace(kubeconfig, "current-context: laptop\n", "", 1))},
			"the given kubeconfig: sets no current context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := tc.files
			if files == nil {
				files = map[string][]byte{}
			}
			_, err := cluster.ForHub(hub(t, tc.hubploy, files), "ns", dec, tc.opts)
			if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatal("the error leaks the token")
			}
		})
	}
}

// Accesses share an identity when they reach the same API server as the same user,
// whatever the namespace; another server, user or API server address is another.
func TestIdentity(t *testing.T) {
	h := hub(t, "# no cluster block\n", map[string][]byte{})
	access := func(namespace string, opts cluster.Options) string {
		t.Helper()
		if opts.Kubeconfig == nil {
			opts.Kubeconfig = []byte(kubeconfig)
		}
		a, err := cluster.ForHub(h, namespace, nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		return a.Identity
	}
	same := access("ns1", cluster.Options{})
	if same == "" || access("ns2", cluster.Options{}) != same {
		t.Error("two namespaces on one server, as one user, have different identities")
	}
	for name, opts := range map[string]cluster.Options{
		"another cluster":      {Context: "stat20-stat20-prod"},
		"another server":       {Server: "https://tunnel.example.org:6443"},
		"another user's token": {Kubeconfig: []byte(strings.Replace(kubeconfig, "s3cr3t-token", "other-token", 1))},
	} {
		if access("ns1", opts) == same {
			t.Errorf("%s has the same identity", name)
		}
	}
}
