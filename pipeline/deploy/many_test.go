package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"
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
