// Package example locates hubs-example, the deployment repository the project ships, and
// copies it for tests that change it.
package example

import (
	"io/fs"
	"os"
	"path/filepath"
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
