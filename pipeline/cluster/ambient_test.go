package cluster_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// A hub without a cluster block: it reaches its cluster as kubectl would.
const noClusterBlock = "# no cluster block\n"

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func ambientAccess(t *testing.T, ambient *cluster.Ambient, opts cluster.Options) (*cluster.Access, error) {
	t.Helper()
	opts.Ambient = ambient
	return cluster.ForHub(hub(t, noClusterBlock, map[string][]byte{}), "ns", &secrets.Decrypter{}, opts)
}

// The files of KUBECONFIG are merged as kubectl merges them: here the clusters and
// users come from the first, the contexts and the current one from the second, and a
// relative certificate path is relative to the file that has it.
func TestKubeconfigList(t *testing.T) {
	dir := t.TempDir()
	first := writeFile(t, filepath.Join(dir, "one", "clusters.yaml"), `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://a.example.org:6443", certificate-authority: ca.crt}
- name: b
  cluster: {server: "https://b.example.org:6443"}
users:
- name: u
  user: {token: l1st-t0ken}
`)
	writeFile(t, filepath.Join(dir, "one", "ca.crt"), "not read before a connection\n")
	second := writeFile(t, filepath.Join(dir, "two", "contexts.yaml"), `apiVersion: v1
kind: Config
current-context: on-a
contexts:
- name: on-a
  context: {cluster: a, user: u}
- name: on-b
  context: {cluster: b, user: u}
`)
	list := first + string(os.PathListSeparator) + second
	ambient := &cluster.Ambient{Getenv: env(map[string]string{"KUBECONFIG": list})}
	for _, tc := range []struct{ context, server string }{
		{"", "https://a.example.org:6443"},
		{"on-b", "https://b.example.org:6443"},
	} {
		a, err := ambientAccess(t, ambient, cluster.Options{Context: tc.context})
		if err != nil {
			t.Fatal(err)
		}
		if a.Context != tc.context || a.Server != tc.server || a.Source != "$KUBECONFIG ("+list+")" {
			t.Errorf("context %q: got %+v", tc.context, a)
		}
		rc, err := a.Getter.ToRESTConfig()
		if err != nil || rc.BearerToken != "l1st-t0ken" {
			t.Fatalf("rest config: %v %+v", err, rc)
		}
		if tc.context == "" && rc.CAFile != filepath.Join(dir, "one", "ca.crt") {
			t.Errorf("CA file %q", rc.CAFile)
		}
		if ns, _, _ := a.Getter.ToRawKubeConfigLoader().Namespace(); ns != "ns" {
			t.Errorf("namespace %q", ns)
		}
	}
}

// Without KUBECONFIG, ~/.kube/config; with it, not even when none of its files exists.
func TestHomeKubeconfig(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".kube", "config"), kubeconfig)
	a, err := ambientAccess(t, &cluster.Ambient{HomeDir: home}, cluster.Options{Context: "stat20-stat20-prod", Server: "https://tunnel:6443"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Source != "~/.kube/config" || a.Context != "stat20-stat20-prod" || a.Server != "https://tunnel:6443" {
		t.Errorf("got %+v", a)
	}
	_, err = ambientAccess(t, &cluster.Ambient{HomeDir: home, Getenv: env(map[string]string{"KUBECONFIG": filepath.Join(home, "absent.yaml")})}, cluster.Options{})
	if err == nil || !strings.Contains(err.Error(), "neither $KUBECONFIG (") {
		t.Errorf("an absent KUBECONFIG fell back to ~/.kube/config: %v", err)
	}
}

// The pod's service account, when there is no kubeconfig: the server from the
// environment, the token as a file (so that a rotated one is read again), the CA.
func TestInCluster(t *testing.T) {
	sa := t.TempDir()
	writeFile(t, filepath.Join(sa, "token"), "p0d-t0ken")
	writeFile(t, filepath.Join(sa, "ca.crt"), "not read before a connection\n")
	for _, tc := range []struct{ host, server string }{
		{"10.96.0.1", "https://10.96.0.1:443"},
		{"fd00::1", "https://[fd00::1]:443"},
	} {
		ambient := &cluster.Ambient{ServiceAccountDir: sa, HomeDir: t.TempDir(),
			Getenv: env(map[string]string{"KUBERNETES_SERVICE_HOST": tc.host, "KUBERNETES_SERVICE_PORT": "443"})}
		a, err := ambientAccess(t, ambient, cluster.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Source != "in-cluster service account" || a.Server != tc.server || a.Context != "" {
			t.Errorf("got %+v", a)
		}
		rc, err := a.Getter.ToRESTConfig()
		if err != nil {
			t.Fatal(err)
		}
		if rc.BearerTokenFile != filepath.Join(sa, "token") || rc.BearerToken != "p0d-t0ken" || rc.CAFile != filepath.Join(sa, "ca.crt") {
			t.Errorf("token file %q, token %q, CA %q", rc.BearerTokenFile, rc.BearerToken, rc.CAFile)
		}
	}
}

func TestAmbientErrors(t *testing.T) {
	home, sa := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(home, ".kube", "config"), kubeconfig)
	writeFile(t, filepath.Join(sa, "token"), "p0d-t0ken")
	noContext := writeFile(t, filepath.Join(t.TempDir(), "kc.yaml"), strings.Replace(kubeconfig, "current-context: laptop\n", "", 1))
	inPod := map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
	const none = `deployments/h/hubploy.yaml: key "cluster": is missing, and neither ~/.kube/config nor an in-cluster service account exists to reach the cluster by ` +
		`(add a cluster block, pass --kubeconfig, set KUBECONFIG, or run inside a cluster)`
	for _, tc := range []struct {
		name    string
		ambient *cluster.Ambient
		context string
		want    string
	}{
		{"nothing", &cluster.Ambient{}, "", none},
		{"empty home", &cluster.Ambient{HomeDir: t.TempDir(), ServiceAccountDir: sa}, "", none},
		{"pod without token", &cluster.Ambient{Getenv: env(inPod), ServiceAccountDir: t.TempDir()}, "", none},
		{"unknown context", &cluster.Ambient{HomeDir: home}, "prod",
			`~/.kube/config: has no context "prod" (it has: laptop, stat20-stat20-prod; fix --kube-context)`},
		{"no current context", &cluster.Ambient{Getenv: env(map[string]string{"KUBECONFIG": noContext})}, "",
			"$KUBECONFIG (" + noContext + "): sets no current context (set its current-context, or pass --kube-context)"},
		{"context in a pod", &cluster.Ambient{Getenv: env(inPod), ServiceAccountDir: sa}, "prod",
			`in-cluster service account: has no context "prod" (it has: in-cluster; fix --kube-context)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ambientAccess(t, tc.ambient, cluster.Options{Context: tc.context})
			if err == nil || !inputerr.Is(err) || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

// The credentials of every file of KUBECONFIG are masked in what client-go's errors
// quote: here the second file's server URL, which is no URL.
func TestAmbientCredentialsMasked(t *testing.T) {
	dir := t.TempDir()
	first := writeFile(t, filepath.Join(dir, "first.yaml"), kubeconfig)
	second := writeFile(t, filepath.Join(dir, "second.yaml"), `apiVersion: v1
kind: Config
current-context: broken
clusters:
- name: broken
  cluster: {server: "https://us3r:c4nary-p4ss@[::1"}
users:
- name: canary
  user: {token: c4nary-t0ken}
contexts:
- name: broken
  context: {cluster: broken, user: canary}
`)
	ambient := &cluster.Ambient{Getenv: env(map[string]string{"KUBECONFIG": first + string(os.PathListSeparator) + second})}
	_, err := ambientAccess(t, ambient, cluster.Options{Context: "broken"})
	if err == nil || !inputerr.Is(err) || !strings.Contains(err.Error(), "<masked>") || strings.Contains(err.Error(), "c4nary") {
		t.Fatalf("want a masked error, got %v", err)
	}
}
