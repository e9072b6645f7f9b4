package daggere2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/example"
)

// The repository shaped like Berkeley DataHub's, written for the Python hubploy (0.3's
// image blocks, v1.2's context template, a chart without a lock), validates, renders
// and deploys through `dagger call` with no edit. The module sees only the repository,
// so z2jh comes from a folder mirror the test adds to its copy; the registries are
// fictional, so the deploys skip the image check.
func TestDataHubShapedRepo(t *testing.T) {
	setup(t)
	t.Parallel()
	repoDir := t.TempDir()
	if err := os.CopyFS(repoDir, os.DirFS(example.DataHubShaped())); err != nil {
		t.Fatal(err)
	}
	if _, err := example.StandInAt(filepath.Join(repoDir, "charts-mirror"), "3.3.8"); err != nil {
		t.Fatal(err)
	}
	repo := []string{"--repo=" + repoDir, "--age-key=file:" + example.AgeKeyFile(),
		"--chart-mirror=" + example.DataHubChartRepository + "=charts-mirror"}
	run := func(args ...string) result {
		t.Helper()
		r := callModule(t, ".", append(append([]string{}, repo...), args...)...)
		if r.err != nil {
			t.Fatalf("dagger call %s: %v\n%s", describe(args), r.err, tail(r.stderr, 40))
		}
		return r
	}

	if v := run("validate"); !strings.Contains(v.stdout, "validated 6 hub environment(s): 6 ok, 0 failed") {
		t.Fatalf("validate:\n%s", v.stdout)
	}
	// The missing lock: a problem with --strict; lock hands back the file to commit.
	if strict := callModule(t, ".", append(append([]string{}, repo...), "validate", "--strict")...); strict.err == nil ||
		!strings.Contains(strict.output(), "hub/requirements.yaml: has dependencies that no requirements.lock pins") {
		t.Errorf("validate --strict: %v\n%s", strict.err, tail(strict.output(), 20))
	}
	lockFile := filepath.Join(t.TempDir(), "requirements.lock")
	run("lock", "export", "--path="+lockFile)
	if lock, err := os.ReadFile(lockFile); err != nil || !regexp.MustCompile(`(?s)dependencies:\n- name: jupyterhub\n  repository: https://jupyterhub.github.io/helm-chart/\n  version: 3.3.8\ndigest: sha256:[0-9a-f]{64}\ngenerated: `).Match(lock) {
		t.Errorf("lock: %v\n%s", err, lock)
	}
	if _, err := os.Stat(filepath.Join(repoDir, "hub", "requirements.lock")); err == nil {
		t.Error("lock wrote into the repository")
	}

	out := t.TempDir()
	run("render", "--hub=datahub", "--env=staging", "export", "--path="+out)
	if manifests, _ := readTree(t, out); !strings.Contains(manifests, "image: us-central1-docker.pkg.dev/ucb-datahub-2018/core/datahub-hub-image:") {
		t.Fatalf("render: the hub image, hubploy.yaml's second image, is not in the manifests:\n%s", manifests)
	}

	port := apiServerPort(t)
	for _, hub := range []string{"datahub", "data100", "stat20"} {
		ns := kube.NewNamespace(t)
		kc, err := kube.KubeconfigFor("https://" + apiServerName + ":" + port)
		if err != nil {
			t.Fatal(err)
		}
		// stat20's context template is nautilus-{namespace}; the others use the current context.
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		if err := os.WriteFile(kubeconfig, []byte(strings.ReplaceAll(string(kc), "kubeenv", "nautilus-"+ns)), 0o600); err != nil {
			t.Fatal(err)
		}
		r := run("deploy", "--env=staging", "--hub="+hub, "--namespace="+ns, "--skip-image-check", "--timeout=120s",
			"--kubeconfig=file:"+kubeconfig, "--api-server=tcp://localhost:"+port)
		if !regexp.MustCompile(hub + `\s+staging\s+deployed\s+1\s`).MatchString(r.stdout) {
			t.Errorf("deploy %s:\n%s", hub, r.stdout)
		}
	}
}
