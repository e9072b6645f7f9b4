// Package release puts together what one hub's deployment to one environment needs:
// the umbrella chart with its dependencies, the layered values (secrets decrypted in
// memory), the image references, and a masker for anything shown to people.
package release

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/render"
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
	Values    *values.Result
	Masker    *mask.Masker
}

// Prepare loads the hub's chart and values for env.
func Prepare(ctx context.Context, h *repo.Hub, env string, opts Options) (*Release, error) {
	if err := h.CheckEnv(env); err != nil {
		return nil, err
	}
	rel := &Release{Hub: h, Env: env}
	rel.Name, rel.Namespace = h.Config.ReleaseAndNamespace(h.Name, env)
	if opts.Namespace != "" {
		rel.Namespace = opts.Namespace
	}
	chartDir := opts.ChartDir
	if chartDir == "" {
		chartDir = DefaultChartDir
	}
	rel.ChartDir = filepath.Join(h.Repo.Root, chartDir)
	imgs, err := images.Resolve(h, env)
	if err != nil {
		return nil, err
	}
	for _, img := range imgs {
		rel.Images = append(rel.Images, values.Image{Path: img.HelmPath, Name: img.Name, Tag: img.Tag})
	}
	vo := opts.Values
	vo.Images = append(append([]values.Image(nil), vo.Images...), rel.Images...)
	dec := opts.Decrypter
	if dec == nil {
		dec = &secrets.Decrypter{}
	}
	if rel.Values, err = values.Build(h, env, dec, vo); err != nil {
		return nil, err
	}
	rel.Masker = mask.New(rel.Values.SecretStrings)
	loader := opts.Charts
	if loader == nil {
		loader = &charts.Loader{}
	}
	if rel.Chart, err = loader.Load(ctx, rel.ChartDir, h.Repo.Rel(rel.ChartDir)); err != nil {
		return nil, err
	}
	if err := images.CheckPaths(rel.Chart, h.Repo.Rel(rel.ChartDir), imgs); err != nil {
		return nil, err
	}
	return rel, nil
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

// Render renders the release's manifests. The result holds secrets: show it to people
// only through Masker.Manifest.
func (rel *Release) Render(ctx context.Context) (string, error) {
	r := &render.Render{ReleaseName: rel.Name, Namespace: rel.Namespace}
	out, err := r.Run(ctx, rel.Chart, rel.Values.Values)
	if err != nil {
		// Helm's message can quote values: mask it. It spans lines: make it one.
		msg := strings.Join(strings.Fields(rel.Masker.String(err.Error())), " ")
		return "", &inputerr.Error{File: rel.Hub.Repo.Rel(rel.ChartDir),
			Msg:  fmt.Sprintf("cannot render hub %s for %s: %s", rel.Hub.Name, rel.Env, msg),
			Hint: schemaHint(msg, rel.Chart)}
	}
	return out, nil
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
