// Package validate checks every hub of a repo in every environment, the way a deploy
// would use them, without a cluster: hubploy.yaml, the images (their folders, pins, and
// helm_substitution_paths the chart reads), values layering and decryption, the chart's
// values schema, helm's linter and a full render. It reports every problem, not just
// the first.
package validate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/render"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// Result is the outcome for one hub, and one environment when it got that far.
// Its JSON is {"hub", "env" (omitted when empty), "ok", "problems", "warnings",
// "duration_seconds"}, with problems and warnings always arrays.
type Result struct {
	Hub string
	Env string
	// Problems would stop a deploy or a build; Warnings would not. One line each,
	// naming the file and key, secrets masked.
	Problems []string
	Warnings []string
	Duration time.Duration
}

// OK reports whether the check found no problem.
func (r Result) OK() bool { return len(r.Problems) == 0 }

func (r Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Hub             string   `json:"hub"`
		Env             string   `json:"env,omitempty"`
		OK              bool     `json:"ok"`
		Problems        []string `json:"problems"`
		Warnings        []string `json:"warnings"`
		DurationSeconds float64  `json:"duration_seconds"`
	}{r.Hub, r.Env, r.OK(), nonNil(r.Problems), nonNil(r.Warnings), r.Duration.Seconds()})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WriteText writes the result as people read it: a status line, then a line for each
// problem and each warning.
func (r Result) WriteText(w io.Writer) error {
	name, status := r.Hub, "ok  "
	if r.Env != "" {
		name += "/" + r.Env
	}
	if !r.OK() {
		status = "FAIL"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s (%.2fs)\n", status, name, r.Duration.Seconds())
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "     error: %s\n", p)
	}
	for _, p := range r.Warnings {
		fmt.Fprintf(&b, "     warning: %s\n", p)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Failed counts the results with problems.
func Failed(results []Result) int {
	n := 0
	for _, r := range results {
		if !r.OK() {
			n++
		}
	}
	return n
}

// Summary is the closing line of a run, without a newline.
func Summary(results []Result) string {
	failed := Failed(results)
	return fmt.Sprintf("validated %d hub environment(s): %d ok, %d failed", len(results), len(results)-failed, failed)
}

// WriteReport writes every result's text, then the summary line.
func WriteReport(w io.Writer, results []Result) error {
	for _, r := range results {
		if err := r.WriteText(w); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, Summary(results))
	return err
}

// Validate is one validation run.
type Validate struct {
	Repo    *repo.Repo
	Hubs    []string // empty: every hub
	Env     string   // empty: every environment of each hub
	Release release.Options
	// Progress, if set, receives each result as soon as it is known.
	Progress func(Result)
}

// Run checks and returns one result per hub × environment (or per hub that failed to
// load). It fails only for problems outside the repo's content.
func (v *Validate) Run(ctx context.Context) ([]Result, error) {
	names := v.Hubs
	if len(names) == 0 {
		var err error
		if names, err = v.Repo.HubNames(); err != nil {
			return nil, err
		}
	}
	var results []Result
	report := func(r Result) {
		results = append(results, r)
		if v.Progress != nil {
			v.Progress(r)
		}
	}
	for _, name := range names {
		start := time.Now()
		h, err := v.Repo.Hub(name)
		if err != nil {
			report(Result{Hub: name, Problems: []string{err.Error()}, Duration: time.Since(start)})
			continue
		}
		envs := []string{v.Env}
		if v.Env == "" {
			if envs, err = h.Environments(); err != nil {
				return nil, err
			}
			if len(envs) == 0 {
				report(Result{Hub: name, Problems: []string{"no environments: add config/<env>.yaml files to " + v.Repo.Rel(h.Dir)}, Duration: time.Since(start)})
				continue
			}
		}
		for _, env := range envs {
			report(v.check(ctx, h, env))
		}
	}
	return results, nil
}

func (v *Validate) check(ctx context.Context, h *repo.Hub, env string) Result {
	start := time.Now()
	res := Result{Hub: h.Name, Env: env}
	rel, err := release.Prepare(ctx, h, env, v.Release)
	if err != nil {
		res.Problems = append(res.Problems, err.Error())
		res.Duration = time.Since(start)
		return res
	}
	for _, m := range render.Lint(rel.ChartDir, rel.Namespace, rel.Values.Values) {
		text := rel.Masker.String(m.Path + ": " + m.Text)
		switch m.Severity {
		case "error":
			res.Problems = append(res.Problems, "lint: "+text)
		case "warning":
			res.Warnings = append(res.Warnings, "lint: "+text)
		}
	}
	if _, err := rel.Render(ctx); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	res.Duration = time.Since(start)
	return res
}
