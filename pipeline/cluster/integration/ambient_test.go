// Package integration tests pipeline/cluster's ambient access (a hub without a cluster
// block) against a real control plane (kubeenv), through its exported API only.
package integration

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/deploy"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

var kube *kubeenv.Cluster

func TestMain(m *testing.M) {
	kubeenv.Main(m, func(c *kubeenv.Cluster) { kube = c })
}

// hubWithoutClusterBlock is a repository's one hub, whose hubploy.yaml names no cluster.
func hubWithoutClusterBlock(t *testing.T) *repo.Hub {
	t.Helper()
	root := t.TempDir()
	file := filepath.Join(root, "deployments", "h", "hubploy.yaml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("# no cluster block: the cluster kubectl would use\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Hub("h")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func clientset(t *testing.T, a *cluster.Access) kubernetes.Interface {
	t.Helper()
	rc, err := a.Getter.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// KUBECONFIG from this process's environment, as kubectl reads it, and the file as it
// was: hubploy writes no kubeconfig.
func TestKubeconfigFromEnvironment(t *testing.T) {
	ns := kube.NewNamespace(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(file, kube.Kubeconfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", file)

	a, err := cluster.ForHub(hubWithoutClusterBlock(t), ns, &secrets.Decrypter{}, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Source != "$KUBECONFIG ("+file+")" || a.Server != kube.URL() {
		t.Errorf("got %+v", a)
	}
	list, err := clientset(t, a).CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(list.Items, func(n corev1.Namespace) bool { return n.Name == ns }) {
		t.Errorf("namespace %s not listed", ns)
	}

	if data, err := os.ReadFile(file); err != nil || !bytes.Equal(data, kube.Kubeconfig()) {
		t.Errorf("the kubeconfig changed (%v)", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files beside the kubeconfig: %v", entries)
	}
}

// In a pod: the service account's token, from the TokenRequest API as the kubelet gets
// it, authenticates helm's calls and the getter's, as that account and no other.
func TestInClusterServiceAccount(t *testing.T) {
	ns := kube.NewNamespace(t)
	ctx := t.Context()
	admin := kube.Client()
	const account = "hubploy-deployer"
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: account}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// What helm's release storage reads: its records are Secrets.
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: account},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: account},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: account},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: account, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, account,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serviceAccountDir := t.TempDir()
	for name, data := range map[string][]byte{"token": []byte(token.Status.Token), "ca.crt": kube.RESTConfig().CAData} {
		if err := os.WriteFile(filepath.Join(serviceAccountDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	server, err := url.Parse(kube.URL())
	if err != nil {
		t.Fatal(err)
	}
	podEnv := map[string]string{"KUBERNETES_SERVICE_HOST": server.Hostname(), "KUBERNETES_SERVICE_PORT": server.Port()}
	ambient := &cluster.Ambient{Getenv: func(name string) string { return podEnv[name] }, HomeDir: t.TempDir(), ServiceAccountDir: serviceAccountDir}

	a, err := cluster.ForHub(hubWithoutClusterBlock(t), ns, &secrets.Decrypter{}, cluster.Options{Ambient: ambient})
	if err != nil {
		t.Fatal(err)
	}
	if a.Source != "in-cluster service account" || a.Server != kube.URL() {
		t.Errorf("got %+v", a)
	}
	review, err := clientset(t, a).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + ns + ":" + account; review.Status.UserInfo.Username != want {
		t.Errorf("authenticated as %q, want %q", review.Status.UserInfo.Username, want)
	}
	// helm, through the getter: reachability, then the history of a release never installed.
	if _, err := deploy.RevisionMasker(ctx, a, "never-installed", ns); err != nil {
		t.Fatal(err)
	}
	// The account may read Secrets in its namespace only: the role binding is what let
	// the history through.
	if _, err := clientset(t, a).CoreV1().Secrets(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("the service account lists Secrets outside its namespace")
	}
}
