// Package canary runs every hubploy command that can show a secret, through the built
// binary and against the test control plane (internal/testenv/kubeenv), on a repository
// whose every secret is a canary, and fails if a canary, in any form, comes out: on
// stdout, on stderr, in JSON, or in any file the run wrote.
package canary

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubploy/hubploy/internal/clitest"
	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/hubtest"
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

// run is one test's runs of hubploy on the canary repository, each with HOME, TMPDIR
// and the cache and config folders in folders of the test, which are scanned for
// canaries once the test is done, as are the files the runs left in the repository.
type run struct {
	t       *testing.T
	r       *repo
	home    string
	checked int // runs whose output was scanned
	before  map[string]time.Time
	env     []string // more environment for the next runs
}

func newRun(t *testing.T, r *repo) *run {
	x := &run{t: t, r: r, home: t.TempDir(), before: map[string]time.Time{}}
	for _, d := range []string{"tmp", "cache", "config", "docker"} {
		if err := os.Mkdir(filepath.Join(x.home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	filepath.WalkDir(r.root, func(p string, d fs.DirEntry, err error) error {
		if info, ierr := d.Info(); err == nil && ierr == nil && !d.IsDir() {
			x.before[p] = info.ModTime()
		}
		return nil
	})
	return x
}

// hubploy runs hubploy with args on the repository, checks its exit code is one of
// codes, that its output holds each of want, and that no canary is in its output.
func (x *run) hubploy(codes []int, want []string, args ...string) (stdout, stderr string) {
	x.t.Helper()
	c := exec.Command(hubploy, append([]string{"--repo", x.r.root}, args...)...)
	c.Env = append(os.Environ(), "CI=",
		"HOME="+x.home, "TMPDIR="+filepath.Join(x.home, "tmp"),
		"XDG_CACHE_HOME="+filepath.Join(x.home, "cache"), "XDG_CONFIG_HOME="+filepath.Join(x.home, "config"),
		"DOCKER_CONFIG="+filepath.Join(x.home, "docker"),
		"SOPS_AGE_KEY_FILE="+example.AgeKeyFile(),
		charts.MirrorsEnv+"="+example.Z2JHRepository+"="+example.MirrorFolder())
	c.Env = append(c.Env, x.env...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		x.t.Fatal(err)
	}
	x.checked++
	line := "hubploy " + strings.Join(args, " ")
	for _, leak := range x.r.c.leaks(out.String() + "\n" + errb.String()) {
		x.t.Errorf("%s: %s", line, leak)
	}
	if !contains(codes, code) {
		x.t.Errorf("%s: exit %d, want one of %v\nstdout: %s\nstderr: %s", line, code, codes, out.String(), errb.String())
	}
	for _, w := range want {
		if !strings.Contains(out.String()+errb.String(), w) {
			x.t.Errorf("%s: output lacks %q\nstdout: %s\nstderr: %s", line, w, out.String(), errb.String())
		}
	}
	return out.String(), errb.String()
}

func contains(codes []int, code int) bool {
	for _, c := range codes {
		if c == code {
			return true
		}
	}
	return false
}

// files scans every file the runs wrote: under the test's HOME (and so TMPDIR and the
// cache and config folders), and in the repository those that are new or changed
// since the test wrote it; it returns how many it scanned.
func (x *run) files() int {
	x.t.Helper()
	n := 0
	scan := func(p string) {
		data, err := os.ReadFile(p)
		if err != nil {
			x.t.Errorf("reading %s: %v", p, err)
			return
		}
		n++
		for _, leak := range x.r.c.leaks(string(data)) {
			x.t.Errorf("file %s: %s", p, leak)
		}
	}
	filepath.WalkDir(x.home, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			scan(p)
		}
		return nil
	})
	filepath.WalkDir(x.r.root, func(p string, d fs.DirEntry, err error) error {
		if info, ierr := d.Info(); err == nil && ierr == nil && d.Type().IsRegular() {
			if before, ok := x.before[p]; !ok || !before.Equal(info.ModTime()) {
				scan(p)
			}
		}
		return nil
	})
	return n
}

var (
	ok      = []int{0}
	failure = []int{1}
	badIn   = []int{2}
)

// Every command that reads secrets or a release that holds them, through every path
// that shows what it read: manifests (text, JSON, dry-runs), diffs (a secret removed,
// renamed, changed since the live revision), errors (fail, required, a schema pattern,
// the API server's refusal, an unreachable cluster whose URL has credentials), helm's
// own log (lint's "[INFO] Fail", the debug log), history, status and the commands
// --print-commands gives.
func TestNoCanaryComesOut(t *testing.T) {
	began := time.Now()
	c := newCanaries()
	r := newRepo(t, c)
	x := newRun(t, r)
	ns := kube.NewNamespace(t)
	cluster := []string{"--kubeconfig", r.kubeconfig, "--namespace", ns}
	on := func(args ...string) []string { return append(args, cluster...) }

	// Offline: validate, render, the commands a deploy would run.
	x.hubploy(failure, []string{"is not sops-encrypted"}, "validate")
	x.hubploy(failure, []string{"deployments/stat20/secrets/prod.yaml"}, "validate", "--allow-unencrypted-secrets", "-o", "json")
	x.hubploy(failure, []string{"canary says <masked>"}, "validate", "datahub", "--env", "staging", "--set", "canaryFail.fail=true")
	x.hubploy(failure, []string{"need <masked>"}, "validate", "datahub", "--env", "staging", "--set", "canaryFail.required=true")
	x.hubploy(ok, []string{"name: canary"}, "render", "datahub", "staging")
	x.hubploy(ok, []string{`"name": "canary"`}, "-v", "render", "datahub", "prod", "-o", "json")
	x.hubploy(badIn, []string{"canary says <masked>"}, "render", "datahub", "staging", "--set", "canaryFail.fail=true")
	x.hubploy(badIn, []string{"need <masked>"}, "render", "datahub", "staging", "--set", "canaryFail.required=true", "-o", "json")
	x.hubploy(badIn, []string{"does not match pattern"}, "render", "datahub", "staging", "-f", filepath.Join(r.root, "deployments/datahub/secrets/schema.yaml"))
	x.hubploy(ok, []string{"name: canary"}, "render", "stat20", "staging", "--allow-unencrypted-secrets")
	x.hubploy(ok, []string{"sops --decrypt"}, "deploy", "datahub", "staging", "--print-commands")
	x.hubploy(ok, []string{"datahub"}, "images", "list", "datahub", "-o", "json")
	x.hubploy(failure, []string{"cannot reach the cluster at https://127.0.0.1:1 "}, "diff", "datahub", "staging")

	// The cluster: dry-runs, a deploy, diffs against it as the secrets change.
	x.hubploy(ok, []string{"dry-run"}, on("deploy", "datahub", "staging", "--skip-image-check", "--dry-run", "-o", "json")...)
	x.hubploy(ok, []string{"deployed"}, on("-D", "deploy", "datahub", "staging", "--skip-image-check", "--timeout", "120")...)
	x.hubploy(ok, []string{"kind: ConfigMap"}, on("deploy", "datahub", "staging", "--skip-image-check", "--dry-run", "--set", "jupyterhub.cull.timeout=7200")...)
	x.hubploy(ok, []string{"0 object(s) would change"}, on("diff", "datahub", "staging")...)

	delete(r.staging.canary, "removed")
	r.encrypt(t, stagingSecrets, r.staging.yaml())
	x.hubploy(ok, []string{"-  removed: <masked>"}, on("-D", "diff", "datahub", "staging")...)
	r.staging.canary["renamedNow"] = r.staging.canary["renamed"]
	delete(r.staging.canary, "renamed")
	r.encrypt(t, stagingSecrets, r.staging.yaml())
	x.hubploy(ok, []string{`-  renamed: \u003cmasked\u003e`}, on("diff", "datahub", "staging", "-o", "json")...)
	r.staging.canary["a"] = c.add("datahub staging a, changed")
	r.encrypt(t, stagingSecrets, r.staging.yaml())
	x.hubploy(ok, []string{"-  b64: <masked>", "+  b64: <masked, changed>"}, on("diff", "datahub", "staging")...)

	// Deploys that fail: the API server refuses a label made of a secret; a template fails.
	x.hubploy(failure, []string{"Invalid value: <masked>"}, on("deploy", "datahub", "staging", "--skip-image-check", "--set", "canaryFail.api=true", "--timeout", "60")...)
	x.hubploy(badIn, []string{"canary says <masked>"}, on("deploy", "datahub", "staging", "--skip-image-check", "--set", "canaryFail.fail=true", "-o", "json")...)
	x.hubploy(ok, []string{"failed"}, on("history", "datahub", "staging")...)
	x.hubploy(ok, []string{`"revision"`}, on("history", "datahub", "staging", "-o", "json")...)
	x.hubploy(ok, []string{"ConfigMap/canary"}, on("status", "datahub", "staging")...)
	x.hubploy(ok, []string{`"resources"`}, on("status", "datahub", "staging", "-o", "json")...)
	x.hubploy(failure, []string{`Invalid value: "<masked>"`}, on("rollback", "datahub", "staging", "2")...)
	x.hubploy(ok, []string{"now at revision"}, on("rollback", "datahub", "staging", "1")...)
	x.hubploy(ok, []string{"deployed"}, on("deploy", "datahub", "staging", "--skip-image-check", "--timeout", "120", "-o", "json")...)

	// The health check, against a real JupyterHub whose service token is a canary: alone,
	// after a deploy, failing with a wrong token (a canary too), and failing after an
	// upgrade, which rolls back.
	token := r.staging.zeroToJupyterHub["checkToken"]
	hub := hubtest.Start(t, hubtest.Options{Token: token})
	x.hubploy(ok, []string{"server  ok"}, "check", "datahub", "staging", "--url", hub.URL())
	x.hubploy(ok, []string{`"token_from"`}, "check", "datahub", "staging", "--url", hub.URL(), "-o", "json")
	hubployYAML := r.read(t, "deployments/datahub/hubploy.yaml")
	r.write(t, "deployments/datahub/hubploy.yaml", hubployYAML+"deploy:\n  check:\n    url: "+hub.URL()+"\n")
	x.hubploy(ok, []string{"check: delete ok"}, on("deploy", "datahub", "staging", "--skip-image-check", "--check", "--force")...)
	x.env = []string{"HUBPLOY_CHECK_TOKEN=" + c.addHex("wrong check token")}
	x.hubploy(failure, []string{"hubcheck: api (attempt 1)"}, "check", "datahub", "staging", "-o", "json")
	x.env = []string{"HUBPLOY_CHECK_TOKEN=" + c.add("check token no header can carry")}
	x.hubploy(badIn, []string{"a character an HTTP header cannot carry"}, "check", "datahub", "staging")
	x.env = nil
	broken := hubtest.Start(t, hubtest.SpawnFails(token))
	r.write(t, "deployments/datahub/hubploy.yaml", hubployYAML+"deploy:\n  check:\n    url: "+broken.URL()+"\n")
	x.hubploy(failure, []string{"rolled back to revision"}, on("deploy", "datahub", "staging", "--skip-image-check", "--check", "--rollback-on-failure",
		"--check-attempts", "1", "--set", "jupyterhub.cull.timeout=7200", "-o", "json")...)
	r.write(t, "deployments/datahub/hubploy.yaml", hubployYAML)

	// A kubeconfig whose server URL carries credentials, on an address that refuses.
	down := []string{"--kubeconfig", r.down, "--namespace", ns}
	x.hubploy(failure, []string{"connecting to https://127.0.0.1:1", "cannot reach the cluster at https://127.0.0.1:1 "}, append([]string{"deploy", "datahub", "staging", "--skip-image-check"}, down...)...)
	x.hubploy(failure, []string{"cannot reach the cluster at https://127.0.0.1:1 "}, append([]string{"status", "datahub", "staging"}, down...)...)

	files := x.files()
	t.Logf("%d canaries × %d commands checked (%d canary-command pairs), and %d files the runs wrote, in %s",
		len(c.values), x.checked, len(c.values)*x.checked, files, time.Since(began).Round(time.Second))
}
