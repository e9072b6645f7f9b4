package action

import (
	"context"
	"path"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hubploy/hubploy/pipeline/validate"
)

// Validate checks hubs in every environment (or one), as a deploy would use them,
// without a cluster: see pipeline/validate.
type Validate struct {
	*Config
	Hubs []string // empty: every hub
	Env  string   // empty: every environment of each hub
	// Strict holds a chart whose dependencies no lock pins as a problem (for CI).
	Strict bool
	// Progress, if set, receives each result as soon as it is known.
	Progress func(validate.Result)
}

// ValidateReport is every hub × environment's result.
type ValidateReport struct {
	OK      bool              `json:"ok"` // no problem found
	Failed  int               `json:"failed"`
	Results []validate.Result `json:"results"`
}

// Run validates. A hub name that does not exist is bad input (an error); a hub whose
// files are broken is a result with problems.
func (v *Validate) Run(ctx context.Context) (*ValidateReport, error) {
	r, err := v.Repo()
	if err != nil {
		return nil, err
	}
	results, err := (&validate.Check{Repo: r, Hubs: v.Hubs, Env: v.Env, Release: v.Release, Strict: v.Strict, Progress: v.Progress}).Run(ctx)
	if err != nil {
		return nil, err
	}
	rep := &ValidateReport{Results: results}
	for _, res := range results {
		if !res.OK() {
			rep.Failed++
		}
	}
	rep.OK = rep.Failed == 0
	return rep, nil
}

// Render renders one hub's manifests for an environment, secrets masked.
type Render struct {
	*Config
	Hub, Env string
}

// RenderResult is a masked manifest, whole and split into its objects.
type RenderResult struct {
	Hub       string `json:"hub"`
	Env       string `json:"env"`
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	// Manifest is the whole masked stream, as `helm template` prints it.
	Manifest string   `json:"-"`
	Objects  []Object `json:"objects"`
}

// Object is one document of a rendered manifest.
type Object struct {
	Source     string `json:"source"` // the template it came from
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
	// Object is the document's content, masked.
	Object map[string]any `json:"object"`
	yaml   string
}

// Run renders.
func (r *Render) Run(ctx context.Context) (*RenderResult, error) {
	rel, err := r.prepare(ctx, r.Hub, r.Env, "")
	if err != nil {
		return nil, err
	}
	manifest, err := rel.Render(ctx)
	if err != nil {
		return nil, err
	}
	res := &RenderResult{Hub: r.Hub, Env: r.Env, Release: rel.Name, Namespace: rel.Namespace, Manifest: rel.Masker.Manifest(manifest)}
	res.Objects, err = splitObjects(res.Manifest)
	if err != nil {
		return nil, rel.Masker.Error(err)
	}
	return res, nil
}

var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitObjects parses a manifest's documents, skipping empty ones.
func splitObjects(manifest string) ([]Object, error) {
	var out []Object
	for _, doc := range documentSeparator.Split(manifest, -1) {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, err
		}
		if len(obj) == 0 {
			continue
		}
		o := Object{Source: "manifest.yaml", Object: obj, yaml: strings.Trim(doc, "\n")}
		for _, line := range strings.SplitN(strings.TrimLeft(doc, "\n"), "\n", 3) {
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				o.Source = path.Clean(strings.TrimSpace(s))
				break
			}
		}
		o.APIVersion, _ = obj["apiVersion"].(string)
		o.Kind, _ = obj["kind"].(string)
		if meta, ok := obj["metadata"].(map[string]any); ok {
			o.Name, _ = meta["name"].(string)
			o.Namespace, _ = meta["namespace"].(string)
		}
		out = append(out, o)
	}
	return out, nil
}

// Files files the objects under the template each came from, as `helm template
// --output-dir` does. A source that would leave the folder goes to manifest.yaml.
func (r *RenderResult) Files() map[string]string {
	files := map[string]string{}
	for _, o := range r.Objects {
		name := o.Source
		if name == "." || strings.HasPrefix(name, "../") || strings.HasPrefix(name, "/") {
			name = "manifest.yaml"
		}
		files[name] += "---\n" + o.yaml + "\n"
	}
	return files
}
