package daggere2e

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/hubtest"
)

// withCheck is the module's WithCheck for a real JupyterHub on the host, reached
// through a tunnel, with the token as a Secret from the environment.
func withCheck(t *testing.T, hub *hubtest.Hub) []string {
	t.Helper()
	u, err := url.Parse(hub.URL())
	if err != nil {
		t.Fatal(err)
	}
	return []string{"with-check", "--token=env:HUBPLOY_TEST_CHECK_TOKEN", "--hub=tcp://localhost:" + u.Port(), "--attempts=1"}
}

// check and deploy --check through the module: a real JupyterHub (Debian's) on the
// host, the token as a Secret; a check failing after an upgrade rolls it back.
func TestCheckThroughTheModule(t *testing.T) {
	setup(t)
	token := "module-check-token-" + strings.Repeat("9", 20)
	t.Setenv("HUBPLOY_TEST_CHECK_TOKEN", token)
	healthy := hubtest.Start(t, hubtest.Options{Token: token})
	broken := hubtest.Start(t, hubtest.SpawnFails(token))

	r := mustCall(t, append(withCheck(t, healthy), "check", "--hub=datahub", "--env=staging")...)
	if !regexp.MustCompile(`datahub/staging at http://jupyterhub:\d+/ \(JupyterHub 3\.[0-9.]+\): ok`).MatchString(r.stdout) || !strings.Contains(r.stdout, "server  ok") {
		t.Fatalf("check:\n%s", r.stdout)
	}
	assertNoSecrets(t, "check", r.output(), []string{token})

	ns := kube.NewNamespace(t)
	withCluster := append([]string{"with-cluster", "--namespace=" + ns}, tunnelKubeconfig(t)...)
	deploy := []string{"deploy", "--env=staging", "--hub=datahub", "--skip-image-check", "--timeout=120s", "--check", "--rollback-on-failure"}
	r = mustCall(t, append(append(append([]string{}, withCluster...), withCheck(t, healthy)...), deploy...)...)
	if !regexp.MustCompile(`datahub\s+staging\s+deployed\s+1\s+\S+\s+ok, `).MatchString(r.stdout) {
		t.Fatalf("deploy --check:\n%s", r.stdout)
	}
	changed := append(append(repoArgs(), "--set=jupyterhub.cull.timeout=7200"), withCluster...)
	r = callModule(t, ".", append(append(changed, withCheck(t, broken)...), deploy...)...)
	if r.err == nil || !regexp.MustCompile(`datahub\s+staging\s+rolled-back\s+3\s+\S+\s+start failed`).MatchString(r.output()) ||
		!strings.Contains(r.output(), "rolled back to revision 1 (now revision 3)") {
		t.Fatalf("deploy --check with a failing check: %v\n%s", r.err, tail(r.output(), 40))
	}
	assertNoSecrets(t, "deploy --check", r.output(), []string{token})
	assertNoStackTrace(t, r)
}
