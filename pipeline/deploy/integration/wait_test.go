package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/deploy"
)

// record is, in order, the requests a deploy sent and the progress lines it said.
type record struct {
	mu      sync.Mutex
	entries []entry
}

// entry is a progress line, or else a request.
type entry struct {
	line   string
	method string
	url    *url.URL
}

func (r *record) add(e entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
}

// take returns the entries so far and starts anew.
func (r *record) take() []entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries
	r.entries = nil
	return e
}

func (r *record) RoundTrip(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	r.add(entry{method: req.Method, url: req.URL})
	return next.RoundTrip(req)
}

// recordingGetter gives every client of a deploy a transport that records its requests.
type recordingGetter struct {
	genericclioptions.RESTClientGetter
	record *record
}

func (g recordingGetter) ToRESTConfig() (*rest.Config, error) {
	rc, err := g.RESTClientGetter.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	rc.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) { return g.record.RoundTrip(next, req) })
	})
	return rc, nil
}

// ToDiscoveryClient records discovery too (the server's API list and OpenAPI schemas).
func (g recordingGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	rc, err := g.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(dc), nil
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// statusLine is a line of the wait: "Kind/name  Status: message (3s)".
var statusLine = regexp.MustCompile(`^(\w+)/(\S+)\s+\w+: `)

// The wait learns of readiness from a watch of each object of the release, so it sees a
// change when the API server reports it. Besides the watches it reads at most one object,
// to check that the cluster still answers, however long the wait, where a poll reads
// every object, again and again.
func TestWaitWatchesEachObject(t *testing.T) {
	f := newFixture(t)
	var rec record
	d := f.deployer("datahub")
	d.Access.Getter = recordingGetter{d.Access.Getter, &rec}
	d.Progress = func(format string, args ...any) {
		rec.add(entry{line: fmt.Sprintf(format, args...)})
		t.Logf(format, args...)
	}
	resources := resourcesByKind(t)
	for i, set := range [][]string{nil, {"jupyterhub.singleuser.memory.guarantee=768M"}} {
		// The upgrade changes the hub's config, which rolls its Deployment.
		mustRun(t, d, f.prepare("datahub", "staging", set...), deploy.Deployed, i+1)
		entries := rec.take()
		// Each object the wait reported on, and its resource: "deployments/hub".
		objects := map[string]string{}
		first, last := -1, -1
		for j, e := range entries {
			m := statusLine.FindStringSubmatch(e.line)
			if m == nil {
				continue
			}
			if first < 0 {
				first = j
			}
			last = j
			objects[resources[m[1]]+"/"+m[2]] = m[1] + "/" + m[2]
		}
		if len(objects) < 5 || !strings.Contains(entries[last].line, "Current") {
			t.Fatalf("revision %d: the wait said too little: %v", i+1, objects)
		}
		watched := map[string]bool{}
		read := map[string]bool{}
		for j, e := range entries {
			if e.line != "" || !strings.Contains(e.url.Path, "/namespaces/"+f.namespace+"/") {
				continue
			}
			q := e.url.Query()
			if name, ok := strings.CutPrefix(q.Get("fieldSelector"), "metadata.name="); ok {
				watched[e.url.Path[strings.LastIndex(e.url.Path, "/")+1:]+"/"+name] = true
			} else if obj := lastTwo(e.url.Path); e.method == http.MethodGet && q.Get("watch") == "" && objects[obj] != "" && j > first && j < last {
				read[obj] = true
			}
		}
		for obj, key := range objects {
			if !watched[obj] {
				t.Errorf("revision %d: %s was not watched by name", i+1, key)
			}
		}
		if len(read) > 1 {
			t.Errorf("revision %d: the wait read %d objects besides its watches: %v", i+1, len(read), read)
		}
	}
}

// resourcesByKind maps each kind the cluster serves to its resource: "Deployment":
// "deployments".
func resourcesByKind(t *testing.T) map[string]string {
	t.Helper()
	lists, err := kube.Client().Discovery().ServerPreferredResources()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			if !strings.Contains(r.Name, "/") { // not a subresource
				m[r.Kind] = r.Name
			}
		}
	}
	return m
}

// lastTwo is "resource/name" of a request path that names one object.
func lastTwo(path string) string {
	parts := strings.Split(path, "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

// A deployer whose rights end at its namespace deploys: the wait watches each object by
// name, in that namespace. One that may not list or watch Deployments deploys too: the
// wait reads them instead, and says so once.
func TestNamespacedDeployer(t *testing.T) {
	for _, tc := range []struct {
		name        string
		deployments []string // what the deployer may do to Deployments
		refusals    int
	}{
		{"may watch", []string{"*"}, 0},
		{"may not watch Deployments", []string{"get", "create", "update", "patch", "delete"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			access, err := cluster.ForHub(f.hub("datahub"), f.namespace, f.dec,
				cluster.Options{Kubeconfig: namespacedDeployer(t, f.namespace, tc.deployments), Context: kubeContext})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var said []string
			d := f.deployer("datahub")
			d.Access = access
			d.Progress = func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				said = append(said, fmt.Sprintf(format, args...))
				t.Logf(format, args...)
			}
			mustRun(t, d, f.prepare("datahub", "staging"), deploy.Deployed, 1)
			refusals := 0
			for _, line := range said {
				if strings.HasPrefix(line, "watching is not allowed (") {
					refusals++
				}
			}
			if refusals != tc.refusals {
				t.Errorf("said the refusal to watch %d times, want %d", refusals, tc.refusals)
			}
		})
	}
}

// namespacedDeployer is a kubeconfig for a service account that may do anything in ns
// but, to Deployments, only what deployments lists, and outside ns only read ns itself
// (hubploy makes sure the namespace exists).
func namespacedDeployer(t *testing.T, ns string, deployments []string) []byte {
	t.Helper()
	ctx := t.Context()
	admin := kube.Client()
	const account = "deployer"
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: account}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: account, Namespace: ns}}
	all := []string{"*"}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: account}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: all, Verbs: all},
		{APIGroups: []string{"networking.k8s.io", "coordination.k8s.io"}, Resources: all, Verbs: all},
		{APIGroups: []string{"apps"}, Resources: []string{"daemonsets"}, Verbs: all},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: deployments},
	}}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: account}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: account}, Subjects: subjects, RoleRef: ref}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The namespace itself is cluster-wide: a ClusterRole limited to its name.
	clusterRole := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + account}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{ns}, Verbs: []string{"get"}},
	}}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, clusterRole, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	clusterRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: clusterRole.Name}, Subjects: subjects, RoleRef: clusterRef}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if err := admin.RbacV1().ClusterRoleBindings().Delete(ctx, clusterRole.Name, metav1.DeleteOptions{}); err != nil {
			t.Error(err)
		}
		if err := admin.RbacV1().ClusterRoles().Delete(ctx, clusterRole.Name, metav1.DeleteOptions{}); err != nil {
			t.Error(err)
		}
	})
	token, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, account,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(kube.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	for name := range cfg.AuthInfos {
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token.Status.Token}
	}
	kc, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}
