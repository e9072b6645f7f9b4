package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/gittest"
	"github.com/hubploy/hubploy/pipeline/plan"
)

// exampleClone is a git clone of the example whose branch feature changes datahub's
// staging config and the README, checked out.
func exampleClone(t *testing.T) *gittest.Repo {
	t.Helper()
	r := gittest.Init(t, example.Copy(t))
	init := r.Commit("the example", nil)
	r.Branch("feature")
	config := filepath.Join(r.Dir, "deployments", "datahub", "config", "staging.yaml")
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	r.Commit("staging config, docs", map[string]string{"deployments/datahub/config/staging.yaml": string(data) + "# changed\n", "README.md": "notes\n"})
	if init.IsZero() {
		t.Fatal("no commit")
	}
	return r
}

func TestPlanCommand(t *testing.T) {
	r := exampleClone(t)
	c := newCLI(t, r.Dir)
	code, out, errOut := c.run("plan", "--base", "main")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{": 2 changed file(s): 1 deploy(s), 0 image build(s)\n", "deploy (1):\n  datahub/staging  deployments/datahub/config/staging.yaml\n", "unaffected (1):\n  README.md  documentation\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}

	code, out, _ = c.run("plan", "--base", "main", "-o", "json")
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil || code != 0 || len(p.Deploys) != 1 || p.Deploys[0].Hub != "datahub" || p.Deploys[0].Env != "staging" || p.Base == "" {
		t.Errorf("json: exit %d, %v\n%s", code, err, out)
	}
	// What deploy --plan will read back.
	file := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if back, err := plan.Read(file); err != nil || strings.Join(back.Hubs("staging"), ",") != "datahub" {
		t.Errorf("read back: %v, %v", back, err)
	}

	code, out, _ = c.run("plan", "--base", "main", "--head", "feature", "--markdown")
	if code != 0 || !strings.HasPrefix(out, "### hubploy plan\n") || !strings.Contains(out, "| datahub | staging | `deployments/datahub/config/staging.yaml` |") {
		t.Errorf("markdown: exit %d\n%s", code, out)
	}

	list := filepath.Join(t.TempDir(), "changed.txt")
	if err := os.WriteFile(list, []byte("deployments/datahub/image/Dockerfile\n./README.md\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = c.run("plan", "--changed-files", list, "--env", "prod", "-o", "json")
	p = plan.Plan{}
	if err := json.Unmarshal([]byte(out), &p); err != nil || code != 0 || len(p.Deploys) != 1 || len(p.Builds) != 1 || p.Env != "prod" || p.Builds[0].Image != "registry.example.org/datahub/user-image" {
		t.Errorf("changed files: exit %d, %v\n%s", code, err, out)
	}

	// The list on standard input.
	stdin, err := os.Open(list)
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	saved := os.Stdin
	os.Stdin = stdin
	code, out, errOut = c.run("plan", "--changed-files", "-")
	os.Stdin = saved
	if code != 0 || !strings.Contains(out, "build (1):\n  registry.example.org/datahub/user-image (deployments/datahub/image)") {
		t.Errorf("stdin: exit %d\n%s%s", code, out, errOut)
	}
}

// Bad usage and bad input: exit 2 and one line that names the flag and what to do.
func TestPlanCommandErrors(t *testing.T) {
	r := exampleClone(t)
	c := newCLI(t, r.Dir)
	forkPoint := r.Hash("main").String()
	r.Checkout("main")
	r.Commit("main moves on", map[string]string{"README.md": "more notes\n"})
	shallow := newCLI(t, r.Clone("feature", 1)) // the tips of main and feature only
	const fetchMore = "(fetch more history (fetch-depth: 0 in actions/checkout, or git fetch --unshallow), or pass --changed-files)"
	for _, tc := range []struct {
		c    *cli
		args []string
		want string
	}{
		{c, []string{"plan"}, `key "--base": give either --base (a git revision) or --changed-files (a list), one of them`},
		{c, []string{"plan", "--base", "nope"}, `key "--base": nope: reference not found (name a commit, branch or tag the clone has)`},
		{c, []string{"plan", "--base", "main", "--markdown", "-o", "json"}, "--markdown and --output json are two forms of output: give one"},
		{c, []string{"plan", "--base", "main", "--env", "dev"}, `no hub has an environment "dev"`},
		{c, []string{"plan", "--changed-files", "/nonexistent/list"}, `key "--changed-files": cannot read the list of changed files`},
		{c, []string{"plan", "--base", "main", "--age-key-file", "k"}, "k: cannot read the age key file"}, // secrets apply: --check-registry reads the registry credentials
		{c, []string{"plan", "extra"}, "accepts 0 arg(s), received 1"},
		{shallow, []string{"plan", "--base", forkPoint}, `key "--base": ` + forkPoint + ` is not in this clone, which is shallow ` + fetchMore},
		{shallow, []string{"plan", "--base", "origin/main"}, `key "--base": the clone is shallow: its history ends before origin/main and HEAD meet ` + fetchMore},
	} {
		code, out, errOut := tc.c.run(tc.args...)
		if code != exitInput || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// A force-pushed base plans every hub and says why.
func TestPlanCommandForcePush(t *testing.T) {
	r := exampleClone(t)
	r.Rewrite("main", "rewritten")
	code, out, errOut := newCLI(t, r.Dir).run("plan", "--base", "main")
	if code != 0 || !strings.Contains(out, "every hub deploys: main (") || !strings.Contains(out, "deploy (4):") || !strings.Contains(out, "build (1):") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}
