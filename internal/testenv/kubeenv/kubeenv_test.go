package kubeenv

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

var cluster *Cluster

func TestMain(m *testing.M) {
	Main(m, func(c *Cluster) { cluster = c })
}

// chartDir is the offline stand-in for the z2jh chart.
var chartDir = filepath.Join("..", "..", "..", "hubs-example", "offline-charts", "jupyterhub")

// TestHelm drives the helm SDK in-process through install, upgrade and
// rollback of the JupyterHub chart, each waiting for the workloads, and
// checks what lives in the cluster after each step.
func TestHelm(t *testing.T) {
	t.Parallel()
	ns := cluster.NewNamespace(t)
	chart, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := new(action.Configuration)
	if err := cfg.Init(newMemoryGetter(t, cluster.Kubeconfig(), ns), ns, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	const name = "hub"
	values := map[string]any{"proxy": map[string]any{"secretToken": "0123456789abcdef0123456789abcdef"}}

	install := action.NewInstall(cfg)
	install.ReleaseName = name
	install.Namespace = ns
	install.Wait = true
	install.Timeout = 2 * time.Minute
	if _, err := install.Run(chart, values); err != nil {
		t.Fatalf("install: %v", err)
	}
	checkRunning(t, ns)
	installedChecksum := hubConfigChecksum(t, ns)
	if _, ok := hubConfigMap(t, ns)["extra-config-greeting.py"]; ok {
		t.Fatal("ConfigMap hub has extra-config-greeting.py before the upgrade")
	}

	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = ns
	upgrade.Wait = true
	upgrade.Timeout = 2 * time.Minute
	values["hub"] = map[string]any{"extraConfig": map[string]any{"greeting": "c.JupyterHub.log_level = 'DEBUG'"}}
	if _, err := upgrade.Run(name, chart, values); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	checkRunning(t, ns)
	if got := hubConfigMap(t, ns)["extra-config-greeting.py"]; !strings.Contains(got, "log_level") {
		t.Errorf("after the upgrade, ConfigMap hub has extra-config-greeting.py = %q", got)
	}
	if hubConfigChecksum(t, ns) == installedChecksum {
		t.Error("the upgrade did not roll Deployment hub")
	}

	rollback := action.NewRollback(cfg)
	rollback.Version = 1
	rollback.Wait = true
	rollback.Timeout = 2 * time.Minute
	if err := rollback.Run(name); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	checkRunning(t, ns)
	if _, ok := hubConfigMap(t, ns)["extra-config-greeting.py"]; ok {
		t.Error("ConfigMap hub still has extra-config-greeting.py after the rollback")
	}
	if got := hubConfigChecksum(t, ns); got != installedChecksum {
		t.Errorf("after the rollback, Deployment hub has config checksum %s, want %s as installed", got, installedChecksum)
	}

	history, err := action.NewHistory(cfg).Run(name)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range history {
		got = append(got, r.Info.Status.String())
	}
	want := []string{release.StatusSuperseded.String(), release.StatusSuperseded.String(), release.StatusDeployed.String()}
	if !slices.Equal(got, want) {
		t.Errorf("release statuses by revision = %v, want %v", got, want)
	}
}

// checkRunning checks that both Deployments have rolled out their current
// spec, that their pods are Ready on the fake node (so the scheduler and kwok
// did their part) and that proxy-public has an address.
func checkRunning(t *testing.T, ns string) {
	t.Helper()
	ctx := t.Context()
	client := cluster.Client()
	for _, name := range []string{"hub", "proxy"} {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.ObservedGeneration != d.Generation || d.Status.UpdatedReplicas != 1 || d.Status.ReadyReplicas != 1 {
			t.Errorf("Deployment %s not rolled out: generation %d, status %+v", name, d.Generation, d.Status)
		}
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "component=" + name})
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Spec.NodeName == NodeName && podReady(&p) {
				ready++
			}
		}
		if ready != 1 {
			t.Errorf("%d Ready pods of %s on %s, want 1", ready, name, NodeName)
		}
	}
	svc, err := client.CoreV1().Services(ns).Get(ctx, "proxy-public", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) == 0 {
		t.Error("Service proxy-public has no load-balancer address")
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hubConfigMap(t *testing.T, ns string) map[string]string {
	t.Helper()
	cm, err := cluster.Client().CoreV1().ConfigMaps(ns).Get(t.Context(), "hub", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data
}

func hubConfigChecksum(t *testing.T, ns string) string {
	t.Helper()
	d, err := cluster.Client().AppsV1().Deployments(ns).Get(t.Context(), "hub", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Annotations["checksum/config-map"]
}

// memoryGetter hands helm the kubeconfig from memory: no file, no
// environment variable, and the namespace of the test as default.
type memoryGetter struct {
	config    clientcmd.ClientConfig
	namespace string
}

func newMemoryGetter(t *testing.T, kubeconfig []byte, namespace string) memoryGetter {
	t.Helper()
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	overrides := &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: namespace}}
	return memoryGetter{config: clientcmd.NewNonInteractiveClientConfig(*cfg, "", overrides, nil), namespace: namespace}
}

func (g memoryGetter) ToRESTConfig() (*rest.Config, error) { return g.config.ClientConfig() }

func (g memoryGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return g.config }

func (g memoryGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	cfg, err := g.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(dc), nil
}

func (g memoryGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	return restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(dc), dc, nil), nil
}

// TestLoadBalancer checks that LoadBalancer Services get an address each,
// and that other Services and those of another load-balancer class do not.
func TestLoadBalancer(t *testing.T) {
	t.Parallel()
	ns := cluster.NewNamespace(t)
	client := cluster.Client().CoreV1().Services(ns)
	other := "example.com/other"
	// Created in this order, the watch delivers them in it, so by the
	// time the last has its address the controller has seen the others.
	specs := []struct {
		name  string
		typ   corev1.ServiceType
		class *string
	}{
		{"cluster-ip", corev1.ServiceTypeClusterIP, nil},
		{"other-class", corev1.ServiceTypeLoadBalancer, &other},
		{"first", corev1.ServiceTypeLoadBalancer, nil},
		{"second", corev1.ServiceTypeLoadBalancer, nil},
	}
	for _, s := range specs {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: s.name},
			Spec: corev1.ServiceSpec{
				Type:              s.typ,
				LoadBalancerClass: s.class,
				Selector:          map[string]string{"app": s.name},
				Ports:             []corev1.ServicePort{{Port: 80}},
			},
		}
		if _, err := client.Create(t.Context(), svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	addresses := map[string]netip.Addr{}
	for _, name := range []string{"first", "second"} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		err := cluster.waitFor(ctx, "an address for "+name, func(ctx context.Context) (bool, error) {
			svc, err := client.Get(ctx, name, metav1.GetOptions{})
			if err != nil || len(svc.Status.LoadBalancer.Ingress) == 0 {
				return false, err
			}
			addr, err := netip.ParseAddr(svc.Status.LoadBalancer.Ingress[0].IP)
			addresses[name] = addr
			return err == nil, err
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !addresses[name].IsLoopback() {
			t.Errorf("%s got %s, want a loopback address", name, addresses[name])
		}
	}
	if addresses["first"] == addresses["second"] {
		t.Errorf("both Services got %s", addresses["first"])
	}
	for _, name := range []string{"cluster-ip", "other-class"} {
		svc, err := client.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ing := svc.Status.LoadBalancer.Ingress; len(ing) > 0 {
			t.Errorf("Service %s got an address: %v", name, ing)
		}
	}
}

// TestStartStop runs a second cluster, reaches it by an extra host name of
// its certificate, puts it through the faults, and checks that Stop leaves no
// process and no folder, though etcd is paused.
func TestStartStop(t *testing.T) {
	c, err := Start(t.Context(), Options{ExtraSANs: []string{"kube-apiserver", "192.0.2.10"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	if c.URL() == cluster.URL() {
		t.Fatalf("second cluster at the same URL %s", c.URL())
	}

	// As a container would: by the name kube-apiserver, which this dialer
	// resolves to the server's loopback address.
	hostPort := strings.TrimPrefix(c.URL(), "https://")
	_, port, _ := net.SplitHostPort(hostPort)
	kubeconfig, err := c.KubeconfigFor("https://kube-apiserver:" + port)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return new(net.Dialer).DialContext(ctx, network, hostPort)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	version, err := dc.ServerVersion()
	if err != nil {
		t.Fatalf("reaching the API server as kube-apiserver: %v", err)
	}
	// The build stamps the version; without it the server says
	// v0.0.0-master+$Format:%H$, which helm cannot parse.
	if version.GitVersion != "v1.37.2" || version.Major != "1" || version.Minor != "37" {
		t.Errorf("server version %+v, want v1.37.2", version)
	}
	client, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 || nodes.Items[0].Name != NodeName {
		t.Errorf("second cluster has nodes %v, want only %s", nodes.Items, NodeName)
	}
	if ips := servingCertIPs(t, c); !slices.ContainsFunc(ips, func(ip net.IP) bool { return ip.Equal(net.ParseIP("192.0.2.10")) }) {
		t.Errorf("serving certificate IPs %v lack the extra SAN 192.0.2.10", ips)
	}

	checkFaults(t, c, client)

	if err := c.PauseEtcd(); err != nil {
		t.Fatal(err)
	}
	dir := c.Dir()
	var pids []int
	for _, p := range c.components {
		pids = append(pids, p.current().cmd.Process.Pid)
	}
	if len(pids) != len(binaries) {
		t.Fatalf("%d processes, want %d", len(pids), len(binaries))
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for i, pid := range pids {
		// The negative pid asks about the whole process group.
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group of %s (%d) still there after Stop: %v", c.components[i].name, pid, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after Stop: %v", dir, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// checkFaults kills and restarts c's API server, then pauses and resumes its etcd, and
// checks that the cluster is whole after each.
func checkFaults(t *testing.T, c *Cluster, client kubernetes.Interface) {
	t.Helper()
	if err := c.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Discovery().ServerVersion(); err == nil {
		t.Fatal("the API server answers after KillAPIServer")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := c.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartAPIServer(ctx); err == nil || !strings.Contains(err.Error(), "it is running") {
		t.Errorf("restarting a running API server: %v", err)
	}
	// The same data: the node made at Start is there.
	if _, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{}); err != nil {
		t.Fatalf("after the restart: %v", err)
	}

	if err := c.PauseEtcd(); err != nil {
		t.Fatal(err)
	}
	write := func(name string, within time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), within)
		defer cancel()
		_, err := client.CoreV1().ConfigMaps(metav1.NamespaceDefault).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return err
	}
	if err := write("while-paused", 2*time.Second); err == nil {
		t.Fatal("a write succeeded while etcd was paused")
	}
	if err := c.ResumeEtcd(ctx); err != nil {
		t.Fatal(err)
	}
	if err := write("after-resume", 30*time.Second); err != nil {
		t.Fatalf("a write after ResumeEtcd: %v", err)
	}
	// Neither fault made the cluster count as broken.
	if err := c.waitForServiceAccount(ctx, metav1.NamespaceDefault); err != nil {
		t.Fatal(err)
	}
}

func servingCertIPs(t *testing.T, c *Cluster) []net.IP {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Dir(), "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("apiserver.crt holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.IPAddresses
}

// TestStartWithoutBinaries checks that a missing build fails, saying how to
// make it, rather than skipping.
func TestStartWithoutBinaries(t *testing.T) {
	t.Setenv(EnvBin, "")
	_, err := Start(t.Context(), Options{})
	if err == nil || !strings.Contains(err.Error(), EnvBin+" is not set") || !strings.Contains(err.Error(), "testenv/kube/build.sh") {
		t.Errorf("Start without %s: %v", EnvBin, err)
	}
	_, err = Start(t.Context(), Options{BinDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "kube-apiserver") || !strings.Contains(err.Error(), "testenv/kube/build.sh") {
		t.Errorf("Start with an empty BinDir: %v", err)
	}
}

// TestStartFailure checks that a component that dies makes Start fail at
// once, with the end of its log, and leaves nothing behind.
func TestStartFailure(t *testing.T) {
	bin := t.TempDir()
	for _, b := range binaries {
		if err := os.Symlink(filepath.Join(os.Getenv(EnvBin), b), filepath.Join(bin, b)); err != nil {
			t.Fatal(err)
		}
	}
	apiserver := filepath.Join(bin, "kube-apiserver")
	if err := os.Remove(apiserver); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(apiserver, []byte("#!/bin/sh\necho 'no etcd for you' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Its own TMPDIR, so that clusters of other test binaries do not count.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	began := time.Now()
	c, err := Start(t.Context(), Options{BinDir: bin})
	if err == nil {
		c.Stop()
		t.Fatal("Start succeeded with a kube-apiserver that exits")
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("Start took %s to notice", took)
	}
	for _, want := range []string{"kube-apiserver exited (exit status 3)", "no etcd for you", "last lines of etcd.log"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("Start left %v in TMPDIR", left)
	}
}

func TestNamespacePrefix(t *testing.T) {
	for test, want := range map[string]string{
		"TestHelm":                "testhelm-",
		"TestA/sub_test#01":       "testa-sub-test-01-",
		"_":                       "test-",
		strings.Repeat("Ab-", 30): strings.TrimRight(strings.Repeat("ab-", 17)[:50], "-") + "-",
	} {
		if got := namespacePrefix(test); got != want {
			t.Errorf("namespacePrefix(%q) = %q, want %q", test, got, want)
		}
	}
}

// CPUSeconds counts the control plane's work: a burst of requests adds to it.
func TestCPUSeconds(t *testing.T) {
	before, err := cluster.CPUSeconds()
	if err != nil || before <= 0 {
		t.Fatalf("after start: %v, %v", before, err)
	}
	ns := cluster.NewNamespace(t)
	for i := range 200 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm%d", i)}, Data: map[string]string{"k": strings.Repeat("v", 4096)}}
		if _, err := cluster.Client().CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	after, err := cluster.CPUSeconds()
	if err != nil || after <= before {
		t.Fatalf("200 writes: %v → %v, %v", before, after, err)
	}
	t.Logf("200 ConfigMap writes cost the control plane %.2f CPU s", after-before)
}
