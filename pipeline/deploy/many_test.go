package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hubploy/hubploy/pipeline/cluster"
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
