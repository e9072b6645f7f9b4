// Package example locates hubs-example, the deployment repository the project ships, and
// copies it for tests that change it.
package example

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// Z2JHRepository is the chart repository the example's Chart.lock pins.
const Z2JHRepository = "https://hub.jupyter.org/helm-chart/"

// Dir is the hubs-example folder.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "hubs-example")
}

// StandInChart is the folder of the stand-in z2jh chart.
func StandInChart() string { return filepath.Join(Dir(), "offline-charts", "jupyterhub") }

// MirrorFolder is the local mirror of the z2jh repository: unpacked stand-in charts.
func MirrorFolder() string { return filepath.Join(Dir(), "offline-charts") }

// AgeKeyFile is the example-only age key that decrypts the example's secrets.
func AgeKeyFile() string { return filepath.Join(Dir(), "example-age-key.txt") }

// DataHubShaped is a deployment repository shaped like Berkeley DataHub's, written for
// the Python hubploy: test/compat/testdata/datahub-shaped.
func DataHubShaped() string {
	return filepath.Join(Dir(), "..", "test", "compat", "testdata", "datahub-shaped")
}

// DataHubChartRepository is the chart repository DataHub's umbrella chart names.
const DataHubChartRepository = "https://jupyterhub.github.io/helm-chart/"

// StandInAt writes a copy of the stand-in z2jh chart, made version version, into the
// folder dir/jupyterhub-<version>, and returns that folder.
func StandInAt(dir, version string) (string, error) {
	dst := filepath.Join(dir, "jupyterhub-"+version)
	if err := os.CopyFS(dst, os.DirFS(StandInChart())); err != nil {
		return "", err
	}
	meta := filepath.Join(dst, "Chart.yaml")
	data, err := os.ReadFile(meta)
	if err != nil {
		return "", err
	}
	v := regexp.MustCompile(`(?m)^version: .*$`)
	if !v.Match(data) {
		return "", fmt.Errorf("%s has no version line", meta)
	}
	return dst, os.WriteFile(meta, v.ReplaceAll(data, []byte("version: "+version)), 0o644)
}

// Copy copies hubs-example into a temporary folder and returns it.
func Copy(t testing.TB) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(Dir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(Dir(), p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
