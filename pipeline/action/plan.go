package action

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/plan"
	"github.com/hubploy/hubploy/pipeline/release"
)

// Plan says what a change deploys: which hubs in which environments, and which images
// must be built first, each with the changed files that make it so (see plan.Make
// for the rules). The change is what Head changed since its merge base with Base, read
// from git, or a list of changed files. The repository's layout (hubs, environments,
// image folders) is its working tree's.
type Plan struct {
	*Config
	// Base is a git revision (a commit, branch or tag): a pull request's target, or a
	// push's previous commit.
	Base string
	// Head is the revision whose changes are planned; empty: HEAD.
	Head string
	// ChangedFiles, when Base is empty, are the changed files, relative to the
	// repository's root: a CI system's list.
	ChangedFiles []string
	// Env limits the plan to one environment; empty: every one.
	Env string
	// CheckRegistry makes the builds exact: every image built from a folder whose tag
	// the registry lacks, and none whose tag it has (plan.WithRegistry).
	CheckRegistry bool
	// Registry is how CheckRegistry reaches the registries.
	Registry Registry
}

// Run makes the plan.
func (p *Plan) Run(ctx context.Context) (*plan.Plan, error) {
	if p.Base == "" && p.Head != "" {
		return nil, &inputerr.Error{Key: "--head", Msg: "needs --base", Hint: "give --base, the revision the change is compared with"}
	}
	if (p.Base == "") == (p.ChangedFiles == nil) {
		return nil, &inputerr.Error{Key: "--base", Msg: "give either --base (a git revision) or --changed-files (a list), one of them",
			Hint: "e.g. --base origin/staging in a pull request, or --changed-files - with the list on standard input"}
	}
	r, err := p.Repo()
	if err != nil {
		return nil, err
	}
	if p.Env != "" {
		if _, err := r.HubsWithEnv(p.Env); err != nil {
			return nil, err
		}
	}
	layout, err := plan.ReadLayout(r, cmp.Or(p.Settings.ChartDir, release.DefaultChartDir), p.shared())
	if err != nil {
		return nil, err
	}
	var pl *plan.Plan
	switch {
	case p.Base == "":
		pl = plan.Make(layout, p.ChangedFiles)
	case strings.Trim(p.Base, "0") == "" && len(p.Base) >= 40:
		// GitHub's and GitLab's "before" of a push that created the branch.
		pl = plan.Everything(layout, nil, "the push created the branch: there is no commit before it to compare with")
	default:
		changes, err := plan.Changes(r.Root, p.Base, cmp.Or(p.Head, "HEAD"))
		if err != nil {
			return nil, err
		}
		if changes.Unrelated != "" {
			pl = plan.Everything(layout, nil, changes.Unrelated)
		} else {
			pl = plan.Make(layout, changes.Files)
		}
		pl.Base, pl.Head = changes.Base, changes.Head
	}
	if p.Env != "" {
		pl = pl.ForEnv(p.Env)
	}
	if p.CheckRegistry {
		imgs, err := p.inRegistry(ctx, layout)
		if err != nil {
			return nil, err
		}
		pl.WithRegistry(imgs)
	}
	return pl, nil
}

// inRegistry asks the registries about the image of each folder of the hubs the plan
// is about (the hubs with Env, or all), with the tag its folder makes.
func (p *Plan) inRegistry(ctx context.Context, layout *plan.Layout) ([]plan.InRegistry, error) {
	var out []plan.InRegistry
	for _, lh := range layout.Hubs {
		if len(lh.Images) == 0 || (p.Env != "" && !slices.Contains(lh.Envs, p.Env)) {
			continue
		}
		h, err := p.hub(lh.Name)
		if err != nil {
			return nil, err
		}
		imgs, err := images.ToBuild(h, "", "")
		if err != nil {
			return nil, err
		}
		for _, st := range p.check(ctx, h, imgs, p.Registry) {
			if st.Err != nil {
				return nil, fmt.Errorf("cannot ask the registry about %s: %w", st.Ref(), st.Err)
			}
			out = append(out, plan.InRegistry{Hub: lh.Name, Image: st.Name, Folder: st.ContextDisplay, Tag: st.Tag, Present: st.Exists})
		}
	}
	return out, nil
}

// shared are the files every hub reads besides the repository's own: the values files
// given on top of them, and chart mirrors in local folders.
func (p *Plan) shared() []string {
	files := slices.Clone(p.Release.Values.ValueFiles)
	for _, m := range p.Release.Charts.Mirrors {
		if !strings.Contains(m, "://") {
			files = append(files, m)
		}
	}
	return files
}
