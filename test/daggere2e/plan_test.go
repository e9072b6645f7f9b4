package daggere2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// plan through the module, then deploy --plan: only the hub the change touches deploys.
func TestPlanThenDeployThePlan(t *testing.T) {
	setup(t)
	t.Parallel()
	dir := t.TempDir()
	changed := filepath.Join(dir, "changed.txt")
	os.WriteFile(changed, []byte("deployments/datahub/config/staging.yaml\nREADME.md\n"), 0o644)
	md := mustCall(t, "plan", "--changed-files="+changed, "--format=markdown")
	if !strings.Contains(md.stdout, "datahub") || strings.Contains(md.stdout, "stat20") {
		t.Fatalf("markdown plan:\n%s", md.stdout)
	}
	plan := mustCall(t, "plan", "--changed-files="+changed, "--env=staging", "--format=json")
	planFile := filepath.Join(dir, "plan.json")
	os.WriteFile(planFile, []byte(plan.stdout), 0o644)
	ns := kube.NewNamespace(t)
	r := mustCall(t, append([]string{"deploy", "--env=staging", "--plan=" + planFile, "--skip-image-check", "--namespace=" + ns, "--timeout=120s"}, tunnelKubeconfig(t)...)...)
	if !regexp.MustCompile(`datahub\s+staging\s+deployed\s+1\s`).MatchString(r.stdout) || strings.Contains(r.stdout, "stat20") {
		t.Fatalf("deploy --plan:\n%s", r.stdout)
	}
	if r := call(t, "plan", "--changed-files="+changed, "--format=yaml"); r.err == nil || !strings.Contains(r.output(), `key "format": is "yaml" (text, markdown or json)`) {
		t.Fatalf("unknown format: %v\n%s", r.err, tail(r.output(), 10))
	}
}
