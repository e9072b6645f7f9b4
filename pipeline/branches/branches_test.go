package branches

import (
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/gittest"
	"github.com/hubploy/hubploy/pipeline/gitrepo"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

func TestVerify(t *testing.T) {
	r := gittest.New(t)
	r.Commit("init", map[string]string{"deployments/datahub/config/prod.yaml": "a: 1\n"})
	r.Branch("staging")
	r.Commit("a change, on staging first", map[string]string{"deployments/datahub/config/prod.yaml": "a: 2\n"})
	r.Branch("prod") // prod fast-forwarded to staging
	res, err := Verify(r.Dir, "staging", "prod")
	if err != nil || !res.OK || len(res.Strays) != 0 || res.ProdHash != gitrepo.Short(r.Hash("prod")) || res.Staging != "staging" {
		t.Fatalf("fast-forward: %+v, %v", res, err)
	}

	// Staging moves on, and is merged into prod: a merge commit is allowed.
	r.Checkout("staging")
	r.Commit("another change", map[string]string{"deployments/datahub/config/prod.yaml": "a: 3\n"})
	r.Checkout("prod")
	r.Merge("Merge staging into prod", "staging", map[string]string{"deployments/datahub/config/prod.yaml": "a: 3\n"})
	if res, err := Verify(r.Dir, "staging", "prod"); err != nil || !res.OK {
		t.Fatalf("only merges: %+v, %v", res, err)
	}

	// A commit made on prod directly is listed, with its subject.
	direct := r.Commit("hotfix on prod\n\nwhy", map[string]string{"deployments/datahub/config/prod.yaml": "a: 4\n"})
	res, err = Verify(r.Dir, "staging", "prod")
	if err != nil || res.OK || len(res.Strays) != 1 || res.Strays[0] != (Commit{Hash: gitrepo.Short(direct), Subject: "hotfix on prod"}) {
		t.Fatalf("direct commit: %+v, %v", res, err)
	}
	// Merged back into staging, it is on staging, and prod is fine again.
	r.Checkout("staging")
	r.Merge("Merge prod back", "prod", nil)
	if res, err := Verify(r.Dir, "staging", "prod"); err != nil || !res.OK {
		t.Fatalf("merged back: %+v, %v", res, err)
	}
}

// Branches a CI clone has only as origin's are found there; missing ones are named.
func TestVerifyBranchNames(t *testing.T) {
	r := gittest.New(t)
	r.Commit("init", map[string]string{"README.md": "hi\n"})
	r.Branch("staging")
	r.Commit("on staging", map[string]string{"README.md": "hello\n"})
	r.Branch("release")
	r.Commit("on release only", map[string]string{"README.md": "bye\n"})
	clone := r.Clone("staging", 0) // a full clone: origin/staging and origin/release
	res, err := Verify(clone, "staging", "release")
	if err != nil || res.OK || len(res.Strays) != 1 || res.Strays[0].Subject != "on release only" {
		t.Errorf("origin's branches: %+v, %v", res, err)
	}
	// A pull request's CI: the head checked out, staging as origin's.
	if res, err := Verify(clone, "origin/staging", "HEAD"); err != nil || !res.OK || res.Prod != "HEAD" {
		t.Errorf("HEAD against origin/staging: %+v, %v", res, err)
	}
	if _, err := Verify(clone, "staging", "prod"); err == nil || !inputerr.Is(err) ||
		err.Error() != `key "--prod": the clone has no branch prod, nor origin/prod (fetch it (git fetch origin prod), or name the branch with --prod)` {
		t.Errorf("missing branch: %v", err)
	}
	shallow := r.Clone("release", 1)
	if _, err := Verify(shallow, "staging", "release"); err == nil || !inputerr.Is(err) || !strings.Contains(err.Error(), "is a shallow git clone") || !strings.Contains(err.Error(), "fetch-depth: 0") {
		t.Errorf("shallow: %v", err)
	}
	t.Chdir(clone)
	if res, err := Verify(".", "staging", "staging"); err != nil || !res.OK {
		t.Errorf("the working directory's clone: %+v, %v", res, err)
	}
	if _, err := Verify(t.TempDir(), "staging", "prod"); err == nil || !inputerr.Is(err) {
		t.Errorf("no clone: %v", err)
	}
}
