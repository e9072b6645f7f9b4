package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/resource"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	restfake "k8s.io/client-go/rest/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestWaitingForLoadBalancer(t *testing.T) {
	svc := func(spec, status map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"kind": "Service", "spec": spec, "status": status}}
	}
	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		want bool
	}{
		{"LoadBalancer without address", svc(map[string]any{"type": "LoadBalancer"}, map[string]any{}), true},
		{"LoadBalancer with address", svc(map[string]any{"type": "LoadBalancer"},
			map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"ip": "127.1.0.1"}}}}), false},
		{"LoadBalancer with external IPs", svc(map[string]any{"type": "LoadBalancer", "externalIPs": []any{"192.0.2.1"}}, nil), false},
		{"ClusterIP", svc(map[string]any{"type": "ClusterIP"}, nil), false},
		{"not a Service", &unstructured.Unstructured{Object: map[string]any{"kind": "Deployment", "spec": map[string]any{"type": "LoadBalancer"}}}, false},
	} {
		if got := waitingForLoadBalancer(tc.obj); got != tc.want {
			t.Errorf("%s: got %v", tc.name, got)
		}
	}
}

// The error a wait ends with is one line: what was not ready, what could not be read and
// why, and why the wait ended.
func TestNotReadyError(t *testing.T) {
	found := standing{
		notReady: []string{"Deployment/proxy (InProgress: Replicas: 0/1)", "Deployment/hub (InProgress: Available: 0/1)"},
		unread:   []string{"Service/hub", "ConfigMap/hub"},
		readErr:  errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"),
	}
	timedOut, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-timedOut.Done()
	interrupted, interrupt := context.WithCancelCause(context.Background())
	interrupt(signalCause{})
	cancelled, stop := context.WithCancel(context.Background())
	stop()
	for _, tc := range []struct {
		ctx      context.Context
		want     string
		canceled bool
	}{
		{timedOut, "timed out after 5m0s waiting for 4 resource(s) to be ready: Deployment/hub (InProgress: Available: 0/1); " +
			"Deployment/proxy (InProgress: Replicas: 0/1); 2 could not be read from the cluster (ConfigMap/hub, Service/hub): " +
			"dial tcp 127.0.0.1:6443: connect: connection refused", false},
		{interrupted, "stopped (interrupt signal received) waiting for 4 resource(s) to be ready: Deployment/hub", true},
		{cancelled, "stopped waiting for 4 resource(s) to be ready: Deployment/hub", true},
	} {
		err := found.notReadyError(tc.ctx, 5*time.Minute)
		if !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("got %q, want %q", err, tc.want)
		}
		if errors.Is(err, context.Canceled) != tc.canceled {
			t.Errorf("%q: errors.Is(context.Canceled) = %v", err, !tc.canceled)
		}
	}
}

// helm answers a cancel that comes after the wait failed on its own with the cancel:
// cause gives the wait's failure back; other errors stand.
func TestWaiterCause(t *testing.T) {
	w := &statusWaiter{}
	if err := w.cause(context.Canceled); err != context.Canceled {
		t.Errorf("before any failure: %v", err)
	}
	failure := errors.New("timed out after 10s waiting for 1 resource(s) to be ready")
	w.failure = failure
	if err := w.cause(fmt.Errorf("upgrade: %w", context.Canceled)); err != failure {
		t.Errorf("a cancel after the failure: %v", err)
	}
	other := errors.New("the release record could not be written")
	if err := w.cause(other); err != other {
		t.Errorf("another error: %v", err)
	}
}

var (
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	services    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	configMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	jobs        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	kinds       = map[schema.GroupVersionResource]string{deployments: "Deployment", services: "Service", configMaps: "ConfigMap", jobs: "Job"}
)

const testNamespace = "hubs"

func object(gvr schema.GroupVersionResource, name string, spec, status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(), "kind": kinds[gvr],
		"metadata": map[string]any{"name": name, "namespace": testNamespace, "generation": int64(1)},
	}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

func deployment(name string, ready bool) *unstructured.Unstructured {
	st := map[string]any{"observedGeneration": int64(1), "replicas": int64(1), "updatedReplicas": int64(1)}
	if ready {
		st["readyReplicas"], st["availableReplicas"] = int64(1), int64(1)
		st["conditions"] = []any{map[string]any{"type": "Available", "status": "True"}}
	}
	return object(deployments, name, map[string]any{"replicas": int64(1)}, st)
}

func loadBalancer(name string, ingress ...any) *unstructured.Unstructured {
	return object(services, name, map[string]any{"type": "LoadBalancer", "clusterIP": "10.96.0.10"},
		map[string]any{"loadBalancer": map[string]any{"ingress": ingress}})
}

func job(name, condition string) *unstructured.Unstructured {
	return object(jobs, name, map[string]any{}, map[string]any{
		"conditions": []any{map[string]any{"type": condition, "status": "True", "message": "the job's own words"}},
	})
}

// fakeCluster is a fake cluster: a dynamic client over its objects, and reads of single
// objects (info.Client) from the same objects, or from read when it is set.
type fakeCluster struct {
	t       *testing.T
	objects *dynamicfake.FakeDynamicClient
	read    func(*http.Request) (*http.Response, error)
}

func newCluster(t *testing.T, objs ...runtime.Object) *fakeCluster {
	lists := map[schema.GroupVersionResource]string{}
	for gvr, kind := range kinds {
		lists[gvr] = kind + "List"
	}
	return &fakeCluster{t: t, objects: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, objs...)}
}

// target is the info helm would give the wait for the object gvr/name.
func (c *fakeCluster) target(gvr schema.GroupVersionResource, name string) *resource.Info {
	gets := restfake.CreateHTTPClient(func(req *http.Request) (*http.Response, error) {
		if c.read != nil {
			return c.read(req)
		}
		u, err := c.objects.Resource(gvr).Namespace(testNamespace).Get(req.Context(), name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return jsonResponse(u)
	})
	return &resource.Info{Name: name, Namespace: testNamespace,
		Mapping: &meta.RESTMapping{Resource: gvr, GroupVersionKind: gvr.GroupVersion().WithKind(kinds[gvr]), Scope: meta.RESTScopeNamespace},
		Client: &restfake.RESTClient{NegotiatedSerializer: resource.UnstructuredPlusDefaultContentConfig().NegotiatedSerializer,
			GroupVersion: gvr.GroupVersion(), Client: gets}}
}

func jsonResponse(u *unstructured.Unstructured) (*http.Response, error) {
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(string(data)))}, nil
}

// update writes obj as the controllers would.
func (c *fakeCluster) update(gvr schema.GroupVersionResource, obj *unstructured.Unstructured) {
	c.t.Helper()
	if _, err := c.objects.Resource(gvr).Namespace(testNamespace).UpdateStatus(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// waiting is a wait in the background, with its progress lines.
type waiting struct {
	t     *testing.T
	lines chan string
	said  []string
	done  chan error
}

// startWait waits for targets (jobs: WaitWithJobs) with the given pace, within ctx.
func (c *fakeCluster) startWait(ctx context.Context, p pace, timeout time.Duration, withJobs bool, targets ...*resource.Info) *waiting {
	wt := &waiting{t: c.t, lines: make(chan string, 100), done: make(chan error, 1)}
	w := &statusWaiter{ctx: ctx, objects: c.objects, pace: p,
		progress: func(format string, args ...any) { wt.lines <- fmt.Sprintf(format, args...) }}
	go func() {
		if withJobs {
			wt.done <- w.WaitWithJobs(targets, timeout)
		} else {
			wt.done <- w.Wait(targets, timeout)
		}
	}()
	return wt
}

// quick is a pace whose reads of single objects, besides the watch, never come in a test
// that does not ask for them.
var quick = pace{quiet: time.Hour, poll: 10 * time.Millisecond, read: time.Second}

// saw returns once the wait said a line that contains text, and fails the test if it did
// not within a few seconds or ended first.
func (wt *waiting) saw(text string) string {
	wt.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line := <-wt.lines:
			wt.said = append(wt.said, line)
			if strings.Contains(line, text) {
				return line
			}
		case err := <-wt.done:
			wt.t.Fatalf("the wait ended (%v) before saying %q: %q", err, text, wt.said)
		case <-deadline:
			wt.t.Fatalf("the wait never said %q: %q", text, wt.said)
		}
	}
}

// end is how the wait ended, with everything it said.
func (wt *waiting) end() (error, []string) {
	wt.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line := <-wt.lines:
			wt.said = append(wt.said, line)
		case err := <-wt.done:
			for len(wt.lines) > 0 {
				wt.said = append(wt.said, <-wt.lines)
			}
			return err, wt.said
		case <-deadline:
			wt.t.Fatalf("the wait did not end: %q", wt.said)
		}
	}
}

func count(lines []string, text string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, text) {
			n++
		}
	}
	return n
}

// A change is seen as the watch reports it, each status change is said once in the
// usual form, and the wait ends once everything is ready.
func TestWaitSeesChangesFromTheWatch(t *testing.T) {
	c := newCluster(t, deployment("hub", false), object(configMaps, "hub", nil, nil))
	wt := c.startWait(context.Background(), quick, time.Minute, false, c.target(deployments, "hub"), c.target(configMaps, "hub"))
	line := wt.saw("Deployment/hub")
	if want := fmt.Sprintf("%-40s InProgress: ", "Deployment/hub"); !strings.HasPrefix(line, want) || !strings.HasSuffix(line, "(0s)") {
		t.Errorf("got %q, want %q…(0s)", line, want)
	}
	c.update(deployments, deployment("hub", true))
	err, said := wt.end()
	if err != nil {
		t.Fatal(err)
	}
	if n := count(said, "Deployment/hub"); n != 2 || count(said, "Current: Deployment is available. Replicas: 1") != 1 {
		t.Errorf("%d lines of Deployment/hub, want 2: %q", n, said)
	}
	for _, a := range c.objects.Actions() {
		if a.GetVerb() == "get" {
			t.Errorf("a read besides the watch: %v", a)
		}
	}
}

// A LoadBalancer Service is ready once it has an address, which kstatus alone does not
// wait for.
func TestWaitForLoadBalancerAddress(t *testing.T) {
	c := newCluster(t, loadBalancer("proxy-public"))
	wt := c.startWait(context.Background(), quick, time.Minute, false, c.target(services, "proxy-public"))
	wt.saw("InProgress: " + LoadBalancerMessage)
	c.update(services, loadBalancer("proxy-public", map[string]any{"ip": "127.1.0.1"}))
	if err, said := wt.end(); err != nil || !strings.Contains(said[len(said)-1], "Service/proxy-public") {
		t.Fatalf("%v: %q", err, said)
	}
}

// Wait leaves Jobs out; WaitWithJobs waits for them, and a failed one ends the wait.
func TestWaitForJobs(t *testing.T) {
	c := newCluster(t, deployment("hub", true), job("migrate", "Failed"))
	targets := []*resource.Info{c.target(deployments, "hub"), c.target(jobs, "migrate")}
	if err, said := c.startWait(context.Background(), quick, time.Minute, false, targets...).end(); err != nil || count(said, "Job/") > 0 {
		t.Fatalf("Wait: %v: %q", err, said)
	}
	for _, a := range c.objects.Actions() {
		if a.GetResource() == jobs {
			t.Errorf("Wait watched a Job: %v", a)
		}
	}
	err, said := c.startWait(context.Background(), quick, time.Minute, true, targets...).end()
	if err == nil || !strings.HasPrefix(err.Error(), "Job/migrate failed: ") || count(said, "Job/migrate") != 1 {
		t.Fatalf("WaitWithJobs: %v: %q", err, said)
	}
}

// Ctrl-C stops a wait at once and says so; a timeout names what was not ready.
func TestWaitEnds(t *testing.T) {
	c := newCluster(t, deployment("hub", false))
	ctx, interrupt := context.WithCancelCause(context.Background())
	wt := c.startWait(ctx, quick, time.Hour, false, c.target(deployments, "hub"))
	wt.saw("Deployment/hub")
	interrupt(signalCause{})
	err, _ := wt.end()
	if want := "stopped (interrupt signal received) waiting for 1 resource(s) to be ready: Deployment/hub (InProgress: "; err == nil ||
		!strings.HasPrefix(err.Error(), want) || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want %q…", err, want)
	}
	err, _ = c.startWait(context.Background(), quick, 300*time.Millisecond, false, c.target(deployments, "hub"), c.target(configMaps, "gone")).end()
	if want := "timed out after 300ms waiting for 2 resource(s) to be ready: ConfigMap/gone (NotFound: not found); Deployment/hub (InProgress: "; err == nil ||
		!strings.HasPrefix(err.Error(), want) || errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want %q…", err, want)
	}
}

// A watch whose connection drops is listed again and watched anew: what changed
// meanwhile is seen, and the failed attempt is said once.
func TestWaitSurvivesADroppedWatch(t *testing.T) {
	c := newCluster(t, deployment("hub", false))
	first := watch.NewFake()
	var watches atomic.Int32
	var dropped atomic.Bool
	c.objects.PrependWatchReactor("deployments", func(k8stesting.Action) (bool, watch.Interface, error) {
		if watches.Add(1) == 1 {
			return true, first, nil
		}
		return false, nil, nil
	})
	refuse := func(k8stesting.Action) (bool, runtime.Object, error) {
		if dropped.CompareAndSwap(true, false) {
			return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		}
		return false, nil, nil
	}
	c.objects.PrependReactor("list", "deployments", refuse)
	c.objects.PrependWatchReactor("deployments", func(a k8stesting.Action) (bool, watch.Interface, error) {
		_, _, err := refuse(a)
		return err != nil, nil, err
	})
	wt := c.startWait(context.Background(), quick, time.Minute, false, c.target(deployments, "hub"))
	wt.saw("Deployment/hub")
	c.update(deployments, deployment("hub", true)) // the first watch does not see it
	dropped.Store(true)
	first.Stop()
	err, said := wt.end()
	if err != nil {
		t.Fatal(err)
	}
	if n := count(said, "could not read from the cluster: dial tcp 127.0.0.1:6443: connect: connection refused; retrying"); n != 1 ||
		!strings.Contains(said[len(said)-1], "Current") {
		t.Errorf("said the trouble %d times: %q", n, said)
	}
}

// A cluster that does not allow to watch is read instead, which is said once.
func TestWaitReadsWhatItMayNotWatch(t *testing.T) {
	c := newCluster(t, deployment("hub", true), object(configMaps, "hub", nil, nil))
	forbid := func(a k8stesting.Action) error {
		return apierrors.NewForbidden(a.GetResource().GroupResource(), "", errors.New("no watch for you"))
	}
	c.objects.PrependReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) { return true, nil, forbid(a) })
	c.objects.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) { return true, nil, forbid(a) })
	err, said := c.startWait(context.Background(), quick, time.Minute, false, c.target(deployments, "hub"), c.target(configMaps, "hub")).end()
	if err != nil {
		t.Fatal(err)
	}
	if n := count(said, "watching is not allowed ("); n != 1 || count(said, "reading what may not be watched every 10ms instead") != 1 ||
		count(said, "Current") != 2 {
		t.Errorf("said the refusal %d times: %q", n, said)
	}
}

// A cluster whose watch goes silent, as with a paused etcd, is found out by a read that
// it does not answer, which the timeout names.
func TestWaitNamesASilentCluster(t *testing.T) {
	c := newCluster(t, deployment("hub", false))
	c.read = func(req *http.Request) (*http.Response, error) {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	p := pace{quiet: 50 * time.Millisecond, poll: time.Hour, read: 100 * time.Millisecond}
	wt := c.startWait(context.Background(), p, time.Second, false, c.target(deployments, "hub"))
	wt.saw("could not read from the cluster: the cluster did not answer within 100ms; retrying")
	err, said := wt.end()
	if want := "timed out after 1s waiting for 1 resource(s) to be ready: 1 could not be read from the cluster (Deployment/hub): the cluster did not answer within 100ms"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if n := count(said, "did not answer"); n != 1 {
		t.Errorf("said the silence %d times: %q", n, said)
	}
}
