package images_test

import (
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/hubploy/hubploy/pipeline/hubconfig"
	"github.com/hubploy/hubploy/pipeline/images"
)

func TestCheckPaths(t *testing.T) {
	z2jh := &chart.Chart{Metadata: &chart.Metadata{Name: "jupyterhub"},
		Values: map[string]any{"singleuser": map[string]any{"image": map[string]any{"name": "quay.io/jupyterhub/k8s-singleuser-sample", "tag": "4.3.3"}}}}
	vendored := &chart.Chart{Metadata: &chart.Metadata{Name: "extra"}, Values: map[string]any{"image": map[string]any{}}}
	umbrella := &chart.Chart{
		Metadata: &chart.Metadata{Name: "hub", Dependencies: []*chart.Dependency{{Name: "jupyterhub", Alias: "jh"}}},
		Values:   map[string]any{"jh": map[string]any{"hub": map[string]any{"image": map[string]any{"name": "x"}}}, "own": map[string]any{"image": "flat"}},
	}
	umbrella.SetDependencies(z2jh, vendored)
	before := len(z2jh.Values["singleuser"].(map[string]any))
	for path, want := range map[string]string{
		"jh.singleuser.image":         "",
		"jh.hub.image":                "", // the umbrella chart's own values count
		"extra.image":                 "", // a dependency vendored in charts/ without an entry
		"jupyterhub.singleuser.image": `"jupyterhub.singleuser.image" is not a mapping in the values of the chart hub or its dependencies (did you mean "jh.singleuser.image"?)`,
		"jh.singleuser.image.tag":     `"jh.singleuser.image.tag" is not a mapping`,
		"own.image":                   `"own.image" is not a mapping`,
		"nothing.like.it":             `(name the mapping that holds the image's name and tag, e.g. jupyterhub.singleuser.image)`,
	} {
		img := images.Image{HelmPath: path, ConfigFile: "d/hubploy.yaml", Config: hubconfig.Image{Key: "images.images[0]"}}
		err := images.CheckPaths(umbrella, "hub", []images.Image{img})
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", path, err)
		case want != "" && (err == nil || !strings.HasPrefix(err.Error(), `d/hubploy.yaml: key "images.images[0].helm_substitution_path": `) || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want …%s", path, err, want)
		}
	}
	if len(z2jh.Values["singleuser"].(map[string]any)) != before || len(umbrella.Values) != 2 {
		t.Error("the check changed the charts' values")
	}
	legacy := images.Image{HelmPath: "nope", ConfigFile: "d/hubploy.yaml", Config: hubconfig.Image{Key: "images"}}
	if err := images.CheckPaths(umbrella, "hub", []images.Image{legacy}); err == nil || !strings.Contains(err.Error(), `key "images.image_config_path"`) {
		t.Errorf("single-image form: %v", err)
	}
}
