// Package e2e runs the hubploy binary, as users and CI do, against a real Kubernetes
// control plane (internal/testenv/kubeenv).
package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubploy/hubploy/internal/clitest"
	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
	"github.com/hubploy/hubploy/pipeline/deploy"
)

var (
	kube    *kubeenv.Cluster
	hubploy string // the built binary
)

func TestMain(m *testing.M) {
	clitest.Main(m, func(c *kubeenv.Cluster, bin string) { kube, hubploy = c, bin })
}

func newEnv(t *testing.T) *clitest.Env { return clitest.New(t, kube, hubploy) }

func TestDeployStatusDiffRollback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ns := e.Namespace("dh")
	base := []string{"--kubeconfig", e.Kubeconfig, "--namespace", ns}
	out := e.MustRun(append([]string{"deploy", "datahub", "staging", "--skip-image-check", "--timeout", "120"}, base...)...)
	if !strings.Contains(out, "datahub  staging  deployed  1") {
		t.Fatalf("summary:\n%s", out)
	}
	// Redeploying the same thing makes no revision.
	out = e.MustRun(append([]string{"deploy", "datahub", "staging", "--skip-image-check"}, base...)...)
	if !strings.Contains(out, "unchanged  1") {
		t.Fatalf("summary:\n%s", out)
	}
	// diff names the changed value; deploy then makes revision 2.
	code, diff, errOut := e.Run(append([]string{"diff", "datahub", "staging", "--set", "jupyterhub.cull.timeout=7200"}, base...)...)
	if code != 0 || !strings.Contains(diff, "-    timeout: 3600") || !strings.Contains(diff, "+    timeout: 7200") || !strings.Contains(errOut, "2 object(s) would change") {
		t.Fatalf("diff exit %d:\n%s%s", code, diff, errOut)
	}
	e.MustRun(append([]string{"deploy", "datahub", "staging", "--skip-image-check", "--set", "jupyterhub.cull.timeout=7200"}, base...)...)
	status := e.MustRun(append([]string{"status", "datahub", "staging", "--output", "json"}, base...)...)
	var st struct {
		Status    string
		Revision  int
		Resources []struct{ Resource, Status string }
	}
	if err := json.Unmarshal([]byte(status), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != "deployed" || st.Revision != 2 || len(st.Resources) < 6 {
		t.Fatalf("status: %+v", st)
	}
	for _, r := range st.Resources {
		if r.Status != "Current" {
			t.Errorf("%s is %s", r.Resource, r.Status)
		}
	}
	out = e.MustRun(append([]string{"rollback", "datahub", "staging", "1"}, base...)...)
	if !strings.Contains(out, "now at revision 3") {
		t.Fatalf("rollback: %s", out)
	}
	// After the rollback to revision 1, the repo's values are live again: no diff.
	code, diff, errOut = e.Run(append([]string{"diff", "datahub", "staging"}, base...)...)
	if code != 0 || diff != "" || !strings.Contains(errOut, "0 object(s) would change") {
		t.Fatalf("diff after rollback: exit %d\n%s%s", code, diff, errOut)
	}
}

// kill -9 while helm waits leaves the release pending-upgrade; --recover brings it back
// with its history.
func TestKilledDeployIsRecovered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ns := e.Namespace("st")
	// stat20's context template names contexts the test cluster's kubeconfig lacks.
	base := []string{"--kubeconfig", e.Kubeconfig, "--kube-context", "kubeenv", "--namespace", ns}
	e.MustRun(append([]string{"deploy", "stat20", "prod"}, base...)...)

	c, _ := e.StartUntil("Deployment/hub ", append([]string{"deploy", "stat20", "prod", "--set", "jupyterhub.hub.nodeSelector.nowhere=x", "--timeout", "5m"}, base...)...)
	c.Process.Signal(syscall.SIGKILL)
	c.Wait()

	// The killed run's lock is still fresh: a plain deploy cannot tell it from a live one.
	code, _, errOut := e.Run(append([]string{"deploy", "stat20", "prod"}, base...)...)
	if code != 1 || !strings.Contains(errOut, "is being deployed right now by") || !strings.Contains(errOut, "--recover takes the release over") {
		t.Fatalf("without --recover: exit %d: %s", code, errOut)
	}
	// --recover waits for the lock to lapse, rolls back and deploys.
	code, out, errOut := e.Run(append([]string{"deploy", "stat20", "prod", "--recover"}, base...)...)
	if code != 0 || !strings.Contains(errOut, "waiting for it to expire") || !strings.Contains(errOut, "is pending-upgrade; rolling back to revision 1 first") {
		t.Fatalf("--recover: exit %d\n%s%s", code, out, errOut)
	}
	status := e.MustRun(append([]string{"status", "stat20", "prod", "--output", "json"}, base...)...)
	var st struct {
		Status   string
		Revision int
	}
	json.Unmarshal([]byte(status), &st)
	if st.Status != "deployed" || st.Revision != 3 {
		t.Fatalf("after recovery: %+v (want deployed at revision 3: 1 deployed, 2 killed, 3 the rollback)", st)
	}
	// Once the lock has lapsed, a plain deploy names the stuck release and the way out.
	c, _ = e.StartUntil("Deployment/hub ", append([]string{"deploy", "stat20", "prod", "--set", "jupyterhub.hub.nodeSelector.nowhere=x", "--timeout", "5m"}, base...)...)
	c.Process.Signal(syscall.SIGKILL)
	c.Wait()
	time.Sleep(deploy.LeaseDuration)
	code, _, errOut = e.Run(append([]string{"deploy", "stat20", "prod"}, base...)...)
	if code != 1 || !strings.Contains(errOut, "is stuck in pending-upgrade at revision 4") || !strings.Contains(errOut, "Run again with --recover") {
		t.Fatalf("stuck release: exit %d: %s", code, errOut)
	}
}

// An interrupted deploy (Ctrl-C) stops waiting at once and leaves no pending release.
func TestInterruptStopsCleanly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ns := e.Namespace("ctrlc")
	base := []string{"--kubeconfig", e.Kubeconfig, "--namespace", ns}
	e.MustRun(append([]string{"deploy", "datahub", "prod", "--skip-image-check"}, base...)...)
	c, errb := e.StartUntil("Deployment/hub ", append([]string{"deploy", "datahub", "prod", "--skip-image-check", "--set", "jupyterhub.hub.nodeSelector.nowhere=x"}, base...)...)
	start := time.Now()
	c.Process.Signal(os.Interrupt)
	err := c.Wait()
	if err == nil || time.Since(start) > 20*time.Second {
		t.Fatalf("interrupted deploy: %v after %s\n%s", err, time.Since(start), errb.String())
	}
	status := e.MustRun(append([]string{"status", "datahub", "prod", "--output", "json"}, base...)...)
	if !strings.Contains(status, `"status": "failed"`) {
		t.Fatalf("after Ctrl-C the release should be failed, not pending:\n%s", status)
	}
}

func TestManyHubsSummary(t *testing.T) {
	e := newEnv(t)
	// Two hubs that deploy, one that fails to render: the others go on, exit 1.
	for _, hub := range []string{"datahub", "stat20"} {
		e.Namespace(hub + "-staging")
		e.Namespace(hub + "-prod")
		os.WriteFile(filepath.Join(e.Repo, "deployments", hub, "hubploy.yaml"),
			[]byte(fmt.Sprintf("deploy:\n  namespace: %s-{env}\n", e.Namespace(hub))), 0o644)
	}
	code, out, errOut := e.Run("deploy", "--skip-image-check", "--env", "staging", "--all", "--kubeconfig", e.Kubeconfig, "--kube-context", "kubeenv", "--output", "json")
	var rep struct {
		OK      bool
		Results []struct {
			Hub, Outcome, Error string
			OK                  bool
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || len(rep.Results) != 2 {
		t.Fatalf("exit %d, %v:\n%s%s", code, err, out, errOut)
	}
	for _, r := range rep.Results {
		if r.Outcome != "deployed" || !r.OK {
			t.Errorf("%+v", r)
		}
	}
	// A hub that cannot render fails the run but not the other hub.
	f, _ := os.OpenFile(filepath.Join(e.Repo, "deployments/stat20/config/prod.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("nfsPVC:\n  enabled: true\n")
	f.Close()
	code, out, errOut = e.Run("deploy", "--skip-image-check", "--env", "prod", "datahub", "stat20", "--kubeconfig", e.Kubeconfig, "--kube-context", "kubeenv")
	if code != 1 || !strings.Contains(out, "datahub  prod  deployed") || !strings.Contains(out, "stat20   prod  failed") || !strings.Contains(errOut, "nfsPVC.nfs.serverIP is required") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestPrintCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.MustRun("deploy", "datahub", "prod", "--print-commands", "--atomic", "--timeout", "30m")
	for _, want := range []string{
		"helm dependency build hub",
		"helm upgrade --install datahub-prod hub",
		"--namespace datahub-prod --create-namespace --wait",
		"--timeout 30m0s",
		"--atomic",
		"-f deployments/datahub/config/common.yaml",
		"-f deployments/datahub/config/prod.yaml",
		"-f <(sops --decrypt deployments/datahub/secrets/prod.yaml)",
		"--set-string jupyterhub.singleuser.image.name=registry.example.org/datahub/user-image,jupyterhub.singleuser.image.tag=",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// Nothing was deployed, and no secret value is inlined.
	if strings.Contains(out, "secretToken") {
		t.Error("a secret is inlined")
	}
}

func TestDeployBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := os.Remove(filepath.Join(e.Repo, "deployments/datahub/secrets/kubeconfig.yaml")); err != nil {
		t.Fatal(err)
	}
	unreachable, _ := kube.KubeconfigFor("https://127.0.0.1:1")
	bad := filepath.Join(t.TempDir(), "kc")
	os.WriteFile(bad, unreachable, 0o600)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"kubeconfig file missing", []string{"deploy", "datahub", "prod", "--skip-image-check"}, 2, "deployments/datahub/secrets/kubeconfig.yaml: cannot read"},
		{"unreachable", []string{"deploy", "datahub", "prod", "--skip-image-check", "--kubeconfig", bad}, 1, "cannot reach the cluster at https://127.0.0.1:1"},
		{"wrong context", []string{"deploy", "datahub", "prod", "--skip-image-check", "--kubeconfig", e.Kubeconfig, "--kube-context", "nope"}, 2, `has no context "nope"`},
		{"usage", []string{"deploy", "datahub"}, 2, "usage: hubploy deploy HUB ENV"},
		{"namespace with many", []string{"deploy", "--skip-image-check", "--env", "prod", "--all", "--namespace", "x"}, 2, `key "namespace": applies to one hub only`},
		{"bad timeout", []string{"deploy", "datahub", "prod", "--skip-image-check", "--timeout", "soon"}, 2, `"soon" is neither a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := e.Run(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d (want %d): %s", code, tc.code, errOut)
			}
		})
	}
}
