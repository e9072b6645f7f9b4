// Package example runs scripts/example, the README's first command, as a newcomer does:
// the main job end to end on a cluster the script starts and stops itself.
package example

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
)

func TestExampleScript(t *testing.T) {
	if os.Getenv(kubeenv.EnvBin) == "" {
		// The script would build the control plane's binaries, which takes 13 minutes.
		t.Fatalf("%s is not set; build the control-plane binaries with: export %s=$(testenv/kube/build.sh)", kubeenv.EnvBin, kubeenv.EnvBin)
	}
	// A warm run takes about 10 s; this bounds a hang, with room for a cold Go build cache.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	script := exec.CommandContext(ctx, "bash", "../../scripts/example")
	// On timeout, SIGTERM to the script and the hubploy it runs, as a terminal would send
	// SIGINT (which a test started in the background cannot pass on: it stays ignored):
	// the script stops its cluster.
	script.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	script.Cancel = func() error { return syscall.Kill(-script.Process.Pid, syscall.SIGTERM) }
	script.WaitDelay = 30 * time.Second
	var out bytes.Buffer
	script.Stdout, script.Stderr = &out, &out
	began := time.Now()
	err := script.Run()
	t.Logf("scripts/example ran in %s", time.Since(began).Round(time.Second))
	if err != nil {
		t.Fatalf("scripts/example: %v\n%s", err, out.String())
	}
	output := out.String()

	// What a cold machine takes is said before the builds that take it.
	cold, build := strings.Index(output, "a first run on a cold machine takes about"), strings.Index(output, "] building hubploy")
	if cold < 0 || build < cold {
		t.Errorf("no cold-machine time before the build in:\n%s", output)
	}
	deploys := sections(output, "$ hubploy deploy ")
	if len(deploys) != 2 {
		t.Fatalf("want 2 deploys, got %d:\n%s", len(deploys), output)
	}
	// Each hub's row of the summary: its result and revision.
	for i, rows := range []map[string]string{
		{"datahub": `deployed\s+1`, "stat20": `deployed\s+1`},
		{"datahub": `deployed\s+2`, "stat20": `unchanged\s+1`},
	} {
		for hub, result := range rows {
			row := regexp.MustCompile(`(?m)^` + hub + `\s+staging\s+` + result + `\s`)
			if !row.MatchString(deploys[i]) {
				t.Errorf("deploy %d: no row %s for %s in:\n%s", i+1, result, hub, deploys[i])
			}
		}
	}

	diffs := sections(output, "$ hubploy diff datahub staging ")
	if len(diffs) != 1 || !strings.Contains(diffs[0], "-      limit: 1G\n+      limit: 2G\n") {
		t.Errorf("want the diff of datahub's memory limit, got:\n%s", strings.Join(diffs, "\n"))
	}
	plans := sections(output, "$ hubploy plan --base HEAD~1")
	if len(plans) != 1 || !strings.Contains(plans[0], "  datahub/staging ") || strings.Contains(plans[0], "stat20") {
		t.Errorf("want a plan that names only datahub/staging, got:\n%s", strings.Join(plans, "\n"))
	}
	for _, want := range []string{"$ hubploy status datahub staging ", "$ hubploy history datahub staging ", "] stopping the cluster\n"} {
		if !strings.Contains(output, want) {
			t.Errorf("no %q in:\n%s", want, output)
		}
	}
	if t.Failed() {
		t.Logf("the whole output:\n%s", output)
	}
}

// sections gives what follows each line of output that starts with prefix (a command
// the script shows before it runs it), up to the next command or progress line.
func sections(output, prefix string) []string {
	var found []string
	for _, part := range strings.Split(output, "\n"+prefix)[1:] {
		end := len(part)
		for _, next := range []string{"\n$ ", "\n[example "} {
			if i := strings.Index(part, next); i >= 0 && i < end {
				end = i
			}
		}
		found = append(found, part[:end])
	}
	return found
}
