package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/clitest"
	"github.com/hubploy/hubploy/internal/registrytest"
)

// The CLI's contract, through the built binary: exit codes, streams, JSON shapes and
// flags, as the README's table of commands gives them.

// Exit codes: 0 ok, 1 a failure of the work, 2 bad usage or bad input.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	unreachable, err := kube.KubeconfigFor("https://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	down := filepath.Join(t.TempDir(), "kc")
	os.WriteFile(down, unreachable, 0o600)
	host := registrytest.Unreachable(t)
	appendTo(t, e.Repo, "deployments/stat20/hubploy.yaml", "images:\n  images:\n    - name: "+host+"/stat20/user-image:v1\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"ok", []string{"validate", "datahub"}, 0, ""},
		{"unknown command", []string{"deplyo", "datahub", "prod"}, 2, `unknown command "deplyo"`},
		{"unknown command suggests", []string{"histroy"}, 2, "did you mean history?"},
		{"bad flag", []string{"validate", "--nope"}, 2, "unknown flag: --nope"},
		{"flag of another command", []string{"decrypt", "x.yaml", "--set", "a=b"}, 2, "--set does not apply to `hubploy decrypt`"},
		{"bad input", []string{"render", "nohub", "prod"}, 2, `hub "nohub" not found`},
		{"unreachable registry is a failure", []string{"images", "list", "stat20"}, 1, "registry " + host + " is unreachable"},
		{"unreachable cluster is a failure", []string{"status", "datahub", "prod", "--kubeconfig", down}, 1, "cannot reach the cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := e.Run(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if code == 2 && out != "" {
				t.Errorf("bad input printed to stdout: %q", out)
			}
			clitest.AssertNoStackTrace(t, out+errOut)
		})
	}
}

// diff --exit-code (and --detailed-exitcode): 0 no change, 2 changes, 1 an error.
func TestDiffExitCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ns := e.Namespace("diff")
	base := []string{"--kubeconfig", e.Kubeconfig, "--namespace", ns}
	e.MustRun(append([]string{"deploy", "datahub", "staging", "--skip-image-check"}, base...)...)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"no change", []string{"diff", "datahub", "staging", "--exit-code"}, 0},
		{"changes", []string{"diff", "datahub", "staging", "--exit-code", "--set", "jupyterhub.cull.timeout=7200"}, 2},
		{"changes, terraform's name", []string{"diff", "datahub", "staging", "--detailed-exitcode", "--set", "jupyterhub.cull.timeout=7200"}, 2},
		{"changes without the flag", []string{"diff", "datahub", "staging", "--set", "jupyterhub.cull.timeout=7200"}, 0},
		{"bad input is an error", []string{"diff", "datahub", "staging", "--exit-code", "--set", "novalue"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := e.Run(append(tc.args, base...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
		})
	}
	down, _ := kube.KubeconfigFor("https://127.0.0.1:1")
	bad := filepath.Join(t.TempDir(), "kc")
	os.WriteFile(bad, down, 0o600)
	if code, _, errOut := e.Run("diff", "datahub", "staging", "--exit-code", "--kubeconfig", bad); code != 1 || !strings.Contains(errOut, "cannot reach the cluster") {
		t.Fatalf("unreachable cluster: exit %d: %s", code, errOut)
	}
}

// One hub that cannot be prepared does not stop the others: every hub has its row, in
// the table and in JSON, and the exit code is 1.
func TestDeployManyKeepsGoingPastPreparationErrors(t *testing.T) {
	e := newEnv(t)
	for _, hub := range []string{"datahub", "stat20"} {
		os.WriteFile(filepath.Join(e.Repo, "deployments", hub, "hubploy.yaml"),
			[]byte("deploy:\n  namespace: "+e.Namespace(hub)+"-{env}\n"), 0o644)
		e.Namespace(hub + "-staging")
	}
	appendTo(t, e.Repo, "deployments/stat20/config/staging.yaml", "  bad: [\n")
	code, out, errOut := e.Run("deploy", "--skip-image-check", "--env", "staging", "--all", "--kubeconfig", e.Kubeconfig, "--output", "json")
	var rep struct {
		OK      bool `json:"ok"`
		Failed  int  `json:"failed"`
		Results []struct {
			Hub     string `json:"hub"`
			OK      bool   `json:"ok"`
			Outcome string `json:"outcome"`
			Error   string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 {
		t.Fatalf("exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if rep.OK || rep.Failed != 1 || len(rep.Results) != 2 ||
		rep.Results[0].Hub != "datahub" || !rep.Results[0].OK || rep.Results[0].Outcome != "deployed" ||
		rep.Results[1].Hub != "stat20" || rep.Results[1].OK || rep.Results[1].Outcome != "failed" ||
		!strings.Contains(rep.Results[1].Error, "deployments/stat20/config/staging.yaml") {
		t.Fatalf("report: %+v", rep)
	}
	code, out, errOut = e.Run("deploy", "--skip-image-check", "--env", "staging", "datahub", "stat20", "--kubeconfig", e.Kubeconfig)
	if code != 1 || !regexp.MustCompile(`datahub\s+staging\s+unchanged`).MatchString(out) || !regexp.MustCompile(`stat20\s+staging\s+failed`).MatchString(out) ||
		!strings.Contains(errOut, "deployments/stat20/config/staging.yaml") {
		t.Fatalf("table: exit %d\n%s%s", code, out, errOut)
	}
}

// --kubeconfig keeps hubploy.yaml's context template; --kube-context overrides it.
func TestKubeconfigKeepsContextTemplate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ns := e.Namespace("st")
	code, _, errOut := e.Run("status", "stat20", "staging", "--kubeconfig", e.Kubeconfig, "-n", ns)
	if code != 2 || !strings.Contains(errOut, `has no context "stat20-`+ns+`"`) {
		t.Fatalf("without --kube-context: exit %d: %s", code, errOut)
	}
	// A kubeconfig that has the templated context reaches the cluster through it.
	templated := filepath.Join(t.TempDir(), "kc")
	os.WriteFile(templated, []byte(strings.ReplaceAll(string(kube.Kubeconfig()), "kubeenv", "stat20-"+ns)), 0o600)
	if code, out, errOut := e.Run("deploy", "stat20", "staging", "--kubeconfig", templated, "-n", ns); code != 0 {
		t.Fatalf("templated context: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := e.Run("status", "stat20", "staging", "--kubeconfig", e.Kubeconfig, "--kube-context", "kubeenv", "-n", ns); code != 0 || !strings.Contains(out, "deployed, revision 1") {
		t.Fatalf("--kube-context: exit %d\n%s%s", code, out, errOut)
	}
}

// --print-commands reaches the same cluster: the hub's kubeconfig through sops, its
// context; or the kubeconfig given.
func TestPrintCommandsReachTheCluster(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.MustRun("deploy", "stat20", "prod", "--print-commands")
	for _, want := range []string{"--kubeconfig <(sops --decrypt deployments/stat20/secrets/kubeconfig.yaml)", "--kube-context stat20-stat20-prod"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	out = e.MustRun("deploy", "datahub", "prod", "--print-commands", "--kubeconfig", e.Kubeconfig, "--kube-context", "kubeenv")
	for _, want := range []string{"--kubeconfig " + e.Kubeconfig, "--kube-context kubeenv"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// Data on stdout, diagnostics on stderr; JSON has a stable shape with ok/outcome.
func TestStreamsAndJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ns := e.Namespace("json")
	cluster := []string{"--kubeconfig", e.Kubeconfig, "--namespace", ns}
	jsonOf := func(args ...string) map[string]any {
		t.Helper()
		code, out, errOut := e.Run(append(args, "--output", "json")...)
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil || code != 0 {
			t.Fatalf("%v: exit %d, %v\n%s%s", args, code, err, out, errOut)
		}
		return v
	}
	if v := jsonOf("validate"); v["ok"] != true || len(v["results"].([]any)) != 4 {
		t.Errorf("validate: %v", v)
	}
	r := jsonOf("render", "datahub", "prod")
	objects, _ := r["objects"].([]any)
	if r["release"] != "datahub-prod" || len(objects) < 6 {
		t.Fatalf("render: %v", r)
	}
	first := objects[0].(map[string]any)
	for _, k := range []string{"source", "apiVersion", "kind", "name", "object"} {
		if _, ok := first[k]; !ok {
			t.Errorf("render object lacks %q: %v", k, first)
		}
	}
	d := jsonOf(append([]string{"deploy", "datahub", "staging", "--skip-image-check"}, cluster...)...)
	res := d["results"].([]any)[0].(map[string]any)
	if d["ok"] != true || res["ok"] != true || res["outcome"] != "deployed" || res["revision"] != 1.0 {
		t.Errorf("deploy: %v", d)
	}
	if v := jsonOf(append([]string{"diff", "datahub", "staging"}, cluster...)...); v["changed_objects"] != 0.0 {
		t.Errorf("diff: %v", v)
	}
	if v := jsonOf(append([]string{"status", "datahub", "staging"}, cluster...)...); v["status"] != "deployed" {
		t.Errorf("status: %v", v)
	}
	if v := jsonOf("version"); v["hubploy"] == "" || !strings.HasPrefix(v["helm"].(string), "v3.") || !strings.HasPrefix(v["go"].(string), "go1.") {
		t.Errorf("version: %v", v)
	}
	// images list: a registry problem goes to stderr, the table to stdout.
	host := registrytest.Unreachable(t)
	appendTo(t, e.Repo, "deployments/stat20/hubploy.yaml", "images:\n  images:\n    - name: "+host+"/stat20/user-image:v1\n")
	code, out, errOut := e.Run("images", "list", "stat20")
	if code != 1 || strings.Contains(out, "unreachable") || !strings.Contains(errOut, "registry "+host+" is unreachable") || !strings.Contains(out, "stat20 ") {
		t.Errorf("images list: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, _ = e.Run("images", "list", "stat20", "--output", "json")
	var il struct {
		OK     bool `json:"ok"`
		Images []struct {
			Hub   string `json:"hub"`
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(out), &il); err != nil || code != 1 || il.OK || len(il.Images) != 1 || il.Images[0].OK || !strings.Contains(il.Images[0].Error, "is unreachable") {
		t.Errorf("images list json: exit %d, %v: %s", code, err, out)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out := e.MustRun(args...)
		if !regexp.MustCompile(`(?m)^hubploy \S+`).MatchString(out) || !regexp.MustCompile(`(?m)^helm SDK v3\.\d+\.\d+`).MatchString(out) || !regexp.MustCompile(`(?m)^go1\.\d+`).MatchString(out) {
			t.Errorf("%v:\n%s", args, out)
		}
	}
}

// history lists the revisions that rollback takes.
func TestHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ns := e.Namespace("hist")
	base := []string{"--kubeconfig", e.Kubeconfig, "-n", ns}
	e.MustRun(append([]string{"deploy", "datahub", "staging", "--skip-image-check"}, base...)...)
	e.MustRun(append([]string{"deploy", "datahub", "staging", "--skip-image-check", "--set", "jupyterhub.cull.timeout=7200"}, base...)...)
	e.MustRun(append([]string{"rollback", "datahub", "staging", "1"}, base...)...)
	out := e.MustRun(append([]string{"history", "datahub", "staging"}, base...)...)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^REVISION\s+UPDATED\s+STATUS\s+CHART`),
		regexp.MustCompile(`(?m)^1\s+\S+\s+superseded\s+hub-`),
		regexp.MustCompile(`(?m)^2\s+\S+\s+superseded\s+hub-`),
		regexp.MustCompile(`(?m)^3\s+\S+\s+deployed\s+hub-.*Rollback to 1`),
	} {
		if !want.MatchString(out) {
			t.Errorf("history lacks %s:\n%s", want, out)
		}
	}
	var revs []struct {
		Revision int    `json:"revision"`
		Status   string `json:"status"`
		Chart    string `json:"chart"`
	}
	out = e.MustRun(append([]string{"history", "datahub", "staging", "-o", "json"}, base...)...)
	if err := json.Unmarshal([]byte(out), &revs); err != nil || len(revs) != 3 || revs[2].Revision != 3 || revs[2].Status != "deployed" {
		t.Fatalf("json: %v %s", err, out)
	}
	code, _, errOut := e.Run("history", "datahub", "prod", "--kubeconfig", e.Kubeconfig, "-n", e.Namespace("never"))
	if code != 1 || !strings.Contains(errOut, "never deployed") {
		t.Errorf("never deployed: exit %d: %s", code, errOut)
	}
}

// Shell completion offers hubs and environments, for deploy as for the others.
func TestCompletion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"deploy", ""}, []string{"datahub", "stat20"}},
		{[]string{"deploy", "datahub", ""}, []string{"prod", "staging"}},
		{[]string{"deploy", "--env", ""}, []string{"prod", "staging"}},
		{[]string{"deploy", "--env", "prod", ""}, []string{"datahub", "stat20"}},
		{[]string{"validate", "--env", ""}, []string{"prod", "staging"}},
		{[]string{"history", "stat20", ""}, []string{"prod", "staging"}},
	} {
		// Cobra's completion request: the words typed so far, the last one being completed.
		out := e.MustRun(append([]string{"__complete", "--repo", e.Repo}, tc.args...)...)
		for _, w := range tc.want {
			if !regexp.MustCompile(`(?m)^` + w + `$`).MatchString(out) {
				t.Errorf("%v: no %s in:\n%s", tc.args, w, out)
			}
		}
	}
}

// validate reports every problem of a hub × environment, including what would stop
// a deploy or a build later.
func TestValidateFlagsWhatStopsADeploy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	os.Remove(filepath.Join(e.Repo, "deployments/datahub/secrets/kubeconfig.yaml"))
	os.Remove(filepath.Join(e.Repo, "deployments/datahub/image/Dockerfile"))
	appendTo(t, e.Repo, "deployments/datahub/config/staging.yaml", "  singleusr: {}\n")
	os.WriteFile(filepath.Join(e.Repo, "deployments/stat20/hubploy.yaml"),
		[]byte("cluster:\n  provider: gcloud\n  gcloud:\n    project: p\n    cluster: c\n    zone: z\n    service_key: key.json\n"), 0o644)
	code, out, errOut := e.Run("validate", "--env", "staging")
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"deployments/datahub/secrets/kubeconfig.yaml: cannot read",
		"hubploy builds images from Dockerfiles only",
		"'singleusr' not allowed",
		"deployments/stat20/secrets/key.json: cannot read: it does not exist",
		"validated 2 hub environment(s): 0 ok, 2 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func appendTo(t *testing.T, repo, rel, content string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(repo, rel), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// hubploy 0.3's deploy command line, with the global flags CI scripts put before it.
func TestPythonHubployDeployLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ns := e.Namespace("py")
	code, out, errOut := e.Run("-v", "-D", "deploy", "datahub", "hub", "staging", "--skip-image-check", "--namespace", ns, "--kubeconfig", e.Kubeconfig,
		"--timeout", "120", "--set", "jupyterhub.cull.timeout=7200", "--atomic", "--cleanup-on-fail", "--force")
	if code != 0 || !regexp.MustCompile(`datahub\s+staging\s+deployed\s+1\s`).MatchString(out) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"datahub/staging: prepared release datahub-staging in " + ns, "datahub: cluster https://127.0.0.1:", "datahub: helm: "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// plan -o json, then deploy --plan: only the hubs the change touches deploy.
func TestDeployAPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, hub := range []string{"datahub", "stat20"} {
		os.WriteFile(filepath.Join(e.Repo, "deployments", hub, "hubploy.yaml"), []byte("deploy:\n  namespace: "+e.Namespace(hub)+"\n"), 0o644)
	}
	changed := filepath.Join(t.TempDir(), "changed.txt")
	os.WriteFile(changed, []byte("deployments/stat20/config/staging.yaml\nREADME.md\n"), 0o644)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	os.WriteFile(planFile, []byte(e.MustRun("plan", "--changed-files", changed, "-o", "json")), 0o644)
	code, out, errOut := e.Run("deploy", "--env", "staging", "--plan", planFile, "--skip-image-check", "--kubeconfig", e.Kubeconfig, "-o", "json")
	var rep struct {
		OK      bool `json:"ok"`
		Results []struct {
			Hub, Outcome string
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || len(rep.Results) != 1 || rep.Results[0].Hub != "stat20" || rep.Results[0].Outcome != "deployed" {
		t.Fatalf("exit %d, %v: %+v\n%s", code, err, rep, errOut)
	}
	code, _, errOut = e.Run("deploy", "--env", "staging", "--plan", planFile, "--all", "--kubeconfig", e.Kubeconfig)
	if code != 2 || !strings.Contains(errOut, "usage: hubploy deploy") {
		t.Fatalf("--plan with --all: exit %d\n%s", code, errOut)
	}
}
