package charts_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/chartrepo"
	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

const z2jhRepo = example.Z2JHRepository

func exampleChart() string { return filepath.Join(example.Dir(), "hub") }

// copyChart copies the example umbrella chart so a test can break it.
func copyChart(t *testing.T) string {
	return filepath.Join(example.Copy(t), "hub")
}

func TestLoadThroughHTTPRepositoryAndCache(t *testing.T) {
	srv := chartrepo.Serve(t, example.StandInChart())
	cache := t.TempDir()
	var downloads []string
	newLoader := func() *charts.Loader {
		return &charts.Loader{CacheDir: cache, Mirrors: map[string]string{strings.TrimSuffix(z2jhRepo, "/"): srv.URL},
			Progress: func(f string, a ...any) { downloads = append(downloads, f) }}
	}
	c, err := newLoader().Load(context.Background(), exampleChart(), "hub")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Dependencies()) != 1 || c.Dependencies()[0].Name() != "jupyterhub" || c.Dependencies()[0].Metadata.Version != "4.3.3" {
		t.Fatalf("dependencies: %v", c.Dependencies())
	}
	first := srv.Requests()
	if first != 2 || len(downloads) != 1 {
		t.Fatalf("first load: %d requests, %d downloads; want index + archive", first, len(downloads))
	}
	// A second run, in a new loader as a new process would have, downloads nothing.
	if _, err := newLoader().Load(context.Background(), exampleChart(), "hub"); err != nil {
		t.Fatal(err)
	}
	if srv.Requests() != first || len(downloads) != 1 {
		t.Fatalf("re-load made %d more requests", srv.Requests()-first)
	}
	if entries, _ := filepath.Glob(filepath.Join(cache, "*", "jupyterhub-4.3.3.tgz")); len(entries) != 1 {
		t.Fatalf("cache holds %v", entries)
	}
	// The same lock from another source is cached apart: a mirror's chart never
	// stands in for the real repository's.
	other := chartrepo.Serve(t, example.StandInChart())
	l := &charts.Loader{CacheDir: cache, Mirrors: map[string]string{z2jhRepo: other.URL}}
	if _, err := l.Load(context.Background(), exampleChart(), "hub"); err != nil {
		t.Fatal(err)
	}
	if other.Requests() != 2 {
		t.Fatalf("second source was not fetched: %d requests", other.Requests())
	}
}

func TestLoadFromMirrorFolder(t *testing.T) {
	mirror := example.MirrorFolder()
	l := &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{strings.TrimSuffix(z2jhRepo, "/"): mirror}}
	c, err := l.Load(context.Background(), exampleChart(), "hub")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Dependencies()) != 1 {
		t.Fatal("no dependency loaded")
	}
}

func TestParseMirrors(t *testing.T) {
	m, err := charts.ParseMirrors([]string{"", "https://a/=http://b/, https://c=/d", "https://e/=./f"})
	if err != nil {
		t.Fatal(err)
	}
	if m["https://a"] != "http://b/" || m["https://c"] != "/d" || m["https://e"] != "./f" || len(m) != 3 {
		t.Fatalf("got %v", m)
	}
	if _, err := charts.ParseMirrors([]string{"nope"}); err == nil || !inputerr.Is(err) {
		t.Fatalf("bad spec: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("unreachable", func(t *testing.T) {
		l := &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{strings.TrimSuffix(z2jhRepo, "/"): "http://127.0.0.1:1/charts/"}}
		_, err := l.Load(ctx, exampleChart(), "hub")
		want := "hub: dependency jupyterhub 4.3.3 from https://hub.jupyter.org/helm-chart/: not reachable: GET http://127.0.0.1:1/charts/index.yaml: "
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "--chart-mirror") {
			t.Fatalf("got  %v\nwant %s…", err, want)
		}
	})
	t.Run("version missing from repository", func(t *testing.T) {
		dir := copyChart(t)
		srv := chartrepo.Serve(t, dir) // serves the umbrella chart only
		l := &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{strings.TrimSuffix(z2jhRepo, "/"): srv.URL}}
		_, err := l.Load(ctx, exampleChart(), "hub")
		if err == nil || !strings.Contains(err.Error(), "the repository has no jupyterhub 4.3.3") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("lock out of sync", func(t *testing.T) {
		dir := copyChart(t)
		cy := filepath.Join(dir, "Chart.yaml")
		data, _ := os.ReadFile(cy)
		os.WriteFile(cy, []byte(strings.Replace(string(data), "version: 4.3.3", "version: 4.4.0", 1)), 0o644)
		_, err := (&charts.Loader{}).Load(ctx, dir, "hub")
		if err == nil || err.Error() != "hub/Chart.lock: is out of sync with Chart.yaml (run `helm dependency update hub` and commit Chart.lock)" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no lock", func(t *testing.T) {
		dir := copyChart(t)
		os.Remove(filepath.Join(dir, "Chart.lock"))
		_, err := (&charts.Loader{}).Load(ctx, dir, "hub")
		if err == nil || !strings.HasPrefix(err.Error(), "hub/Chart.yaml: has dependencies but no Chart.lock pins them") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("not a chart", func(t *testing.T) {
		_, err := (&charts.Loader{}).Load(ctx, t.TempDir(), "hub")
		if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), "hub: cannot load the chart") {
			t.Fatalf("got %v", err)
		}
	})
}
