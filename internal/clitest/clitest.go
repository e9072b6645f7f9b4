// Package clitest runs the hubploy binary, as users and CI do, against a copy of
// hubs-example and the real test control plane (internal/testenv/kubeenv): the harness
// of the test packages that exercise the built CLI.
package clitest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
	"github.com/hubploy/hubploy/pipeline/charts"
)

// Main runs a package's tests with one cluster and one hubploy binary built for them,
// in the cluster's folder (removed with it); use receives both before any test runs.
// Call it from TestMain.
func Main(m *testing.M, use func(kube *kubeenv.Cluster, bin string)) {
	kubeenv.Main(m, func(c *kubeenv.Cluster) {
		bin, err := Build(c.Dir())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		use(c, bin)
	})
}

// Build builds the hubploy binary into dir and returns its path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "hubploy")
	build := exec.Command("go", "build", "-o", bin, "github.com/hubploy/hubploy/cmd/hubploy")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building hubploy: %w", err)
	}
	return bin, nil
}

// Env is one test's copy of hubs-example, with a kubeconfig file for the cluster.
type Env struct {
	T          *testing.T
	Bin        string
	Kube       *kubeenv.Cluster
	Repo       string
	Kubeconfig string
	// Vars are added to the environment of every run, after the defaults.
	Vars []string
}

// New copies hubs-example and writes the cluster's kubeconfig for a test.
func New(t *testing.T, kube *kubeenv.Cluster, bin string) *Env {
	t.Helper()
	e := &Env{T: t, Bin: bin, Kube: kube, Repo: example.Copy(t)}
	e.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, kube.Kubeconfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// Namespace gives a namespace named after the test that the test owns and removes.
func (e *Env) Namespace(name string) string {
	ns := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(e.T.Name())) + "-" + name
	e.T.Cleanup(func() {
		// Left behind only if the cluster is gone too, with the test binary.
		e.Kube.Client().CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	return ns
}

// Command is hubploy with the example's key, chart mirror and a chart cache given as
// CI gives them, in the environment, and --repo for the commands that read a
// repository (the first argument that is no flag names the command).
func (e *Env) Command(args ...string) *exec.Cmd {
	full, command := args, ""
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			command = a
			break
		}
	}
	if command != "" && !slices.Contains([]string{"version", "__complete", "decrypt"}, command) {
		full = append([]string{"--repo", e.Repo}, args...)
	}
	c := exec.Command(e.Bin, full...)
	c.Env = append(append(os.Environ(), "CI=",
		"SOPS_AGE_KEY_FILE="+example.AgeKeyFile(),
		charts.MirrorsEnv+"="+example.Z2JHRepository+"="+example.MirrorFolder(),
		"XDG_CACHE_HOME="+filepath.Join(e.Repo, ".cache")), e.Vars...)
	return c
}

// Run runs hubploy and returns its exit code and output.
func (e *Env) Run(args ...string) (code int, stdout, stderr string) {
	e.T.Helper()
	c := e.Command(args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.T.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// MustRun runs hubploy, fails the test unless it exits 0, and returns its stdout.
func (e *Env) MustRun(args ...string) string {
	e.T.Helper()
	code, out, errOut := e.Run(args...)
	if code != 0 {
		e.T.Fatalf("hubploy %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// Buffer is a bytes.Buffer a child process writes to while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StartUntil starts hubploy and returns once its stderr holds marker.
func (e *Env) StartUntil(marker string, args ...string) (*exec.Cmd, *Buffer) {
	e.T.Helper()
	c := e.Command(args...)
	errb := &Buffer{}
	c.Stderr = errb
	if err := c.Start(); err != nil {
		e.T.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(errb.String(), marker) {
		if time.Now().After(deadline) {
			c.Process.Kill()
			c.Wait()
			e.T.Fatalf("hubploy never printed %q:\n%s", marker, errb.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c, errb
}

// AssertNoStackTrace fails the test if out looks like a Go panic or stack trace.
func AssertNoStackTrace(t *testing.T, out string) {
	t.Helper()
	for _, s := range []string{"goroutine ", "panic:", ".go:"} {
		if strings.Contains(out, s) {
			t.Errorf("output has %q (a stack trace?):\n%s", s, out)
		}
	}
}
