package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hubploy/hubploy/internal/clitest"
	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/hubtest"
	"github.com/hubploy/hubploy/pipeline/deploy"
	"github.com/hubploy/hubploy/pipeline/hubcheck"
)

// The health check against a real JupyterHub (Debian's), with the hub's token where a
// deployment keeps it: in the hub's sops secrets, or in the hub's Secret in the cluster.

// checkResult is `hubploy check -o json`.
type checkResult struct {
	Hub, Env, URL string
	TokenFrom     string `json:"token_from"`
	Report        hubcheck.Report
	Error         string
}

// deployReport is `hubploy deploy -o json`.
type deployReport struct {
	OK      bool             `json:"ok"`
	Failed  int              `json:"failed"`
	Results []*deploy.Result `json:"results"`
}

func assertNoToken(t *testing.T, token string, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		if strings.Contains(out, token) {
			t.Fatalf("the token is in the output:\n%s", out)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := "check-token-" + strings.Repeat("7", 24)
	hub := hubtest.Start(t, hubtest.Options{Token: token})
	example.AddCheckService(t, e.Repo, "datahub", "staging", hubtest.ServiceName, token)

	// Token from the hub's sops secrets; text, then JSON.
	code, out, errOut := e.Run("check", "datahub", "staging", "--url", hub.URL(), "--attempt-timeout", "2m")
	if code != 0 || !strings.Contains(out, "datahub/staging at "+hub.URL()+" (JupyterHub 3.") || !strings.Contains(out, "start   ok") ||
		!strings.Contains(errOut, "check: server ok") || !strings.Contains(errOut, "token from the values (hub.services.hub-health.apiToken)") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	assertNoToken(t, token, out, errOut)
	var res checkResult
	code, out, errOut = e.Run("check", "datahub", "staging", "--url", hub.URL(), "-o", "json")
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || !res.Report.OK || len(res.Report.Steps) != 7 || res.URL != hub.URL() {
		t.Fatalf("exit %d, %v: %+v\n%s", code, err, res, errOut)
	}
	assertNoToken(t, token, out, errOut)

	// A wrong token fails at the API step, at once: it is not retried.
	e.Vars = []string{"HUBPLOY_CHECK_TOKEN=wrong-token-0123456789"}
	code, out, errOut = e.Run("check", "datahub", "staging", "--url", hub.URL(), "-o", "json")
	res = checkResult{}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || res.Report.OK || res.Report.Attempts != 1 ||
		res.TokenFrom != "the given token" || !strings.Contains(res.Error, "hubcheck: api (attempt 1)") || !strings.Contains(errOut, "error: hubcheck: api") {
		t.Fatalf("wrong token: exit %d, %v: %+v\n%s", code, err, res, errOut)
	}
	e.Vars = nil

	// Without the URL, the address is the release's Ingress: the example's host, which
	// does not resolve here.
	code, out, errOut = e.Run("check", "datahub", "staging", "--attempts", "1", "--timeout", "5s")
	if code != 1 || !strings.Contains(out, "datahub/staging at http://staging.datahub.example.org/: health failed") {
		t.Fatalf("address from the Ingress: exit %d\n%s%s", code, out, errOut)
	}

	// A hub without the service in its secrets: its token is read from the hub's Secret,
	// where z2jh keeps the tokens it generates.
	ns := e.Namespace("secret")
	writeHubploy(t, e, "stat20", "deploy:\n  namespace: "+ns+"\n")
	live := []string{"--kubeconfig", e.Kubeconfig}
	code, _, errOut = e.Run(append([]string{"check", "stat20", "staging", "--url", hub.URL()}, live...)...)
	if code != 2 || !strings.Contains(errOut, "deployments/stat20/hubploy.yaml: key \"deploy.check.service\": no API token for the health check of hub stat20 in staging") ||
		!strings.Contains(errOut, "nor key hub.services.hub-health.apiToken in Secret "+ns+"/hub") {
		t.Fatalf("no token: exit %d\n%s", code, errOut)
	}
	clitest.AssertNoStackTrace(t, errOut)
	ctx := context.Background()
	if _, err := kube.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.Client().CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hub"},
		Data: map[string][]byte{hubcheck.TokenKey(hubtest.ServiceName): []byte(token)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = e.Run(append([]string{"check", "stat20", "staging", "--url", hub.URL(), "-o", "json"}, live...)...)
	res = checkResult{}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || !res.Report.OK || res.TokenFrom != "Secret "+ns+"/hub" {
		t.Fatalf("token from the Secret: exit %d, %v: %+v\n%s", code, err, res, errOut)
	}
	assertNoToken(t, token, out, errOut)

	// A hub with no address: neither deploy.check.url nor an Ingress.
	code, _, errOut = e.Run("check", "stat20", "staging", "--set", "jupyterhub.ingress.enabled=false")
	if code != 2 || !strings.Contains(errOut, `key "deploy.check.url": no address for the health check of hub stat20 in staging`) {
		t.Fatalf("no address: exit %d\n%s", code, errOut)
	}
}

// writeHubploy replaces a hub's hubploy.yaml of the test's repository.
func writeHubploy(t *testing.T, e *clitest.Env, hub, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.Repo, "deployments", hub, "hubploy.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runDeploy(t *testing.T, e *clitest.Env, args ...string) (code int, rep deployReport, errOut string) {
	t.Helper()
	code, out, errOut := e.Run(append([]string{"deploy", "--skip-image-check", "--kubeconfig", e.Kubeconfig, "-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s%s", code, err, out, errOut)
	}
	return code, rep, errOut
}

// A check failing after an upgrade rolls the release back to the revision live before;
// the failed revision stays in the history.
func TestDeployCheckRollsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := "rollback-token-" + strings.Repeat("5", 24)
	healthy := hubtest.Start(t, hubtest.Options{Token: token})
	broken := hubtest.Start(t, hubtest.SpawnFails(token))
	example.AddCheckService(t, e.Repo, "datahub", "staging", hubtest.ServiceName, token)
	ns := e.Namespace("dh")
	hubploy := "deploy:\n  namespace: " + ns + "\n  check:\n    url: %s\n"
	writeHubploy(t, e, "datahub", strings.Replace(hubploy, "%s", healthy.URL(), 1))
	check := []string{"datahub", "staging", "--check", "--rollback-on-failure", "--check-attempts", "1"}

	code, rep, errOut := runDeploy(t, e, check...)
	if code != 0 || !rep.OK || rep.Results[0].Revision != 1 || rep.Results[0].Check == nil || !rep.Results[0].Check.OK {
		t.Fatalf("first deploy: exit %d: %+v\n%s", code, rep.Results[0], errOut)
	}
	assertNoToken(t, token, errOut)

	// The hub that answers the check now fails to start servers.
	writeHubploy(t, e, "datahub", strings.Replace(hubploy, "%s", broken.URL(), 1))
	code, rep, errOut = runDeploy(t, e, append(check, "--set", "jupyterhub.cull.timeout=7200")...)
	res := rep.Results[0]
	if code != 1 || rep.OK || res.Outcome != deploy.RolledBack || res.Revision != 3 || res.Previous != 1 || res.Check == nil || res.Check.OK ||
		!strings.Contains(res.Error, "health check failed: hubcheck: start (attempt 1)") || !strings.Contains(res.Error, "rolled back to revision 1 (now revision 3)") ||
		!strings.Contains(errOut, "check failed: rolling back to revision 1") {
		t.Fatalf("failed check: exit %d: %+v\n%s", code, res, errOut)
	}
	assertNoToken(t, token, errOut)
	revs := history(t, e, ns)
	if len(revs) != 3 || revs[0].Status != "superseded" || revs[1].Status != "superseded" || revs[2].Status != "deployed" || revs[2].Description != "Rollback to 1" {
		t.Fatalf("history: %+v", revs)
	}
	// What is live is revision 1's: a deploy without the change finds nothing to do.
	code, out, errOut := e.Run("diff", "datahub", "staging", "--exit-code", "--kubeconfig", e.Kubeconfig)
	if code != 0 {
		t.Fatalf("diff after the rollback: exit %d\n%s%s", code, out, errOut)
	}

	// Without --rollback-on-failure, the failed revision stays, and says so.
	code, rep, errOut = runDeploy(t, e, "datahub", "staging", "--check", "--check-attempts", "1", "--set", "jupyterhub.cull.timeout=7200")
	if res := rep.Results[0]; code != 1 || res.Outcome != deploy.CheckFailed || res.Revision != 4 || strings.Contains(res.Error, "rolled back") {
		t.Fatalf("check without rollback: exit %d: %+v\n%s", code, res, errOut)
	}
	if revs := history(t, e, ns); len(revs) != 4 || revs[3].Status != "deployed" {
		t.Fatalf("history: %+v", revs)
	}
}

func history(t *testing.T, e *clitest.Env, ns string) []deploy.Revision {
	t.Helper()
	var revs []deploy.Revision
	out := e.MustRun("history", "datahub", "staging", "--kubeconfig", e.Kubeconfig, "--namespace", ns, "-o", "json")
	if err := json.Unmarshal([]byte(out), &revs); err != nil {
		t.Fatal(err)
	}
	return revs
}

// Canaries deploy and are checked first; one failing stops the others.
func TestCanaryStopsTheRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := "canary-token-" + strings.Repeat("3", 24)
	healthy := hubtest.Start(t, hubtest.Options{Token: token})
	broken := hubtest.Start(t, hubtest.SpawnFails(token))
	example.AddCheckService(t, e.Repo, "stat20", "staging", hubtest.ServiceName, token)
	datahubNS, stat20NS := e.Namespace("datahub"), e.Namespace("stat20")
	writeHubploy(t, e, "datahub", "deploy:\n  namespace: "+datahubNS+"\n")
	writeHubploy(t, e, "stat20", "deploy:\n  namespace: "+stat20NS+"\n  check:\n    url: "+broken.URL()+"\n")

	code, rep, errOut := runDeploy(t, e, "--env", "staging", "--all", "--canary", "stat20", "--check-attempts", "1")
	byHub := map[string]*deploy.Result{}
	for _, r := range rep.Results {
		byHub[r.Hub] = r
	}
	if code != 1 || rep.Failed != 2 || byHub["stat20"].Outcome != deploy.CheckFailed || byHub["datahub"].Outcome != deploy.NotAttempted ||
		!strings.Contains(byHub["datahub"].Error, "not attempted: canary stat20 failed") {
		t.Fatalf("failing canary: exit %d: %+v %+v\n%s", code, byHub["stat20"], byHub["datahub"], errOut)
	}
	if list, err := kube.Client().CoreV1().Secrets(datahubNS).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"}); err == nil && len(list.Items) > 0 {
		t.Fatalf("datahub was deployed after its canary failed: %d release record(s)", len(list.Items))
	}

	// deploy.canary in hubploy.yaml; the canary passes, so the rest deploy, unchecked.
	writeHubploy(t, e, "stat20", "deploy:\n  namespace: "+stat20NS+"\n  canary: true\n  check:\n    url: "+healthy.URL()+"\n")
	code, rep, errOut = runDeploy(t, e, "--env", "staging", "--all", "--check-attempts", "1")
	if code != 0 || !rep.OK || !slices.EqualFunc(rep.Results, []string{"datahub", "stat20"}, func(r *deploy.Result, hub string) bool { return r.Hub == hub }) ||
		rep.Results[0].Check != nil || rep.Results[1].Check == nil || !rep.Results[1].Check.OK {
		t.Fatalf("passing canary: exit %d: %+v %+v\n%s", code, rep.Results[0], rep.Results[1], errOut)
	}
	// The canary's lines come before the others'.
	if i, j := strings.Index(errOut, "stat20/staging: check: server ok"), strings.Index(errOut, "datahub/staging: connecting"); i < 0 || j < 0 || i > j {
		t.Fatalf("the canary did not go first:\n%s", errOut)
	}
	assertNoToken(t, token, errOut)
}
