package daggere2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/gittest"
)

// plan from git and verify-branches through the module, with the repository's .git
// handed over as --git-dir: a change to one hub on staging, then a commit made on prod.
func TestGitFunctionsThroughTheModule(t *testing.T) {
	setup(t)
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	r := gittest.Init(t, dir)
	r.Commit("hubs", nil)
	r.Branch("staging")
	staging := "deployments/stat20/config/staging.yaml"
	data, err := os.ReadFile(filepath.Join(dir, staging))
	if err != nil {
		t.Fatal(err)
	}
	r.Commit("stat20's staging config", map[string]string{staging: string(data) + "# changed\n"})
	r.Branch("prod")
	// The repository as the default path gives it: without its .git.
	bare := t.TempDir()
	if err := os.CopyFS(bare, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(bare, ".git"))
	flags := []string{"--repo=" + bare, "--git-dir=" + filepath.Join(dir, ".git"), "--age-key=file:" + example.AgeKeyFile(), "--chart-mirror=" + example.Z2JHRepository + "=offline-charts"}

	plan := mustCallModule(t, append(flags, "plan", "--base=main", "--head=staging")...)
	if !strings.Contains(plan.stdout, "stat20/staging") || strings.Contains(plan.stdout, "datahub/") {
		t.Fatalf("plan from git:\n%s", plan.stdout)
	}
	ok := mustCallModule(t, append(flags, "verify-branches")...)
	if !strings.HasPrefix(ok.stdout, "ok: every commit of prod") {
		t.Fatalf("verify-branches on a fast-forwarded prod:\n%s", ok.stdout)
	}

	r.Commit("hotfix on prod", map[string]string{staging: string(data) + "# hotfix\n"})
	stray := callModule(t, ".", append(flags, "verify-branches")...)
	if stray.err == nil || !strings.Contains(stray.output(), "has 1 commit(s) that are not on staging") || !strings.Contains(stray.output(), "hotfix on prod") {
		t.Fatalf("verify-branches with a commit made on prod: %v\n%s", stray.err, tail(stray.output(), 20))
	}
}

// mustCallModule is callModule on this module that fails the test on an error.
func mustCallModule(t *testing.T, args ...string) result {
	t.Helper()
	r := callModule(t, ".", args...)
	if r.err != nil {
		t.Fatalf("dagger call %s: %v\n%s", describe(args), r.err, tail(r.stderr, 40))
	}
	return r
}
