// Package validate checks every hub of a repo in every environment, the way a deploy
// would use them, without a cluster: hubploy.yaml, the images (their folders, pins, and
// helm_substitution_paths the chart reads), values layering and decryption, the chart's
// values schema, helm's linter and a full render. It reports every problem, not just
// the first.
package validate

import (
	"context"
	"time"

	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/render"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// Result is the outcome for one hub, and one environment when it got that far.
type Result struct {
	Hub      string        `json:"hub"`
	Env      string        `json:"env,omitempty"`
	Problems []string      `json:"problems,omitempty"`
	Warnings []string      `json:"warnings,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// OK reports whether the check found no problem.
func (r Result) OK() bool { return len(r.Problems) == 0 }

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
