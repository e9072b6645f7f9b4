package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/gittest"
	"github.com/hubploy/hubploy/pipeline/branches"
	"github.com/hubploy/hubploy/pipeline/gitrepo"
)

func TestVerifyBranchesCommand(t *testing.T) {
	r := gittest.New(t)
	r.Commit("init", map[string]string{"README.md": "hi\n"})
	r.Branch("staging")
	r.Commit("a change", map[string]string{"README.md": "hello\n"})
	r.Branch("prod")
	c := newCLI(t, r.Dir)
	code, out, errOut := c.run("verify-branches")
	if code != 0 || !strings.HasPrefix(out, "ok: every commit of prod ("+gitrepo.Short(r.Hash("prod"))+") is on staging (") || errOut != "" {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}

	direct := r.Commit("hotfix on prod", map[string]string{"README.md": "fixed\n"})
	code, out, _ = c.run("verify-branches")
	if code != exitFailure || !strings.HasPrefix(out, "prod ("+gitrepo.Short(direct)+") has 1 commit(s) that are not on staging (") ||
		!strings.HasSuffix(out, "\n  "+gitrepo.Short(direct)+" hotfix on prod\n") {
		t.Errorf("direct commit: exit %d\n%s", code, out)
	}
	code, out, _ = c.run("verify-branches", "-o", "json")
	var res branches.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitFailure || res.OK || len(res.Strays) != 1 || res.Strays[0].Subject != "hotfix on prod" {
		t.Errorf("json: exit %d, %v\n%s", code, err, out)
	}
	// Other names for the branches: prod is main, which has only the first commit.
	if code, out, errOut := c.run("verify-branches", "--prod", "main"); code != 0 {
		t.Errorf("--prod main: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = c.run("verify-branches", "--staging", "stage")
	if code != exitInput || out != "" || !strings.Contains(errOut, `key "--staging": the clone has no branch stage, nor origin/stage`) {
		t.Errorf("missing branch: exit %d\n%s%s", code, out, errOut)
	}
}
