package charts_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"

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
		if err == nil || !strings.Contains(err.Error(), "its mirror "+srv.URL+" has no jupyterhub 4.3.3") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("lock out of sync", func(t *testing.T) {
		dir := copyChart(t)
		cy := filepath.Join(dir, "Chart.yaml")
		data, _ := os.ReadFile(cy)
		os.WriteFile(cy, []byte(strings.Replace(string(data), "version: 4.3.3", "version: 4.4.0", 1)), 0o644)
		_, err := (&charts.Loader{}).Load(ctx, dir, "hub")
		if err == nil || err.Error() != "hub/Chart.lock: is out of sync with Chart.yaml (run `hubploy lock hub` and commit hub/Chart.lock)" {
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

// An apiVersion v1 chart's requirements.lock that helm 2 wrote holds helm 2's digest,
// which helm 3 accepts too (testdata/helm2-lock/hub is helm's testcharts/issue-7233).
func TestHelm2RequirementsLock(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "helm2-lock"))); err != nil {
		t.Fatal(err)
	}
	c, err := (&charts.Loader{}).Load(context.Background(), filepath.Join(dir, "hub"), "hub")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Dependencies()) != 1 || c.Dependencies()[0].Name() != "alpine" {
		t.Fatalf("dependencies: %v", c.Dependencies())
	}
	requirements := filepath.Join(dir, "hub", "requirements.yaml")
	data, _ := os.ReadFile(requirements)
	os.WriteFile(requirements, []byte(strings.Replace(string(data), "version: 0.1.0", "version: ~0.1.0", 1)), 0o644)
	_, err = (&charts.Loader{}).Load(context.Background(), filepath.Join(dir, "hub"), "hub")
	if want := "hub/requirements.lock: is out of sync with requirements.yaml (run `hubploy lock hub` and commit hub/requirements.lock)"; err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

// A repository or mirror that sends without end is cut off at the limit, with one line
// naming the URL and the limit, rather than filling the memory.
func TestEndlessDownload(t *testing.T) {
	endless := func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("# more\n"), 1<<14)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	real := chartrepo.Serve(t, example.StandInChart())
	for _, tc := range []struct {
		name string
		mux  func(*http.ServeMux)
		want string
	}{
		{"index", func(m *http.ServeMux) { m.HandleFunc("/index.yaml", endless) },
			"/index.yaml: more than 20 MiB, the most hubploy reads of a repository index"},
		{"archive", func(m *http.ServeMux) {
			m.HandleFunc("/index.yaml", func(w http.ResponseWriter, r *http.Request) {
				resp, err := http.Get(real.URL + "/index.yaml")
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				io.Copy(w, resp.Body)
			})
			m.HandleFunc("/", endless)
		}, ".tgz: more than 50 MiB, the most hubploy reads of a chart archive"},
		{"announced", func(m *http.ServeMux) {
			m.HandleFunc("/index.yaml", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(charts.MaxIndexSize+1))
			})
		}, "/index.yaml: more than 20 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			tc.mux(mux)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			l := &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{z2jhRepo: srv.URL}}
			_, err := l.Load(context.Background(), exampleChart(), "hub")
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 4*charts.MaxArchiveSize {
				t.Errorf("read %d MiB", grew>>20)
			}
		})
	}
}

// The hubs of a run share one read of the chart folder: each Load is a copy, which
// helm changes as it processes one hub's values (here: a dependency disabled) without
// changing another hub's.
func TestLoadReadsOnceAndCopies(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"Chart.yaml":             "apiVersion: v2\nname: hub\nversion: 0.1.0\ndependencies:\n- name: sub\n  version: 0.1.0\n  condition: sub.enabled\n",
		"values.yaml":            "sub:\n  enabled: true\n  list: [a]\n",
		"templates/cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hub}\n",
		"charts/sub/Chart.yaml":  "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
		"charts/sub/values.yaml": "greeting: hello\n",
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := &charts.Loader{CacheDir: t.TempDir()}
	first, err := l.Load(context.Background(), dir, "hub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil { // a second read would fail now
		t.Fatal(err)
	}
	first.Dependencies()[0].Values["greeting"] = "changed"
	first.Values["sub"].(map[string]any)["list"].([]any)[0] = "changed"
	if err := chartutil.ProcessDependencies(first, map[string]any{"sub": map[string]any{"enabled": false}}); err != nil {
		t.Fatal(err)
	}
	second, err := l.Load(context.Background(), dir, "hub")
	if err != nil {
		t.Fatalf("a second Load read the folder again: %v", err)
	}
	if len(first.Dependencies()) != 0 || len(second.Dependencies()) != 1 || len(second.Metadata.Dependencies) != 1 {
		t.Fatalf("dependencies: first %d, second %d", len(first.Dependencies()), len(second.Dependencies()))
	}
	if got := second.Values["sub"].(map[string]any)["list"].([]any)[0]; got != "a" {
		t.Errorf("the first copy's values changed the second's: %v", got)
	}
	if got := second.Dependencies()[0].Values["greeting"]; got != "hello" {
		t.Errorf("a dependency's values: %v", got)
	}
	if second.Dependencies()[0].Parent() != second || len(second.Templates) != 1 {
		t.Errorf("the copy's dependency belongs to %p, not %p; %d templates", second.Dependencies()[0].Parent(), second, len(second.Templates))
	}
}
