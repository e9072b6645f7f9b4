package kubeenv

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Main runs a package's tests against one cluster, started before them and
// stopped after, and exits. Call it from TestMain; use receives the cluster
// before any test runs:
//
//	var cluster *kubeenv.Cluster
//
//	func TestMain(m *testing.M) {
//		kubeenv.Main(m, func(c *kubeenv.Cluster) { cluster = c })
//	}
//
// Without the binaries, every test of the package fails with a message that
// says how to build them.
func Main(m *testing.M, use func(*Cluster)) {
	MainWith(m, Options{}, use)
}

// MainWith is Main with a cluster started with opts.
func MainWith(m *testing.M, opts Options, use func(*Cluster)) {
	os.Exit(runMain(m, opts, use))
}

func runMain(m *testing.M, opts Options, use func(*Cluster)) int {
	// A test binary interrupted by Ctrl-C or killed with SIGTERM never
	// returns from m.Run; stop the cluster before it dies. (On a panic or a
	// -timeout the components die with the process and the next Start
	// removes the folder.)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var running atomic.Pointer[Cluster]
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		cancel() // aborts a Start in progress, which cleans up after itself
		if c := running.Load(); c != nil {
			fmt.Fprintf(os.Stderr, "kubeenv: %v: stopping the cluster\n", sig)
			c.Stop()
			os.Exit(1)
		}
	}()

	began := time.Now()
	c, err := Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	running.Store(c)
	defer c.Stop()
	fmt.Fprintf(os.Stderr, "kubeenv: cluster ready at %s in %s\n", c.URL(), time.Since(began).Round(time.Millisecond))
	use(c)
	return m.Run()
}

// NewNamespace creates a namespace for one test, named after it, and deletes
// it when the test ends. It returns once the namespace's default
// ServiceAccount exists, since the API server refuses pods before that.
func (c *Cluster) NewNamespace(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ns, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: namespacePrefix(t.Name())},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubeenv: creating a namespace: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is done by now. The namespace controller deletes the
		// contents in the background; nothing waits for it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("kubeenv: deleting namespace %s: %v", ns.Name, err)
		}
	})
	if err := c.waitForServiceAccount(ctx, ns.Name); err != nil {
		t.Fatalf("kubeenv: %v", err)
	}
	return ns.Name
}

var notLabel = regexp.MustCompile(`[^a-z0-9]+`)

// namespacePrefix turns a test name into the start of a namespace name: a
// DNS label, with room for the 5 characters the API server appends.
func namespacePrefix(test string) string {
	p := strings.Trim(notLabel.ReplaceAllString(strings.ToLower(test), "-"), "-")
	if len(p) > 50 {
		p = strings.TrimRight(p[:50], "-")
	}
	if p == "" {
		p = "test"
	}
	return p + "-"
}
