package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/hubcheck"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
)

func TestWriteSummary(t *testing.T) {
	var b strings.Builder
	results := []*Result{
		{Hub: "datahub", Env: "prod", Outcome: Deployed, Revision: 3, Duration: 1500 * time.Millisecond},
		FailedResult("stat20", "prod", "stat20-prod", "stat20-prod", errors.New("no kubeconfig")),
	}
	if err := WriteSummary(&b, results); err != nil {
		t.Fatal(err)
	}
	want := "HUB      ENV   RESULT    REVISION  DURATION\ndatahub  prod  deployed  3         1.5s\nstat20   prod  failed    -         0.0s\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteSummaryWithChecks(t *testing.T) {
	var b strings.Builder
	results := []*Result{
		{Hub: "datahub", Env: "prod", Outcome: Deployed, Revision: 3, Duration: time.Second,
			Check: &hubcheck.Report{OK: true, Attempts: 2, Steps: []hubcheck.Step{{Attempt: 1, Name: "health", Seconds: 1}, {Attempt: 2, Name: "health", OK: true, Seconds: 0.5}}}},
		{Hub: "stat20", Env: "prod", Outcome: RolledBack, Revision: 5, Duration: time.Second,
			Check: &hubcheck.Report{Attempts: 1, Steps: []hubcheck.Step{{Attempt: 1, Name: "health", OK: true, Seconds: 0.5}, {Attempt: 1, Name: "start", Seconds: 2}}}},
		{Hub: "data8", Env: "prod", Outcome: NotAttempted},
	}
	if err := WriteSummary(&b, results); err != nil {
		t.Fatal(err)
	}
	want := `HUB      ENV   RESULT         REVISION  DURATION  CHECK
datahub  prod  deployed       3         1.0s      ok, 2 attempts, 1.5s
stat20   prod  rolled-back    5         1.0s      start failed, 2.5s
data8    prod  not-attempted  -         0.0s      -
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteSummaryReportsWriteErrors(t *testing.T) {
	if err := WriteSummary(brokenWriter{}, []*Result{{Hub: "datahub", Env: "prod", Outcome: Deployed}}); err == nil || err.Error() != "broken pipe" {
		t.Errorf("got %v", err)
	}
}

// Jobs of a run stopped before they start say so, and why, rather than "context canceled".
func TestManyStoppedBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("interrupt signal received"))
	var jobs []Job
	for _, hub := range []string{"datahub", "stat20"} {
		jobs = append(jobs, Job{
			Release: &release.Release{Hub: &repo.Hub{Name: hub}, Env: "prod", Name: hub + "-prod", Namespace: hub + "-prod"},
			Access:  &cluster.Access{Server: "https://kubernetes.example.org"},
		})
	}
	results := (&Many{PerCluster: 1}).Run(ctx, jobs)
	for i, r := range results {
		want := jobs[i].Release.Name + ": not started: interrupt signal received"
		if r.Outcome != Failed || r.Error != want {
			t.Errorf("%s: %s %q, want failed %q", jobs[i].Release.Name, r.Outcome, r.Error, want)
		}
	}
}
