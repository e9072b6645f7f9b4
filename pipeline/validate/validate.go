// Package validate checks every hub of a repo in every environment, the way a deploy
// (or a build) would use them, offline: no cluster or registry is contacted. It checks
// hubploy.yaml, the images (their tags, pins, Dockerfiles, and the
// helm_substitution_paths the chart reads), values layering and decryption, the
// cluster access hubploy.yaml describes, the chart's values schema, helm's linter and a
// full render. Each check runs even when another failed, so every problem is reported,
// not just the first.
package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/mask"
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

// Check is one validation run.
type Check struct {
	Repo    *repo.Repo
	Hubs    []string // empty: every hub
	Env     string   // empty: every environment of each hub
	Release release.Options
	// Strict holds a chart whose dependencies no lock pins as a problem, for CI: each
	// deploy of such a chart may resolve other versions.
	Strict bool
	// Progress, if set, receives each result as soon as it is known.
	Progress func(Result)
}

// Run checks and returns one result per hub × environment (or per hub that failed to
// load). A named hub that does not exist is bad input: Run returns that
// *inputerr.Error before checking anything. A hub whose files are broken is a result
// with problems. Run fails only for that and for problems outside the repo's content.
func (v *Check) Run(ctx context.Context) ([]Result, error) {
	known, err := v.Repo.HubNames()
	if err != nil {
		return nil, err
	}
	names := v.Hubs
	if len(names) == 0 {
		names = known
	}
	for _, name := range names {
		if !slices.Contains(known, name) {
			if _, err := v.Repo.Hub(name); err != nil { // "not found", with a did-you-mean
				return nil, err
			}
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
			report(Result{Hub: name, Problems: lines(mask.New(nil), []error{err}), Duration: time.Since(start)})
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

// check runs every check of hub h in env that can run: lint and render need the
// values and the chart, the image paths need the chart; the others need nothing else.
func (v *Check) check(ctx context.Context, h *repo.Hub, env string) (res Result) {
	start := time.Now()
	res = Result{Hub: h.Name, Env: env}
	defer func() { res.Duration = time.Since(start) }()
	rel, err := release.Start(h, env, v.Release)
	if err != nil {
		res.Problems = lines(mask.New(nil), []error{err})
		return res
	}
	problems := []error{rel.ResolveImages()}
	for _, img := range rel.Resolved {
		problems = append(problems, img.CheckBuild())
	}
	valuesErr := rel.BuildValues()
	chartErr := rel.LoadChart(ctx)
	problems = append(problems, valuesErr, chartErr)
	if v.Strict {
		problems = append(problems, charts.RequireLock(rel.ChartDir, v.Repo.Rel(rel.ChartDir)))
	}
	if chartErr == nil {
		problems = append(problems, rel.CheckImagePaths())
	}
	var warnings []error
	if _, err := cluster.ForHub(h, rel.Namespace, rel.Decrypter(), cluster.Options{}); err != nil {
		if h.Config.Cluster == nil { // a deploy can still be given --kubeconfig
			warnings = append(warnings, err)
		} else {
			problems = append(problems, err)
		}
	}
	if valuesErr == nil && chartErr == nil {
		for _, m := range render.Lint(rel.ChartDir, rel.Namespace, rel.Values.Values) {
			switch m.Severity {
			case "error":
				problems = append(problems, errors.New("lint: "+m.Path+": "+m.Text))
			case "warning":
				warnings = append(warnings, errors.New("lint: "+m.Path+": "+m.Text))
			}
		}
		_, err := rel.Render(ctx)
		problems = append(problems, err)
	}
	res.Problems, res.Warnings = lines(rel.Masker, problems), lines(rel.Masker, warnings)
	return res
}

// lines gives each problem in errs its own line (an errors.Join holds several), masked
// by m, as any of them may quote a value; nil errors are skipped.
func lines(m *mask.Masker, errs []error) []string {
	var out []string
	for _, err := range errs {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			out = append(out, lines(m, joined.Unwrap())...)
		} else if err != nil {
			out = append(out, m.Error(err).Error())
		}
	}
	return out
}
