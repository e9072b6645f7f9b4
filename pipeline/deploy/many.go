package deploy

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/release"
)

// DefaultPerCluster is how many releases deploy at once on one API server.
const DefaultPerCluster = 4

// Job is one release to deploy, with its cluster access.
type Job struct {
	Release *release.Release
	Access  *cluster.Access
}

// Many deploys several releases in parallel, at most PerCluster at once on each API
// server; one release's failure does not stop the others.
type Many struct {
	// Options is copied for each job; its Access and Progress are set per job.
	Options    Upgrade
	PerCluster int
	// Progress receives each job's progress lines with the job it belongs to.
	Progress func(job Job, format string, args ...any)
}

// Run returns one result per job, in the jobs' order.
func (m *Many) Run(ctx context.Context, jobs []Job) []*Result {
	limit := m.PerCluster
	if limit <= 0 {
		limit = DefaultPerCluster
	}
	slots := map[string]chan struct{}{}
	for _, j := range jobs {
		if slots[j.Access.Server] == nil {
			slots[j.Access.Server] = make(chan struct{}, limit)
		}
	}
	shared := &validators{}
	results := make([]*Result, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A job still waiting for its slot when the run is stopped (Ctrl-C) does not
			// start, and says why.
			notStarted := func() {
				results[i] = FailedResult(j.Release.Hub.Name, j.Release.Env, j.Release.Name, j.Release.Namespace,
					fmt.Errorf("%s: not started: %w", j.Release.Name, context.Cause(ctx)))
			}
			if ctx.Err() != nil {
				notStarted() // a free slot must not win the select below
				return
			}
			slot := slots[j.Access.Server]
			select {
			case slot <- struct{}{}:
				defer func() { <-slot }()
			case <-ctx.Done():
				notStarted()
				return
			}
			u := m.Options
			u.Access, u.validators = j.Access, shared
			if m.Progress != nil {
				u.Progress = func(format string, args ...any) { m.Progress(j, format, args...) }
			}
			results[i], _ = u.Run(ctx, j.Release) // the error is in the result too
		}()
	}
	wg.Wait()
	return results
}

// PrintProgress returns a Many.Progress that writes each line to w, one at a time,
// prefixed with the time since it was made and the job's hub and environment.
func PrintProgress(w io.Writer) func(job Job, format string, args ...any) {
	start := time.Now()
	var mu sync.Mutex
	return func(j Job, format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		// Progress is for people watching: a line that cannot be written must not stop
		// the deploys, and the summary reports what they did.
		fmt.Fprintf(w, "[%6.1fs] %s/%s: %s\n", time.Since(start).Seconds(), j.Release.Hub.Name, j.Release.Env, fmt.Sprintf(format, args...))
	}
}

// WriteSummary writes the results as a table: hub, env, result, revision, duration,
// and the health check's outcome when one ran.
func WriteSummary(w io.Writer, results []*Result) error {
	checked := slices.ContainsFunc(results, func(r *Result) bool { return r.Check != nil })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "HUB\tENV\tRESULT\tREVISION\tDURATION"
	if checked {
		header += "\tCHECK"
	}
	if _, err := fmt.Fprintln(tw, header); err != nil {
		return err
	}
	for _, r := range results {
		rev := "-"
		if r.Revision > 0 {
			rev = strconv.Itoa(r.Revision)
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%.1fs", r.Hub, r.Env, r.Outcome, rev, r.Duration.Seconds())
		if checked {
			check := "-"
			if r.Check != nil {
				check = r.Check.Summary()
			}
			row += "\t" + check
		}
		if _, err := fmt.Fprintln(tw, row); err != nil {
			return err
		}
	}
	return tw.Flush()
}
