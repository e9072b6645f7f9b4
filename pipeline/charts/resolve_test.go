package charts_test

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/hubploy/hubploy/internal/chartrepo"
	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// depVersions are the versions of the chart "dep" the tests' repositories hold: the
// newest that ^1.0.0 allows is 1.10.1 (not 1.2.0, as a string sort would have it, nor
// the pre-release, nor 2.0.0).
var depVersions = []string{"1.0.0", "1.2.0", "1.10.1", "1.11.0-rc.1", "2.0.0"}

// newChart writes a chart folder and returns it; deps is its Chart.yaml's dependencies
// block.
func newChart(t *testing.T, name, version, deps string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	chartYAML := fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version)
	if deps != "" {
		chartYAML += "dependencies:\n" + deps
	}
	writeFile(t, filepath.Join(dir, "Chart.yaml"), chartYAML)
	writeFile(t, filepath.Join(dir, "templates", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Chart.Name }}-{{ .Chart.Version }}\n")
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// depCharts writes a folder of chart "dep" for each of versions.
func depCharts(t *testing.T, versions ...string) []string {
	var dirs []string
	for _, v := range versions {
		dirs = append(dirs, newChart(t, "dep", v, ""))
	}
	return dirs
}

// files lists a folder's files with their sizes and modes, to show it was not written.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %v %d %v", p, info.Mode(), info.Size(), info.ModTime()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// versionsOf lists the versions of the dependencies Load added, by name.
func versionsOf(c *chart.Chart) []string {
	var out []string
	for _, d := range c.Dependencies() {
		out = append(out, d.Name()+" "+d.Metadata.Version)
	}
	slices.Sort(out)
	return out
}

// notices collects what a loader says.
type notices struct {
	mu    sync.Mutex
	lines []string
}

func (n *notices) add(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lines = append(n.lines, fmt.Sprintf(format, args...))
}

// resolved are the notices about resolved versions, not downloads.
func (n *notices) resolved() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, l := range n.lines {
		if !strings.HasPrefix(l, "downloading ") {
			out = append(out, l)
		}
	}
	return out
}

func TestLoadWithoutLockResolvesTheNewestAllowed(t *testing.T) {
	srv := chartrepo.Serve(t, depCharts(t, depVersions...)...)
	dir := newChart(t, "hub", "0.1.0", fmt.Sprintf(`  - name: dep
    version: ^1.0.0
    repository: %[1]s
  - name: dep
    alias: pinned
    version: 1.2.0
    repository: %[1]s
`, srv.URL))
	before := files(t, dir)
	said := &notices{}
	l := &charts.Loader{CacheDir: t.TempDir(), Progress: said.add}
	c, err := l.Load(context.Background(), dir, "hub")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := versionsOf(c), []string{"dep 1.10.1", "dep 1.2.0"}; !slices.Equal(got, want) {
		t.Fatalf("dependencies %v, want %v", got, want)
	}
	// One index for resolving and downloading, and the two archives.
	if n := srv.Requests(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	want := "hub/Chart.yaml: no Chart.lock pins the dependencies, resolved as `helm dependency update` would: dep 1.10.1 (for ^1.0.0), dep 1.2.0; " +
		"run `hubploy lock hub` and commit hub/Chart.lock, so that every deploy uses the same versions"
	if got := said.resolved(); len(got) != 1 || got[0] != want {
		t.Errorf("said %q\nwant %q", got, want)
	}
	// The alias is kept for rendering: helm's dependency processing names the copy.
	if a := c.Metadata.Dependencies[1].Alias; a != "pinned" {
		t.Errorf("alias %q", a)
	}
	if after := files(t, dir); !slices.Equal(before, after) {
		t.Errorf("the chart folder changed:\n%v\n%v", before, after)
	}
	// The same chart again in the run: resolved already, archives cached.
	if _, err := l.Load(context.Background(), dir, "hub"); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(); n != 3 || len(said.resolved()) != 1 {
		t.Errorf("a second load: %d requests in all, %d notices", n, len(said.resolved()))
	}
}

// Parallel hubs share one chart: it is resolved, and said, once.
func TestLoadWithoutLockResolvesOnceUnderConcurrentLoads(t *testing.T) {
	srv := chartrepo.Serve(t, depCharts(t, depVersions...)...)
	dir := newChart(t, "hub", "0.1.0", "  - name: dep\n    version: 1.x\n    repository: "+srv.URL+"\n")
	indexRequests := &counter{}
	said := &notices{}
	l := &charts.Loader{CacheDir: t.TempDir(), Progress: said.add, Client: &http.Client{Transport: indexRequests}}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			c, err := l.Load(context.Background(), dir, "hub")
			if err == nil && !slices.Equal(versionsOf(c), []string{"dep 1.10.1"}) {
				err = fmt.Errorf("dependencies %v", versionsOf(c))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := indexRequests.get(); n != 1 {
		t.Errorf("index fetched %d times", n)
	}
	if got := said.resolved(); len(got) != 1 || !strings.Contains(got[0], "dep 1.10.1 (for 1.x)") {
		t.Errorf("said %q", got)
	}
}

// counter is an HTTP transport that counts requests for index.yaml.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/index.yaml") {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func TestLoadWithoutLockFromMirrorFolders(t *testing.T) {
	const repository = "https://charts.example.org/"
	dir := newChart(t, "hub", "0.1.0", "  - name: dep\n    version: ^1.0.0\n    repository: "+repository+"\n")

	// A repository folder: archives and an index.yaml with relative URLs.
	repoFolder := t.TempDir()
	for _, d := range depCharts(t, depVersions...) {
		c, err := loader.LoadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chartutil.Save(c, repoFolder); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := repo.IndexDirectory(repoFolder, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(repoFolder, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A folder of unpacked charts.
	unpacked := t.TempDir()
	for i, d := range depCharts(t, depVersions...) {
		if err := os.CopyFS(filepath.Join(unpacked, fmt.Sprint("dep", i)), os.DirFS(d)); err != nil {
			t.Fatal(err)
		}
	}
	for name, mirror := range map[string]string{"index": repoFolder, "unpacked": unpacked, "file URL": "file://" + unpacked} {
		t.Run(name, func(t *testing.T) {
			l := &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{repository: mirror}}
			c, lock, err := l.Resolve(context.Background(), dir, "hub")
			if err != nil {
				t.Fatal(err)
			}
			if got := versionsOf(c); !slices.Equal(got, []string{"dep 1.10.1"}) {
				t.Errorf("dependencies %v", got)
			}
			// The lock names the repository as declared, never the mirror.
			if d := lock.Dependencies[0]; d.Name != "dep" || d.Version != "1.10.1" || d.Repository != repository {
				t.Errorf("locked %+v", d)
			}
		})
	}
}

func TestLoadWithoutLockFileDependency(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "hub")
	if err := os.CopyFS(dir, os.DirFS(newChart(t, "hub", "0.1.0", "  - name: lib\n    version: ~0.3.0\n    repository: file://../lib\n"))); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(root, "lib"), os.DirFS(newChart(t, "lib", "0.3.2", ""))); err != nil {
		t.Fatal(err)
	}
	c, lock, err := (&charts.Loader{}).Resolve(context.Background(), dir, "hub")
	if err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(c); !slices.Equal(got, []string{"lib 0.3.2"}) {
		t.Errorf("dependencies %v", got)
	}
	if d := lock.Dependencies[0]; d.Version != "0.3.2" || d.Repository != "file://../lib" {
		t.Errorf("locked %+v", d)
	}
	writeFile(t, filepath.Join(root, "lib", "Chart.yaml"), "apiVersion: v2\nname: lib\nversion: 0.4.0\n")
	_, err = (&charts.Loader{}).Load(context.Background(), dir, "hub")
	want := "hub: dependency lib ~0.3.0 from file://../lib: the chart at hand is version 0.4.0, which ~0.3.0 does not allow (change the version in hub/Chart.yaml, or the chart)"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

func TestLoadWithoutLockErrors(t *testing.T) {
	srv := chartrepo.Serve(t, depCharts(t, depVersions...)...)
	const mirrored = "https://charts.example.org/"
	for _, tc := range []struct {
		name, deps string
		want       string
	}{
		{"no version allowed", "  - name: dep\n    version: ^3.0.0\n    repository: " + srv.URL + "\n",
			"hub: dependency dep ^3.0.0 from " + srv.URL + ": no version matches ^3.0.0: the repository has 2.0.0, 1.11.0-rc.1, 1.10.1, 1.2.0, 1.0.0 (change the version constraint in hub/Chart.yaml)"},
		{"no version allowed by the mirror", "  - name: dep\n    version: '>=2.1'\n    repository: " + mirrored + "\n",
			"hub: dependency dep >=2.1 from " + mirrored + ": no version matches >=2.1: its mirror " + srv.URL + " has 2.0.0, 1.11.0-rc.1, 1.10.1, 1.2.0, 1.0.0 (change the version constraint in hub/Chart.yaml)"},
		{"no such chart", "  - name: nope\n    version: ^1.0.0\n    repository: " + srv.URL + "\n",
			"hub: dependency nope ^1.0.0 from " + srv.URL + ": the repository has no chart nope (check the dependency's name and repository in hub/Chart.yaml)"},
		{"not a constraint", "  - name: dep\n    version: one\n    repository: " + srv.URL + "\n",
			"hub: dependency dep one from " + srv.URL + `: version "one" is no version or constraint: `},
		{"no repository and not vendored", "  - name: dep\n    version: ^1.0.0\n",
			"hub: dependency dep ^1.0.0 from : no repository is given and charts/ does not hold it (give its repository in hub/Chart.yaml, or vendor the chart in charts/)"},
		{"repository alias", "  - name: dep\n    version: ^1.0.0\n    repository: '@stable'\n",
			"hub: dependency dep ^1.0.0 from @stable: unsupported repository @stable (use an http(s) chart repository URL, or map it to one with --chart-mirror)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newChart(t, "hub", "0.1.0", tc.deps)
			l := &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{mirrored: srv.URL}}
			_, err := l.Load(context.Background(), dir, "hub")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !inputerr.Is(err) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
	t.Run("long version lists are cut", func(t *testing.T) {
		many := chartrepo.Serve(t, depCharts(t, "0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0")...)
		dir := newChart(t, "hub", "0.1.0", "  - name: dep\n    version: ^1.0.0\n    repository: "+many.URL+"\n")
		_, err := (&charts.Loader{CacheDir: t.TempDir()}).Load(context.Background(), dir, "hub")
		if want := "the repository has 0.7.0, 0.6.0, 0.5.0, 0.4.0, 0.3.0 and 2 older ("; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v\nwant …%s…", err, want)
		}
	})
}

func TestRequireLock(t *testing.T) {
	const deps = "  - name: dep\n    version: ^1.0.0\n    repository: https://charts.example.org/\n"
	dir := newChart(t, "hub", "0.1.0", deps)
	want := "hub/Chart.yaml: has dependencies that no Chart.lock pins (run `hubploy lock hub` and commit hub/Chart.lock)"
	if err := charts.RequireLock(dir, "hub"); err == nil || err.Error() != want || !inputerr.Is(err) {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	// apiVersion v1 declares dependencies in requirements.yaml and locks them in
	// requirements.lock.
	v1 := t.TempDir()
	writeFile(t, filepath.Join(v1, "Chart.yaml"), "apiVersion: v1\nname: hub\nversion: 0.1.0\n")
	writeFile(t, filepath.Join(v1, "requirements.yaml"), "dependencies:\n"+deps)
	want = "hub/requirements.yaml: has dependencies that no requirements.lock pins (run `hubploy lock hub` and commit hub/requirements.lock)"
	if err := charts.RequireLock(v1, "hub"); err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	for name, dir := range map[string]string{
		"locked":          exampleChart(),
		"no dependencies": newChart(t, "hub", "0.1.0", ""),
		"not a chart":     t.TempDir(), // Load says so
	} {
		if err := charts.RequireLock(dir, "hub"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
