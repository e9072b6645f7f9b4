// Package kubeenv runs a real Kubernetes control plane for tests, in the
// spirit of controller-runtime's envtest: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler as local processes, plus kwok,
// which plays one fake node on which pods become Ready without running. An
// in-process controller gives LoadBalancer Services an address, so that
// helm's wait returns for charts that have one.
//
// The binaries come from testenv/kube/build.sh; the folder it prints goes in
// HUBPLOY_KUBE_BIN.
package kubeenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/hubploy/hubploy/internal/freeport"
)

// EnvBin names the variable that holds the folder of the binaries.
const EnvBin = "HUBPLOY_KUBE_BIN"

// NodeName is the name of the cluster's one (fake) node.
const NodeName = "kubeenv-node"

// kwokAnnotation marks the nodes kwok plays; kwok leaves other nodes alone.
const kwokAnnotation = "kwok.x-k8s.io/node"

var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// Options configure Start. The zero value is ready to use.
type Options struct {
	// BinDir holds the binaries; empty means $HUBPLOY_KUBE_BIN.
	BinDir string
	// ExtraSANs are host names or IPs added to the API server's
	// certificate, for clients that reach it by another name than
	// 127.0.0.1 or localhost (a container, say).
	ExtraSANs []string
	// Timeout bounds the start, from launching etcd to a Ready node;
	// zero means one minute.
	Timeout time.Duration
	// TokenWebhook, if set, is asked about the bearer tokens the API server
	// does not know, as a cloud's clusters ask the cloud's identity service.
	TokenWebhook *Webhook
}

// Webhook is a token authenticator: it answers authentication.k8s.io/v1
// TokenReviews POSTed to URL, over TLS with a certificate CA signed.
type Webhook struct {
	URL string
	CA  []byte // PEM
}

// Cluster is a running control plane. Stop it when done.
type Cluster struct {
	dir        string
	url        string
	kubeconfig []byte
	config     *rest.Config
	client     kubernetes.Interface
	components []*component // in the order they started
	etcd       *component
	apiServer  *component
	stopLB     func()
	lock       *os.File // see lockDir

	stopOnce sync.Once
	stopErr  error
}

// Kubeconfig returns a kubeconfig for the cluster, with the admin
// credentials embedded, so no file is needed.
func (c *Cluster) Kubeconfig() []byte { return bytes.Clone(c.kubeconfig) }

// KubeconfigFor returns the kubeconfig with another server URL, for a client
// that reaches the API server by one of Options.ExtraSANs.
func (c *Cluster) KubeconfigFor(server string) ([]byte, error) {
	cfg, err := clientcmd.Load(c.kubeconfig)
	if err != nil {
		return nil, err
	}
	for _, cl := range cfg.Clusters {
		cl.Server = server
	}
	return clientcmd.Write(*cfg)
}

// RESTConfig returns a client configuration for the cluster, as admin.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// Client returns a clientset for the cluster, as admin.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// URL is the API server's address.
func (c *Cluster) URL() string { return c.url }

// Dir is the cluster's folder, removed by Stop. It holds each component's
// log as <component>.log.
func (c *Cluster) Dir() string { return c.dir }

// Start runs a new cluster on free loopback ports and returns once the API
// server is ready, the node is Ready and the default ServiceAccount exists.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	began := time.Now()
	bin, err := binDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	sweepStale()
	dir, err := os.MkdirTemp("", "kubeenv-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{dir: dir}
	defer func() {
		if err != nil {
			err = c.failed(err, time.Since(began))
			c = nil
		}
	}()
	if c.lock, err = lockDir(dir); err != nil {
		return c, err
	}

	authority, err := newCA()
	if err != nil {
		return c, err
	}
	pki, adminCert, adminKey, err := writePKI(dir, authority, opts.ExtraSANs)
	if err != nil {
		return c, err
	}
	ports, err := freeport.Loopback(3)
	if err != nil {
		return c, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	c.url = "https://127.0.0.1:" + strconv.Itoa(ports[2])

	if c.kubeconfig, err = kubeconfig(c.url, authority.certPEM(), adminCert, adminKey); err != nil {
		return c, err
	}
	kubeconfigFile := filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(kubeconfigFile, c.kubeconfig, 0o600); err != nil {
		return c, err
	}
	if c.config, err = clientcmd.RESTConfigFromKubeConfig(c.kubeconfig); err != nil {
		return c, err
	}
	// Tests poll and create in bursts, and the server serves them alone:
	// client-go's default 5 requests a second would only slow them down.
	c.config.QPS = -1
	if c.client, err = kubernetes.NewForConfig(c.config); err != nil {
		return c, err
	}

	// The API server waits for etcd by itself, so both start at once.
	if c.etcd, err = c.run(bin, "etcd", nil,
		"--name=kubeenv",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubeenv="+peerURL,
		// The data is thrown away at Stop; syncing it only costs time.
		"--unsafe-no-fsync",
	); err != nil {
		return c, err
	}
	apiServerArgs, err := webhookArgs(dir, opts.TokenWebhook)
	if err != nil {
		return c, err
	}
	if c.apiServer, err = c.run(bin, "kube-apiserver", nil, append(apiServerArgs,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]),
		"--tls-cert-file="+pki.servingCert,
		"--tls-private-key-file="+pki.servingKey,
		"--client-ca-file="+pki.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki.saPub,
		"--service-account-signing-key-file="+pki.saKey,
		"--service-cluster-ip-range="+serviceCIDR,
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// The reconciler would publish 127.0.0.1 as the endpoint of the
		// kubernetes Service, which validation refuses.
		"--endpoint-reconciler-type=none",
		// Tests need no fairness between clients, and without it the
		// server keeps fewer objects and goroutines.
		"--enable-priority-and-fairness=false",
	)...); err != nil {
		return c, err
	}
	if err := c.waitForAPIServer(ctx); err != nil {
		return c, err
	}

	// Every component acts as admin: the cluster is for tests, and RBAC is
	// not what they test.
	if _, err := c.run(bin, "kube-controller-manager", nil,
		"--kubeconfig="+kubeconfigFile,
		"--leader-elect=false",
		"--secure-port=0",
		// The default list; naming controllers one by one breaks when a
		// release renames one.
		"--controllers=*",
		// kwok renews the fake node's status only every ~50 s (seen here), about the
		// default grace period: the node would flap NotReady and its pods with it.
		"--node-monitor-grace-period=1h",
		"--service-account-private-key-file="+pki.saKey,
		"--root-ca-file="+pki.caCert,
	); err != nil {
		return c, err
	}
	if _, err := c.run(bin, "kube-scheduler", nil,
		"--kubeconfig="+kubeconfigFile,
		"--leader-elect=false",
		"--secure-port=0",
	); err != nil {
		return c, err
	}
	// kwok reads ~/.kwok/kwok.yaml when it exists; its own HOME keeps a
	// developer's configuration out.
	if _, err := c.run(bin, "kwok", []string{"HOME=" + filepath.Join(dir, "kwok-home")},
		"--kubeconfig="+kubeconfigFile,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+kwokAnnotation+"=fake",
		// Pod IPs, kept out of the Service range; nothing routes them.
		"--cidr=10.244.0.1/24",
	); err != nil {
		return c, err
	}

	if c.stopLB, err = runLoadBalancers(ctx, c.client); err != nil {
		return c, err
	}
	if _, err := c.client.CoreV1().Nodes().Create(ctx, fakeNode(), metav1.CreateOptions{}); err != nil {
		return c, fmt.Errorf("creating node %s: %w", NodeName, err)
	}
	if err := c.waitFor(ctx, "node "+NodeName+" to be Ready", func(ctx context.Context) (bool, error) {
		node, err := c.client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	}); err != nil {
		return c, err
	}
	if err := c.waitForServiceAccount(ctx, metav1.NamespaceDefault); err != nil {
		return c, err
	}
	return c, nil
}

// binDir finds the binaries, and says how to build them when they are not
// there: a test that needs the cluster must fail, not skip.
func binDir(dir string) (string, error) {
	const hint = "build the control-plane binaries with: export " + EnvBin + "=$(testenv/kube/build.sh)"
	if dir == "" {
		dir = os.Getenv(EnvBin)
	}
	if dir == "" {
		return "", fmt.Errorf("kubeenv: %s is not set; %s", EnvBin, hint)
	}
	var missing []string
	for _, b := range binaries {
		if info, err := os.Stat(filepath.Join(dir, b)); err != nil || info.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("kubeenv: %s missing in %s; %s", strings.Join(missing, ", "), dir, hint)
	}
	return dir, nil
}

func kubeconfig(server string, caPEM, certPEM, keyPEM []byte) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubeenv"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["kubeenv"] = &clientcmdapi.Context{Cluster: "kubeenv", AuthInfo: "admin", Namespace: metav1.NamespaceDefault}
	cfg.CurrentContext = "kubeenv"
	return clientcmd.Write(*cfg)
}

// webhookArgs are the API server's flags for a token webhook, whose kubeconfig
// they write in dir; none when w is nil.
func webhookArgs(dir string, w *Webhook) ([]string, error) {
	if w == nil {
		return nil, nil
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["webhook"] = &clientcmdapi.Cluster{Server: w.URL, CertificateAuthorityData: w.CA}
	cfg.AuthInfos["api-server"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["webhook"] = &clientcmdapi.Context{Cluster: "webhook", AuthInfo: "api-server"}
	cfg.CurrentContext = "webhook"
	file := filepath.Join(dir, "token-webhook.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, file); err != nil {
		return nil, err
	}
	return []string{"--authentication-token-webhook-config-file=" + file, "--authentication-token-webhook-version=v1"}, nil
}

func fakeNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{kwokAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     runtime.GOARCH,
				"type":                   "kwok",
			},
		},
	}
}

// run starts one component with its output in <dir>/<name>.log.
func (c *Cluster) run(bin, name string, env []string, args ...string) (*component, error) {
	p := &component{name: name, log: filepath.Join(c.dir, name+".log"), path: filepath.Join(bin, name), args: args, env: env, dir: c.dir}
	if err := p.start(); err != nil {
		return nil, err
	}
	c.components = append(c.components, p)
	return p, nil
}

// waitForAPIServer waits until the API server says it is ready.
func (c *Cluster) waitForAPIServer(ctx context.Context) error {
	return c.waitFor(ctx, "the API server's /readyz", func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil, err
	})
}

// waitFor polls cond until it holds, and fails early when ctx ends or a
// component exits, rather than waiting for a timeout to say so.
func (c *Cluster) waitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		for _, p := range c.components {
			if err := p.exited(); err != nil {
				return fmt.Errorf("%w while waiting for %s", err, what)
			}
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// waitForServiceAccount waits for the controller-manager to make the default
// ServiceAccount of ns: until then the API server refuses pods there.
func (c *Cluster) waitForServiceAccount(ctx context.Context, ns string) error {
	return c.waitFor(ctx, "ServiceAccount default in "+ns, func(ctx context.Context) (bool, error) {
		_, err := c.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// failed stops a cluster whose start failed and adds the end of each
// component's log to err, since the folder holding the logs goes with it.
func (c *Cluster) failed(err error, after time.Duration) error {
	var b strings.Builder
	for _, p := range c.components {
		fmt.Fprintf(&b, "\n----- last lines of %s.log -----\n%s", p.name, tail(p.log, 30))
	}
	if stopErr := c.Stop(); stopErr != nil {
		fmt.Fprintf(&b, "\nstopping: %v", stopErr)
	}
	return fmt.Errorf("kubeenv: cluster not up after %s: %w%s", after.Round(time.Millisecond), err, b.String())
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// Stop kills every component and removes the cluster's folder. It is safe
// to call more than once, and from several goroutines.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		if c.stopLB != nil {
			c.stopLB()
		}
		// SIGKILL rather than a graceful stop: the state is thrown away,
		// and a graceful API server shutdown takes seconds. It ends an etcd
		// paused by PauseEtcd too.
		for _, p := range c.components {
			c.stopErr = errors.Join(c.stopErr, p.kill())
		}
		c.stopErr = errors.Join(c.stopErr, os.RemoveAll(c.dir))
		if c.lock != nil {
			c.lock.Close()
		}
	})
	return c.stopErr
}

// lockDir marks dir as in use for as long as this process lives: the kernel
// drops the lock when the process ends, however it ends (a test binary that
// panics or times out never runs Stop). Its components die with it
// (Pdeathsig); sweepStale removes the folder.
func lockDir(dir string) (*os.File, error) {
	f, err := os.Create(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return f, nil
}

// sweepStale removes the folders of clusters whose process is gone.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "kubeenv-*"))
	for _, dir := range dirs {
		// No lock file: not ours, or another process is setting it up.
		f, err := os.Open(filepath.Join(dir, "lock"))
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}

// CPUSeconds is the CPU time the control plane's processes (API server, etcd,
// controllers, scheduler, the fake node) have used so far: a benchmark's difference of
// two readings is what the cluster spent on a run.
func (c *Cluster) CPUSeconds() (float64, error) {
	var total float64
	for _, p := range c.components {
		s, err := p.cpuSeconds()
		if err != nil {
			return 0, err
		}
		total += s
	}
	return total, nil
}
