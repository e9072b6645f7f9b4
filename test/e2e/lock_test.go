package e2e

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A repository whose umbrella chart has no Chart.lock, as Berkeley DataHub's: validate
// and render resolve its dependencies without writing into the chart folder and say
// once what they resolved to; validate --strict refuses it; hubploy lock writes the
// lock, which --strict then accepts.
func TestChartWithoutLock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hub := filepath.Join(e.Repo, "hub")
	if err := os.Remove(filepath.Join(hub, "Chart.lock")); err != nil {
		t.Fatal(err)
	}
	chartYAML := filepath.Join(hub, "Chart.yaml")
	data, err := os.ReadFile(chartYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(chartYAML, []byte(strings.Replace(string(data), "version: 4.3.3", "version: ^4.0.0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	before := chartFiles(t, hub)

	const notice = "hubploy: hub/Chart.yaml: no Chart.lock pins the dependencies, resolved as `helm dependency update` would: jupyterhub 4.3.3 (for ^4.0.0); " +
		"run `hubploy lock hub` and commit hub/Chart.lock, so that every deploy uses the same versions\n"
	code, out, errOut := e.Run("validate")
	if code != 0 || strings.Count(errOut, notice) != 1 {
		t.Fatalf("validate: exit %d, the notice %d times\nstdout: %s\nstderr: %s", code, strings.Count(errOut, notice), out, errOut)
	}
	e.MustRun("render", "datahub", "staging")
	if after := chartFiles(t, hub); !slices.Equal(before, after) {
		t.Fatalf("the chart folder changed:\nbefore %q\nafter  %q", before, after)
	}

	code, out, errOut = e.Run("validate", "--strict", "datahub")
	const problem = "error: hub/Chart.yaml: has dependencies that no Chart.lock pins (run `hubploy lock hub` and commit hub/Chart.lock)"
	if code != 1 || strings.Count(out, problem) != 2 {
		t.Fatalf("validate --strict: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	if out := e.MustRun("lock"); out != "wrote hub/Chart.lock:\n  jupyterhub → 4.3.3 (^4.0.0, from https://hub.jupyter.org/helm-chart/)\n" {
		t.Fatalf("lock printed %q", out)
	}
	lock, err := os.ReadFile(filepath.Join(hub, "Chart.lock"))
	if err != nil || !strings.Contains(string(lock), "  version: 4.3.3\n") {
		t.Fatalf("Chart.lock: %s %v", lock, err)
	}
	others := slices.DeleteFunc(chartFiles(t, hub), func(f string) bool { return strings.HasPrefix(f, "Chart.lock ") })
	if !slices.Equal(others, before) {
		t.Fatalf("lock wrote more than Chart.lock: %q", others)
	}

	var res struct {
		File         string `json:"file"`
		Written      bool   `json:"written"`
		Dependencies []struct {
			Name, Version string
		} `json:"dependencies"`
	}
	if err := json.Unmarshal([]byte(e.MustRun("lock", "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.File != "hub/Chart.lock" || res.Written || len(res.Dependencies) != 1 || res.Dependencies[0].Version != "4.3.3" {
		t.Fatalf("lock -o json: %+v", res)
	}
	if again, _ := os.ReadFile(filepath.Join(hub, "Chart.lock")); string(again) != string(lock) {
		t.Fatal("a current lock was rewritten")
	}
	code, out, errOut = e.Run("validate", "--strict", "datahub")
	if code != 0 || strings.Contains(errOut, "no Chart.lock pins") {
		t.Fatalf("validate --strict with the lock: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// chartFiles lists a chart folder's files, with their sizes and times of change.
func chartFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out = append(out, rel+"/")
		} else {
			out = append(out, fmt.Sprintf("%s %d %s", rel, info.Size(), info.ModTime()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
