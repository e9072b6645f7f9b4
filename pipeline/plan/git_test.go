package plan

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/gittest"
	"github.com/hubploy/hubploy/pipeline/gitrepo"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// A branch off main, main moving on, then main merged into the branch: what the
// branch changed is compared with the merge base, as a pull request shows it.
func TestChanges(t *testing.T) {
	r := gittest.New(t)
	r.Commit("init", map[string]string{"deployments/datahub/config/staging.yaml": "a: 1\n", "hub/values.yaml": "x: 1\n", "README.md": "hi\n", "old.txt": "x\n"})
	r.Branch("feature")
	r.Commit("staging config", map[string]string{"deployments/datahub/config/staging.yaml": "a: 2\n"})
	r.Commit("docs, and a file removed", map[string]string{"README.md": "hello\n", "old.txt": ""})
	r.Checkout("main")
	r.Commit("chart on main", map[string]string{"hub/values.yaml": "x: 2\n"})
	r.Checkout("feature")
	branchOnly := []string{"README.md", "deployments/datahub/config/staging.yaml", "old.txt"}
	check := func(base, head string, want []string) {
		t.Helper()
		got, err := Changes(r.Dir, base, head)
		if err != nil || !slices.Equal(got.Files, want) || got.Unrelated != "" || len(got.Base) != 7 || len(got.Head) != 7 {
			t.Errorf("%s...%s: %+v, %v; want %v", base, head, got, err, want)
		}
	}
	check("main", "HEAD", branchOnly)
	check("main", "feature", branchOnly)
	check("feature", "main", []string{"hub/values.yaml"})
	check(r.Hash("main").String(), "HEAD~1", []string{"deployments/datahub/config/staging.yaml"})
	check("HEAD", "HEAD", nil)
	r.Merge("merge main", "main", map[string]string{"hub/values.yaml": "x: 2\n"})
	check("main", "HEAD", branchOnly)
	got, err := Changes(r.Dir, "main", "HEAD")
	if err != nil || got.Base != gitrepo.Short(r.Hash("main")) {
		t.Errorf("after the merge, the base is main's tip: %+v, %v", got, err)
	}
	// A deployment repository in a folder of the clone sees its own files only.
	got, err = Changes(filepath.Join(r.Dir, "deployments"), "main", "HEAD")
	if err != nil || !slices.Equal(got.Files, []string{"datahub/config/staging.yaml"}) {
		t.Errorf("in a folder: %+v, %v", got, err)
	}

	for _, tc := range []struct{ base, head, want string }{
		{"nope", "HEAD", `key "--base": nope: reference not found (name a commit, branch or tag the clone has)`},
		{"main", "nope", `key "--head": nope: reference not found`},
	} {
		if _, err := Changes(r.Dir, tc.base, tc.head); err == nil || !inputerr.Is(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s...%s: %v, want %q", tc.base, tc.head, err, tc.want)
		}
	}
	if _, err := Changes(t.TempDir(), "main", "HEAD"); err == nil || !inputerr.Is(err) || !strings.Contains(err.Error(), "is not in a git repository, which plan --base needs (work in a git clone, or pass --changed-files)") {
		t.Errorf("outside git: %v", err)
	}
}

// A base whose history was rewritten shares nothing with the head: no file list.
func TestChangesForcePush(t *testing.T) {
	r := gittest.New(t)
	r.Commit("one", map[string]string{"deployments/datahub/config/prod.yaml": "a: 1\n"})
	r.Commit("two", map[string]string{"deployments/datahub/config/prod.yaml": "a: 2\n"})
	before := r.Hash("main").String()
	r.Rewrite("main", "squashed")
	r.Checkout("main")
	got, err := Changes(r.Dir, before, "HEAD")
	if err != nil || got.Unrelated == "" || got.Files != nil || got.Base != "" {
		t.Fatalf("%+v, %v", got, err)
	}
	if want := before + " (" + before[:7] + ") and HEAD (" + gitrepo.Short(r.Hash("main")) + ") share no history (was " + before + " force-pushed?)"; !strings.HasPrefix(got.Unrelated, want) {
		t.Errorf("%q, want %q", got.Unrelated, want)
	}
}

// A shallow clone says to fetch more history, when it lacks the base or the history
// that joins base and head.
func TestChangesShallow(t *testing.T) {
	r := gittest.New(t)
	first := r.Commit("one", map[string]string{"deployments/datahub/config/prod.yaml": "a: 1\n"})
	r.Branch("staging")
	r.Commit("staging moves on", map[string]string{"hub/values.yaml": "x: 1\n"})
	r.Checkout("main")
	r.Commit("two", map[string]string{"deployments/datahub/config/prod.yaml": "a: 2\n"})
	r.Commit("three", map[string]string{"deployments/datahub/config/prod.yaml": "a: 3\n"})

	clone := r.Clone("main", 1)
	const hint = "fetch more history (fetch-depth: 0 in actions/checkout, or git fetch --unshallow), or pass --changed-files"
	_, err := Changes(clone, first.String(), "HEAD")
	if err == nil || !inputerr.Is(err) || err.Error() != `key "--base": `+first.String()+` is not in this clone, which is shallow (`+hint+`)` {
		t.Errorf("base not in the clone: %v", err)
	}
	// With the base in the clone but not the history back to where it forked.
	deeper := r.Clone("main", 2)
	got, err := Changes(deeper, "HEAD~1", "HEAD")
	if err != nil || !slices.Equal(got.Files, []string{"deployments/datahub/config/prod.yaml"}) {
		t.Errorf("within the clone's history: %+v, %v", got, err)
	}
	r.Checkout("staging")
	r.Merge("main into staging", "main", map[string]string{"deployments/datahub/config/prod.yaml": "a: 3\n"})
	forked := r.Clone("staging", 2) // the merge and its parents, not the fork point
	_, err = Changes(forked, "HEAD^1", "HEAD^2")
	if err == nil || !inputerr.Is(err) || !strings.Contains(err.Error(), "the clone is shallow: its history ends before HEAD^1 and HEAD^2 meet ("+hint+")") {
		t.Errorf("merge base not in the clone: %v", err)
	}
}
