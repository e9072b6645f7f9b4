// Package coldcall measures what a CI runner pays for its first `dagger call` of
// hubploy's module: dagger/coldcall.sh starts an engine on an empty state, pushes
// the hubploy image into its local registry as a release would, and times the first
// call, the same call again and an uncached call on the now warm engine. The
// figures are logged, never asserted; the test fails if a call fails or does not
// validate the example.
//
// It needs the provisioned engine (HUBPLOY_DAGGER_ENV) and no other engine running.
package coldcall

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

func TestColdCall(t *testing.T) {
	if os.Getenv("HUBPLOY_DAGGER_ENV") == "" {
		t.Fatal("HUBPLOY_DAGGER_ENV is not set: provision the Dagger engine with\n\teval \"$(dagger/provision.sh | tail -n 1)\"")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	log := filepath.Join(t.TempDir(), "progress.log")
	cmd := exec.Command("bash", filepath.Join(root, "dagger", "coldcall.sh"), "--",
		"--repo=hubs-example", "--age-key=file:hubs-example/example-age-key.txt",
		"--chart-mirror=https://hub.jupyter.org/helm-chart/=offline-charts", "validate")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "COLDCALL_LOG="+log)
	out, err := cmd.CombinedOutput()
	t.Logf("dagger/coldcall.sh:\n%s", out)
	if err != nil {
		t.Fatalf("dagger/coldcall.sh: %v", err)
	}
	rounds := regexp.MustCompile(`(?m)^(first call, empty engine state|the same call again|uncached call, warm engine): [0-9.]+ s \(exit (\d+)\)$`).FindAllStringSubmatch(string(out), -1)
	if len(rounds) != 3 {
		t.Fatalf("want 3 timed calls in the output, found %d", len(rounds))
	}
	for _, r := range rounds {
		if r[2] != "0" {
			t.Errorf("%s: exit %s", r[1], r[2])
		}
	}
	progress, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	// Each call's result, as dagger call prints it: on a line of its own.
	if n := len(regexp.MustCompile(`(?m)^validated 4 hub environment\(s\): 4 ok, 0 failed$`).FindAllIndex(progress, -1)); n != 3 {
		t.Errorf("want the example validated by each of the 3 calls, found %d in %s", n, log)
		t.Log(string(progress[max(0, len(progress)-3000):]))
	}
}
