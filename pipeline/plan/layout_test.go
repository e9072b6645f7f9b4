package plan

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hubploy/hubploy/pipeline/repo"
)

// writeFiles writes files (path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// layoutFiles are a repository of two hubs, datahub with an image built from a folder
// and one deployed by its tag, and an umbrella chart with a local dependency, which
// has one of its own.
var layoutFiles = map[string]string{
	"deployments/datahub/hubploy.yaml": `images:
  images:
    - name: registry.example.org/datahub/user-image
      path: images/user
    - name: registry.example.org/datahub/other:1.0
`,
	"deployments/datahub/config/common.yaml":  "{}\n",
	"deployments/datahub/config/prod.yaml":    "{}\n",
	"deployments/datahub/config/staging.yaml": "{}\n",
	"deployments/stat20/hubploy.yaml":         "cluster:\n  provider: kubeconfig\n  kubeconfig:\n    filename: kubeconfig.yaml\n",
	"deployments/stat20/config/prod.yaml":     "{}\n",
	"deployments/notes/README.md":             "not a hub\n",
	"hub/Chart.yaml":                          "apiVersion: v2\nname: hub\nversion: 0.1.0\ndependencies:\n  - name: lib\n    version: 0.1.0\n    repository: file://../charts/lib\n",
	"charts/lib/Chart.yaml":                   "apiVersion: v2\nname: lib\nversion: 0.1.0\ndependencies:\n  - name: base\n    version: 0.1.0\n    repository: file://../base\n  - name: lib\n    version: 0.1.0\n    repository: file://.\n",
	"charts/base/Chart.yaml":                  "apiVersion: v2\nname: base\nversion: 0.1.0\n",
}

func TestReadLayout(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, layoutFiles)
	r, err := repo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ReadLayout(r, "hub", []string{"shared/values.yaml", filepath.Join(dir, "more.yaml"), filepath.Join(t.TempDir(), "elsewhere.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	want := &Layout{
		Charts: []string{"hub", "charts/lib", "charts/base"},
		Shared: []string{"shared/values.yaml", "more.yaml"},
		Hubs: []Hub{
			{Name: "datahub", Envs: []string{"prod", "staging"}, Images: []Image{{Name: "registry.example.org/datahub/user-image", Folder: "deployments/datahub/images/user"}}},
			{Name: "stat20", Envs: []string{"prod"}},
		},
	}
	if !reflect.DeepEqual(l, want) {
		t.Errorf("layout %+v\nwant %+v", l, want)
	}
	// A chart that does not load is still the chart.
	if l, err := ReadLayout(r, "missing", nil); err != nil || !reflect.DeepEqual(l.Charts, []string{"missing"}) {
		t.Errorf("%v, %v", l, err)
	}
	writeFiles(t, dir, map[string]string{"deployments/broken/hubploy.yaml": "imagez: {}\n"})
	if _, err := ReadLayout(r, "hub", nil); err == nil {
		t.Error("a broken hubploy.yaml gave no error")
	}
}
