// Package faults deploys the example hub with the hubploy binary while the cluster
// fails under it: the API server killed, etcd paused, the deploy lock taken, a second
// deploy at once, signals. Each test checks that hubploy fails in bounded time with one
// clear line, and that the release's history stays whole and the next deploy works.
//
// The API server and etcd faults act on the whole cluster, so those tests run alone;
// the others run in parallel after them.
package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubploy/hubploy/internal/clitest"
	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
	"github.com/hubploy/hubploy/pipeline/charts"
)

var (
	kube    *kubeenv.Cluster
	hubploy string // the built binary
)

func TestMain(m *testing.M) {
	clitest.Main(m, func(c *kubeenv.Cluster, bin string) { kube, hubploy = c, bin })
}

// The example hub and environment every test deploys.
const (
	hub     = "datahub"
	env     = "prod"
	relName = hub + "-" + env
)

// hub is one test's copy of hubs-example, deploying datahub/prod into a namespace of
// its own.
type fixture struct {
	t          *testing.T
	repo       string
	kubeconfig string
	namespace  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, repo: example.Copy(t), namespace: kube.NewNamespace(t)}
	f.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(f.kubeconfig, kube.Kubeconfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// cmd is `hubploy <command> datahub prod <args>` on the test cluster, with the
// example's key and chart mirror in the environment, as CI gives them.
func (f *fixture) cmd(command string, args ...string) *exec.Cmd {
	full := []string{command, "--repo", f.repo, hub, env, "--kubeconfig", f.kubeconfig, "--namespace", f.namespace}
	if command == "deploy" {
		full = append(full, "--skip-image-check") // the example's registry is fictional
	}
	full = append(full, args...)
	c := exec.Command(hubploy, full...)
	c.Env = append(os.Environ(), "CI=",
		"SOPS_AGE_KEY_FILE="+example.AgeKeyFile(),
		charts.MirrorsEnv+"="+example.Z2JHRepository+"="+example.MirrorFolder(),
		"XDG_CACHE_HOME="+filepath.Join(f.repo, ".cache"))
	return c
}

// outcome is how a hubploy run ended.
type outcome struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func (o outcome) String() string {
	return fmt.Sprintf("exit %d after %s\n--- stdout\n%s--- stderr\n%s", o.code, o.took.Round(100*time.Millisecond), o.stdout, o.stderr)
}

// run runs hubploy to its end.
func (f *fixture) run(command string, args ...string) outcome {
	f.t.Helper()
	return f.start(command, args...).within(2 * time.Minute)
}

// mustDeploy deploys and fails the test unless it worked.
func (f *fixture) mustDeploy(args ...string) {
	f.t.Helper()
	if o := f.run("deploy", args...); o.code != 0 {
		f.t.Fatalf("deploy %v: %s", args, o)
	}
}

// proc is a hubploy run in the background.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	began  time.Time
	stdout bytes.Buffer
	stderr syncBuffer
}

func (f *fixture) start(command string, args ...string) *proc {
	f.t.Helper()
	p := &proc{t: f.t, cmd: f.cmd(command, args...)}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.began = time.Now()
	if err := p.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

// waitFor returns once hubploy has said text on stderr, and fails the test if it has
// not within a minute or ended first.
func (p *proc) waitFor(text string) {
	p.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.stderr.String(), text) {
		if time.Now().After(deadline) {
			p.t.Fatalf("hubploy never said %q:\n%s", text, p.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waiting returns once hubploy waits for the hub's Deployment to be ready.
func (p *proc) waiting() { p.t.Helper(); p.waitFor("Deployment/hub ") }

// within waits for hubploy to end. One that is still running after limit has hung: it
// is made to dump its goroutines (SIGQUIT), which the failure shows.
func (p *proc) within(limit time.Duration) outcome {
	p.t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(limit):
		p.cmd.Process.Signal(syscall.SIGQUIT)
		<-done
		p.t.Fatalf("hubploy %v still running after %s:\n%s", p.cmd.Args[1:], limit, p.stderr.String())
	}
	o := outcome{stdout: p.stdout.String(), stderr: p.stderr.String(), took: time.Since(p.began)}
	if ee, ok := err.(*exec.ExitError); ok {
		o.code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatal(err)
	}
	return o
}

// syncBuffer is a bytes.Buffer a child process writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// history is the release's revisions as `hubploy history` gives them: "1:superseded
// 2:failed …", oldest first.
func (f *fixture) history() string {
	f.t.Helper()
	o := f.run("history", "--output", "json")
	var revs []struct {
		Revision int
		Status   string
	}
	if err := json.Unmarshal([]byte(o.stdout), &revs); o.code != 0 || err != nil {
		f.t.Fatalf("history: %v\n%s", err, o)
	}
	var parts []string
	for _, r := range revs {
		parts = append(parts, fmt.Sprintf("%d:%s", r.Revision, r.Status))
	}
	return strings.Join(parts, " ")
}

// failedClearly checks that a run failed with exit 1 and one error line, no stack
// trace (nor a log line of a library), that says want; it returns that line.
func failedClearly(t *testing.T, o outcome, want string) string {
	t.Helper()
	return endedClearly(t, o, 1, want)
}

// endedClearly is failedClearly with exit code.
func endedClearly(t *testing.T, o outcome, code int, want string) string {
	t.Helper()
	if o.code != code {
		t.Fatalf("want exit %d: %s", code, o)
	}
	for _, trace := range []string{"panic:", "goroutine ", ".go:"} {
		if strings.Contains(o.stderr, trace) {
			t.Fatalf("a stack trace (%q): %s", trace, o)
		}
	}
	var errLines []string
	for _, line := range strings.Split(o.stderr, "\n") {
		if strings.Contains(line, "error:") {
			errLines = append(errLines, line)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], want) {
		t.Fatalf("want one error line saying %q, got %q: %s", want, errLines, o)
	}
	t.Logf("exit %d after %s: %s", o.code, o.took.Round(100*time.Millisecond), errLines[0])
	return errLines[0]
}
