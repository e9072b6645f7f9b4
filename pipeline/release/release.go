// Package release puts together what one hub's deployment to one environment needs:
// the umbrella chart with its dependencies, the layered values (secrets decrypted in
// memory), the image references, and a masker for anything shown to people.
package release

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/strictyaml"
	"github.com/hubploy/hubploy/pipeline/values"
)

// DefaultChartDir is the umbrella chart's folder in the repo, as in hubploy-template.
const DefaultChartDir = "hub"

// Options are shared by every hub and environment of a run.
type Options struct {
	ChartDir  string // relative to the repo root; empty means DefaultChartDir
	Namespace string // overrides the hub's namespace (for one hub only)
	Values    values.Options
	Decrypter *secrets.Decrypter
	Charts    *charts.Loader
}

// Release is one hub in one environment, ready to render or deploy.
type Release struct {
	Hub       *repo.Hub
	Env       string
	Name      string // helm release name
	Namespace string
	ChartDir  string // absolute
	Chart     *chart.Chart
	Images    []values.Image // as the environment deploys them: pinned, or from hubploy.yaml
	// Resolved are the same images with where each tag came from and the folder each
	// is built from.
	Resolved []images.Image
	Values   *values.Result
	// Masker hides the secrets and whatever the templates make of them; complete once
	// Trace has run.
	Masker *mask.Masker

	opts     Options
	traced   bool
	rendered string // Trace's render with the real values
	// renderErr is that render's error: shown only through Masker.
	renderErr error
}

// Prepare loads the hub's chart and values for env, stopping at the first step that
// fails: Start, ResolveImages, BuildValues, LoadChart, CheckImagePaths, Trace. A chart
// that does not render is no failure here: Render and a deploy say so.
func Prepare(ctx context.Context, h *repo.Hub, env string, opts Options) (*Release, error) {
	rel, err := Start(h, env, opts)
	if err != nil {
		return nil, err
	}
	steps := []func() error{rel.ResolveImages, rel.BuildValues, func() error { return rel.LoadChart(ctx) }, rel.CheckImagePaths,
		func() error { return rel.Trace(ctx) }}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return rel, nil
}

// Start checks that hub h has env and names the release; the other steps of Prepare
// fill it in. Its Masker masks nothing until BuildValues has read the secrets.
func Start(h *repo.Hub, env string, opts Options) (*Release, error) {
	if err := h.CheckEnv(env); err != nil {
		return nil, err
	}
	opts.Decrypter = cmp.Or(opts.Decrypter, &secrets.Decrypter{})
	opts.Charts = cmp.Or(opts.Charts, &charts.Loader{})
	rel := &Release{Hub: h, Env: env, ChartDir: filepath.Join(h.Repo.Root, cmp.Or(opts.ChartDir, DefaultChartDir)), Masker: mask.New(nil), opts: opts}
	var err error
	if rel.Name, rel.Namespace, err = h.ReleaseAndNamespace(env, opts.Namespace); err != nil {
		return nil, err
	}
	return rel, nil
}

// Decrypter is the decrypter the release reads secrets with.
func (rel *Release) Decrypter() *secrets.Decrypter { return rel.opts.Decrypter }

// ResolveImages sets the images the environment deploys: pinned, or from hubploy.yaml.
func (rel *Release) ResolveImages() error {
	imgs, err := images.Resolve(rel.Hub, rel.Env)
	if err != nil {
		return err
	}
	rel.Resolved = imgs
	for _, img := range imgs {
		rel.Images = append(rel.Images, values.Image{Path: img.HelmPath, Name: img.Name, Tag: img.Tag})
	}
	return nil
}

// BuildValues layers the values, with the images resolved so far, and sets Masker to
// hide what came from secret files.
func (rel *Release) BuildValues() error {
	vo := rel.opts.Values
	vo.Images = append(append([]values.Image(nil), vo.Images...), rel.Images...)
	v, err := values.Build(rel.Hub, rel.Env, rel.opts.Decrypter, vo)
	if err != nil {
		return err
	}
	rel.Values = v
	rel.setMasker(mask.New(v.SecretStrings))
	return nil
}

// setMasker makes m the release's masker, and the standard logger's too, through which
// helm prints messages that can quote values.
func (rel *Release) setMasker(m *mask.Masker) {
	rel.Masker = m
	mask.StdLog.Add(m)
}

// LoadChart loads the umbrella chart with its dependencies.
func (rel *Release) LoadChart(ctx context.Context) error {
	ch, err := rel.opts.Charts.Load(ctx, rel.ChartDir, rel.Hub.Repo.Rel(rel.ChartDir))
	if err != nil {
		return err
	}
	rel.Chart = ch
	return nil
}

// CheckImagePaths checks, once LoadChart has loaded the chart, that the chart reads
// each image's helm_substitution_path; the error joins one error per image.
func (rel *Release) CheckImagePaths() error {
	var errs []error
	for _, img := range rel.Resolved {
		errs = append(errs, images.CheckPaths(rel.Chart, rel.Hub.Repo.Rel(rel.ChartDir), []images.Image{img}))
	}
	return errors.Join(errs...)
}

// CheckChartVersion refuses a chart whose version is not want (no check when empty),
// as helm's --version pins a chart.
func (rel *Release) CheckChartVersion(want string) error {
	if want == "" || rel.Chart.Metadata.Version == want {
		return nil
	}
	return &inputerr.Error{File: rel.Hub.Repo.Rel(rel.ChartDir) + "/Chart.yaml", Key: "version",
		Msg:  fmt.Sprintf("is %s, but version %s was asked for", rel.Chart.Metadata.Version, want),
		Hint: "check out the commit with that chart version, or drop the version option"}
}

// Render renders the release's manifests (Trace's render, once traced). The result
// holds secrets: show it to people only through Masker.Manifest.
func (rel *Release) Render(ctx context.Context) (string, error) {
	if !rel.traced {
		if err := rel.Trace(ctx); err != nil {
			return "", err
		}
	}
	if rel.renderErr != nil {
		// Helm's message can quote values: mask it, on one line.
		msg := rel.Masker.Error(rel.renderErr).Error()
		return "", &inputerr.Error{File: rel.Hub.Repo.Rel(rel.ChartDir),
			Msg:  fmt.Sprintf("cannot render hub %s for %s: %s", rel.Hub.Name, rel.Env, msg),
			Hint: schemaHint(msg, rel.Chart)}
	}
	return rel.rendered, nil
}

var unknownProperty = regexp.MustCompile(`additional properties? '([^']+)' not allowed`)

// schemaHint suggests the known key nearest to a key the values schema refused.
func schemaHint(msg string, ch *chart.Chart) string {
	const generic = "fix the values or template the message names"
	m := unknownProperty.FindStringSubmatch(msg)
	if m == nil {
		return generic
	}
	var keys []string
	var collect func(c *chart.Chart)
	collect = func(c *chart.Chart) {
		keys = append(keys, valueKeys(c.Values)...)
		for _, d := range c.Dependencies() {
			collect(d)
		}
	}
	collect(ch)
	if s := strictyaml.Nearest(m[1], keys); s != "" {
		return fmt.Sprintf("did you mean %q? %s", s, generic)
	}
	return generic
}

// valueKeys lists the keys of a values tree at every depth.
func valueKeys(v map[string]any) []string {
	var keys []string
	for k, c := range v {
		keys = append(keys, k)
		if m, ok := c.(map[string]any); ok {
			keys = append(keys, valueKeys(m)...)
		}
	}
	return keys
}
