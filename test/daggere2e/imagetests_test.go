package daggere2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/example"
)

// test through the module and the CLI, on the real engine: the hub validates, its
// image is built, and its tests run in it: hubploy.yaml's commands and tests/*.sh.
func TestImageTests(t *testing.T) {
	setup(t)
	t.Parallel()
	// A repository of its own: the tests folder changes the image's content tag.
	repoDir := t.TempDir()
	if err := os.CopyFS(repoDir, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(repoDir, "deployments", "datahub", "hubploy.yaml")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const subst = "helm_substitution_path: jupyterhub.singleuser.image"
	withTests := func(tests string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), subst, subst+"\n      tests: "+tests, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	withTests(`['test -s /etc/hubploy-e2e', 'grep -q "built by" /etc/hubploy-e2e']`)
	testsDir := filepath.Join(repoDir, "deployments", "datahub", "image", "tests")
	os.MkdirAll(testsDir, 0o755)
	os.WriteFile(filepath.Join(testsDir, "marker.sh"), []byte("test -f /etc/hubploy-e2e && echo from the tests folder\n"), 0o644)
	repo := []string{"--repo=" + repoDir, "--age-key=file:" + example.AgeKeyFile(), "--chart-mirror=" + example.Z2JHRepository + "=offline-charts"}

	r := callModule(t, ".", append(repo, "test", "--hub=datahub", "--env=staging", "--target=hub")...)
	if r.err != nil || !strings.Contains(r.stdout, "datahub: 3 test(s) passed, 0 failed") || !strings.Contains(r.stdout, "tests/marker.sh") {
		t.Fatalf("module test: %v\n%s\n%s", r.err, r.stdout, tail(r.stderr, 30))
	}

	withTests(`['test -s /etc/hubploy-e2e', 'test -e /nonexistent || { echo no such file >&2; exit 3; }']`)
	r = callModule(t, ".", append(repo, "test", "--hub=datahub", "--env=staging", "--target=hub")...)
	if r.err == nil || !strings.Contains(r.output(), "exit code 3") || !strings.Contains(r.output(), "no such file") || !strings.Contains(r.output(), "datahub: 2 test(s) passed, 1 failed") {
		t.Fatalf("module test with a failing test: %v\n%s", r.err, tail(r.output(), 30))
	}
	assertNoStackTrace(t, r)

	run := hubploy(t)
	cli := run([]string{"SOPS_AGE_KEY_FILE=" + example.AgeKeyFile()}, "--repo", repoDir, "test", "datahub", "staging", "--target", "hub",
		"--chart-mirror", example.Z2JHRepository+"="+filepath.Join(repoDir, "offline-charts"))
	if cli.err == nil || !strings.Contains(cli.stdout, "FAILED") || !strings.Contains(cli.stdout, "exit code 3") || !strings.Contains(cli.stderr, "tests/marker.sh: ok") {
		t.Fatalf("hubploy test: %v\n%s\n%s", cli.err, cli.stdout, tail(cli.stderr, 30))
	}
}
