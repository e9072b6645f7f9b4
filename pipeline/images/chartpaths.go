package images

import (
	"cmp"
	"fmt"
	"sort"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/strictyaml"
	"github.com/hubploy/hubploy/pipeline/values"
)

// CheckPaths checks that each image's helm_substitution_path is a mapping in the
// default values of the chart ch (shown as chartDisplay) and its dependencies, so that
// the name and tag written there are where the chart reads them: a misspelled path
// would deploy the chart's default image without a word.
func CheckPaths(ch *chart.Chart, chartDisplay string, imgs []Image) error {
	if len(imgs) == 0 {
		return nil
	}
	defaults := chartDefaults(ch)
	for _, img := range imgs {
		if v, ok := values.Lookup(defaults, img.HelmPath); ok {
			if _, isMap := v.(map[string]any); isMap {
				continue
			}
		}
		hint := "name the mapping that holds the image's name and tag, e.g. " + "jupyterhub.singleuser.image"
		if n := strictyaml.Nearest(img.HelmPath, mapPaths(defaults, "")); n != "" {
			hint = fmt.Sprintf("did you mean %q?", n)
		}
		return &inputerr.Error{File: img.ConfigFile, Key: img.Config.KeyOf("helm_substitution_path"),
			Msg:  fmt.Sprintf("%q is not a mapping in the values of the chart %s or its dependencies", img.HelmPath, chartDisplay),
			Hint: hint}
	}
	return nil
}

// chartDefaults are the values ch renders with when given none: its own over its
// dependencies', which sit under their alias or name. Nothing in ch is changed.
func chartDefaults(ch *chart.Chart) map[string]any {
	loaded := map[string]*chart.Chart{}
	for _, d := range ch.Dependencies() {
		loaded[d.Name()] = d
	}
	subs := map[string]any{}
	listed := map[string]bool{}
	for _, d := range ch.Metadata.Dependencies {
		if sub, ok := loaded[d.Name]; ok {
			subs[cmp.Or(d.Alias, d.Name)] = chartDefaults(sub)
			listed[d.Name] = true
		}
	}
	for n, sub := range loaded {
		if !listed[n] { // vendored in charts/ without a Chart.yaml entry
			subs[n] = chartDefaults(sub)
		}
	}
	return values.Overlay(subs, ch.Values)
}

// mapPaths lists the dotted paths of every mapping in v, sorted.
func mapPaths(v map[string]any, prefix string) []string {
	var paths []string
	for k, c := range v {
		if m, ok := c.(map[string]any); ok {
			p := prefix + k
			paths = append(append(paths, p), mapPaths(m, p+".")...)
		}
	}
	sort.Strings(paths)
	return paths
}
