package hubcheck_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubploy/hubploy/internal/hubtest"
	"github.com/hubploy/hubploy/pipeline/hubcheck"
)

var allSteps = []string{hubcheck.StepHealth, hubcheck.StepAPI, hubcheck.StepUser, hubcheck.StepStart, hubcheck.StepServer, hubcheck.StepStop, hubcheck.StepDelete}

// progressLog records what Progress was told, to compare with the report
// and to look for the token in.
type progressLog struct {
	mu    sync.Mutex
	lines []string
}

func (p *progressLog) record(step string, d time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, fmt.Sprintf("%s %s %v", step, d, err))
}

func (p *progressLog) String() string { return strings.Join(p.lines, "\n") }

// run runs c against hub and logs what it reported.
func run(t *testing.T, c *hubcheck.Check) (*hubcheck.Report, error, *progressLog) {
	t.Helper()
	progress := &progressLog{}
	c.Progress = progress.record
	began := time.Now()
	report, err := c.Run(t.Context())
	t.Logf("check done in %s, error: %v\nprogress:\n%s", time.Since(began).Round(time.Millisecond), err, progress)
	return report, err, progress
}

func stepNames(report *hubcheck.Report, attempt int) []string {
	var names []string
	for _, s := range report.Steps {
		if s.Attempt == attempt {
			names = append(names, s.Name)
		}
	}
	return names
}

func findStep(t *testing.T, report *hubcheck.Report, attempt int, name string) hubcheck.Step {
	t.Helper()
	for _, s := range report.Steps {
		if s.Attempt == attempt && s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %s in attempt %d: %+v", name, attempt, report.Steps)
	return hubcheck.Step{}
}

// userGone asks the hub whether the check user is gone.
func userGone(t *testing.T, hub *hubtest.Hub) bool {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, hub.URL()+"hub/api/users/"+hubcheck.DefaultUser, nil)
	req.Header.Set("Authorization", "token "+hub.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNotFound
}

// noToken fails the test when the token shows anywhere a person or a
// program would read it.
func noToken(t *testing.T, token string, report *hubcheck.Report, err error, progress *progressLog) {
	t.Helper()
	out, _ := json.Marshal(report)
	for what, text := range map[string]string{"the error": fmt.Sprint(err), "the report": string(out), "the progress": progress.String()} {
		if strings.Contains(text, token) {
			t.Errorf("the token is in %s: %s", what, text)
		}
	}
}

func TestHealthyHub(t *testing.T) {
	t.Parallel()
	hub := hubtest.Start(t, hubtest.Options{})
	report, err, progress := run(t, &hubcheck.Check{URL: hub.URL(), Token: hub.Token()})
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK || report.Attempts != 1 || report.Version != "3.0.0" {
		t.Errorf("report: ok %v, %d attempts, version %q; want ok, 1, 3.0.0", report.OK, report.Attempts, report.Version)
	}
	if got := stepNames(report, 1); !equal(got, allSteps) {
		t.Errorf("steps %v, want %v", got, allSteps)
	}
	for _, s := range report.Steps {
		if !s.OK || s.Duration <= 0 || s.Error != "" {
			t.Errorf("step %+v: want ok, a duration, no error", s)
		}
	}
	if len(progress.lines) != len(allSteps) {
		t.Errorf("progress told of %d steps, want %d", len(progress.lines), len(allSteps))
	}
	if !userGone(t, hub) {
		t.Error("the check user is still there")
	}
	noToken(t, hub.Token(), report, err, progress)
}

func TestServerFailsToStart(t *testing.T) {
	t.Parallel()
	hub := hubtest.Start(t, hubtest.Options{SpawnerCmd: []string{"/bin/sh", "-c", "exit 3"}, HTTPTimeout: 5 * time.Second})
	report, err, _ := run(t, &hubcheck.Check{URL: hub.URL(), Token: hub.Token(), Attempts: 1})
	// The hub's own words for the spawn's failure, with the exit status.
	if err == nil || !strings.Contains(err.Error(), "hubcheck: start (attempt 1)") || !strings.Contains(err.Error(), "status=3") {
		t.Fatalf("error %v, want the start step failing with the hub's message (status=3)", err)
	}
	for _, name := range []string{hubcheck.StepStop, hubcheck.StepDelete} {
		if s := findStep(t, report, 1, name); !s.OK {
			t.Errorf("cleanup step %s failed: %s", name, s.Error)
		}
	}
	if !userGone(t, hub) {
		t.Error("the check user is still there")
	}
}

func TestServerNeverReady(t *testing.T) {
	t.Parallel()
	// The check gives up on the start after 2 s, the hub 5 s after the
	// spawn began; only then can the check stop the server and delete the user.
	hub := hubtest.Start(t, hubtest.Options{SpawnerCmd: []string{"/bin/sleep", "600"}, HTTPTimeout: 5 * time.Second})
	report, err, _ := run(t, &hubcheck.Check{URL: hub.URL(), Token: hub.Token(), Attempts: 1, StartTimeout: 2 * time.Second, StopTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "hubcheck: start (attempt 1)") || !strings.Contains(err.Error(), "(the step's timeout is 2s)") {
		t.Fatalf("error %v, want the start step timing out after 2s", err)
	}
	if s := findStep(t, report, 1, hubcheck.StepStart); s.Duration < 2*time.Second || s.Duration > 4*time.Second {
		t.Errorf("start took %s, want about its 2s timeout", s.Duration)
	}
	if !userGone(t, hub) {
		t.Error("the check user is still there")
	}
}

func TestAttemptTimeout(t *testing.T) {
	t.Parallel()
	// The start's own bound is a minute; the attempt's, 2 s, ends it first, and the
	// cleanup still runs.
	hub := hubtest.Start(t, hubtest.Options{SpawnerCmd: []string{"/bin/sleep", "600"}, HTTPTimeout: 5 * time.Second})
	report, err, _ := run(t, &hubcheck.Check{URL: hub.URL(), Token: hub.Token(), Attempts: 1, StartTimeout: time.Minute, StopTimeout: 10 * time.Second, AttemptTimeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "hubcheck: start (attempt 1)") || !strings.Contains(err.Error(), "(the attempt's timeout is 2s)") {
		t.Fatalf("error %v, want the start step ended by the attempt's 2s", err)
	}
	if s := findStep(t, report, 1, hubcheck.StepDelete); !s.OK {
		t.Errorf("the cleanup did not run to its end: %+v", s)
	}
	if !userGone(t, hub) {
		t.Error("the check user is still there")
	}
}

func TestWrongToken(t *testing.T) {
	t.Parallel()
	hub := hubtest.Start(t, hubtest.Options{})
	const token = "wrong-token-canary-7f3a9c"
	report, err, progress := run(t, &hubcheck.Check{URL: hub.URL(), Token: token, Backoff: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "hubcheck: api (attempt 1)") || !strings.Contains(err.Error(), "403") ||
		!strings.Contains(err.Error(), "the API token was refused") {
		t.Fatalf("error %v, want the api step refused with 403", err)
	}
	if report.Attempts != 1 {
		t.Errorf("%d attempts, want 1: a refused token is not retried", report.Attempts)
	}
	noToken(t, token, report, err, progress)
}

func TestHubDown(t *testing.T) {
	t.Parallel()
	hub := hubtest.Start(t, hubtest.Options{})
	if err := hub.Stop(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	report, err, _ := run(t, &hubcheck.Check{URL: hub.URL(), Token: hub.Token(), Attempts: 2, Backoff: 10 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "hubcheck: health (attempt 2)") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error %v, want the health step failing with connection refused", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("took %s to find the hub down, want under 2s", took)
	}
	if got := stepNames(report, 2); !equal(got, []string{hubcheck.StepHealth}) {
		t.Errorf("second attempt's steps %v, want only health", got)
	}
}

func TestSlowHubPassesOnSecondAttempt(t *testing.T) {
	t.Parallel()
	hub := hubtest.Start(t, hubtest.Options{Unavailable: 1})
	report, err, _ := run(t, &hubcheck.Check{URL: hub.URL(), Token: hub.Token(), Backoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if report.Attempts != 2 {
		t.Errorf("%d attempts, want 2", report.Attempts)
	}
	if s := findStep(t, report, 1, hubcheck.StepHealth); s.OK || !strings.Contains(s.Error, "503") {
		t.Errorf("first attempt's health step %+v, want a 503", s)
	}
	if got := stepNames(report, 2); !equal(got, allSteps) {
		t.Errorf("second attempt's steps %v, want %v", got, allSteps)
	}
}

func equal(a, b []string) bool { return strings.Join(a, " ") == strings.Join(b, " ") }
