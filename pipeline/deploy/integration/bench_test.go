package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hubploy/hubploy/pipeline/deploy"
)

// benchHubs makes n hubs (copies of stat20), each deploying to its own namespace, and
// returns a function that prepares their jobs with the given --set values.
func benchHubs(b *testing.B, n int) func(set ...string) []deploy.Job {
	f := newFixture(b)
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("bench%02d", i)
		dir := filepath.Join(f.repo.Root, "deployments", names[i])
		if err := os.CopyFS(dir, os.DirFS(filepath.Join(f.repo.Root, "deployments", "stat20"))); err != nil {
			b.Fatal(err)
		}
	}
	return func(set ...string) []deploy.Job {
		var jobs []deploy.Job
		for _, name := range names {
			ns := f.namespace + "-" + name
			jobs = append(jobs, deploy.Job{Release: f.prepareIn(ns, name, "staging", set...), Access: f.accessIn(ns, name)})
		}
		return jobs
	}
}

func runAll(b *testing.B, jobs []deploy.Job, want deploy.Outcome) {
	b.Helper()
	many := &deploy.Many{Options: deploy.Upgrade{Timeout: 2 * time.Minute}}
	for _, r := range many.Run(context.Background(), jobs) {
		if r.Outcome != want {
			b.Fatalf("%s: %s, want %s: %s", r.Release, r.Outcome, want, r.Error)
		}
	}
}

// benchUpgrades times upgrades of n hubs, each with a changed value so every iteration
// makes a new revision and waits for the hub to roll.
func benchUpgrades(b *testing.B, n int) {
	jobs := benchHubs(b, n)
	runAll(b, jobs(), deploy.Deployed) // install, untimed
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		next := jobs(fmt.Sprintf("jupyterhub.cull.timeout=%d", 3600+i))
		b.StartTimer()
		runAll(b, next, deploy.Deployed)
	}
}

func BenchmarkDeployOneHub(b *testing.B)  { benchUpgrades(b, 1) }
func BenchmarkDeployTenHubs(b *testing.B) { benchUpgrades(b, 10) }

// BenchmarkNoopRedeployTenHubs times the common CI case: nothing changed for 10 hubs.
func BenchmarkNoopRedeployTenHubs(b *testing.B) {
	jobs := benchHubs(b, 10)
	runAll(b, jobs(), deploy.Deployed)
	for b.Loop() {
		b.StopTimer()
		same := jobs()
		b.StartTimer()
		runAll(b, same, deploy.Unchanged)
	}
}
