package badinput

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubploy/hubploy/internal/example"
)

// stopGrace is hubploy's: how long a command has to return after the first signal.
const stopGrace = 5 * time.Second

// A chart whose templates take minutes to render, as CPU-bound work that looks at no
// context: Ctrl-C and SIGTERM end hubploy after the grace, with 128 + the signal's
// number and one line, and a second signal ends it at once.
func TestSignalsStopCPUBoundWork(t *testing.T) {
	for _, tc := range []struct {
		name    string
		signals []syscall.Signal
		code    int
		within  time.Duration // after the last signal
		last    string
	}{
		{"SIGINT", []syscall.Signal{syscall.SIGINT}, 130, stopGrace + 3*time.Second, "hubploy: error: interrupt signal received: stopped; the command did not finish within 5s"},
		{"SIGTERM", []syscall.Signal{syscall.SIGTERM}, 143, stopGrace + 3*time.Second, "hubploy: error: terminated signal received: stopped; the command did not finish within 5s"},
		{"twice", []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}, 143, 2 * time.Second, "hubploy: error: terminated signal received again: stopped at once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := example.Copy(t)
			slow := "{{- range $i := until 100000 }}{{- range $j := until 100000 }}{{- end }}{{- end }}\n"
			if err := os.WriteFile(filepath.Join(repo, "hub", "templates", "slow.yaml"), []byte(slow), 0o644); err != nil {
				t.Fatal(err)
			}
			before := treeHash(t, repo)
			c := command(repo, t.TempDir(), "render", "datahub", "staging")
			var stderr strings.Builder
			c.Stderr = &stderr
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second) // well into the render
			for _, sig := range tc.signals {
				if err := c.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			sent := time.Now()
			ended := make(chan error, 1)
			go func() { ended <- c.Wait() }()
			var err error
			select {
			case err = <-ended:
			case <-time.After(time.Minute):
				c.Process.Kill()
				<-ended
				t.Fatalf("hubploy ignored %v for a minute:\n%s", tc.signals, stderr.String())
			}
			took := time.Since(sent)
			t.Logf("exit %v %s after the last signal:\n%s", err, took.Round(time.Millisecond), stderr.String())
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != tc.code {
				t.Errorf("exit %v, want %d", err, tc.code)
			}
			if took > tc.within {
				t.Errorf("took %s after the last signal, want at most %s", took, tc.within)
			}
			if got := lastLine(stderr.String()); got != tc.last {
				t.Errorf("last line %q, want %q", got, tc.last)
			}
			for _, trace := range []string{"goroutine ", "panic:", ".go:"} {
				if strings.Contains(stderr.String(), trace) {
					t.Errorf("a Go trace (%q)", trace)
				}
			}
			if treeHash(t, repo) != before {
				t.Error("the repository changed")
			}
		})
	}
}
