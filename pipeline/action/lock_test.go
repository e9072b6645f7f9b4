package action

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"

	"github.com/hubploy/hubploy/internal/chartrepo"
	"github.com/hubploy/hubploy/internal/example"
)

// writeTree writes files (by slash path) under dir and returns dir.
func writeTree(t *testing.T, dir string, files map[string]string) string {
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
	return dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// helmUpdate runs helm's own `helm dependency update` on the chart in dir, with a
// repository configuration and cache of its own, as on a machine without `helm repo add`.
func helmUpdate(t *testing.T, dir string) {
	t.Helper()
	home := t.TempDir()
	m := &downloader.Manager{
		Out:              io.Discard,
		ChartPath:        dir,
		Getters:          getter.All(cli.New()),
		RepositoryConfig: filepath.Join(home, "repositories.yaml"),
		RepositoryCache:  filepath.Join(home, "cache"),
	}
	if err := m.Update(); err != nil {
		t.Fatalf("helm dependency update: %v", err)
	}
}

var generated = regexp.MustCompile(`(?m)^generated: .*\n`)

// The lock hubploy writes is the one helm writes, byte for byte but for the time it
// was generated: versions picked by the constraints (the newest of several), aliases,
// tags and conditions in the digest, file:// and vendored charts; and a lock whose
// digest is unchanged is left alone, by helm and by hubploy.
func TestLockWritesWhatHelmWrites(t *testing.T) {
	var versions []string
	for _, v := range []string{"1.0.0", "1.2.0", "1.10.1", "1.11.0-rc.1", "2.0.0"} {
		versions = append(versions, writeTree(t, filepath.Join(t.TempDir(), "dep"), map[string]string{"Chart.yaml": "apiVersion: v2\nname: dep\nversion: " + v + "\n"}))
	}
	srv := chartrepo.Serve(t, versions...)
	deps := `  - name: dep
    version: ^1.0.0
    repository: ` + srv.URL + `
    import-values: [data]
  - name: dep
    alias: pinned
    version: 1.2.x
    repository: ` + srv.URL + `
    condition: pinned.enabled
  - name: lib
    version: ~0.3.0
    repository: file://../lib
    tags: [libs]
  - name: vend
    version: ">=0.1.0"
`
	common := map[string]string{
		"lib/Chart.yaml":               "apiVersion: v2\nname: lib\nversion: 0.3.2\n",
		"hub/charts/vend/Chart.yaml":   "apiVersion: v2\nname: vend\nversion: 0.1.0\n",
		"hub/templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hub\n",
	}
	for _, tc := range []struct {
		apiVersion, lockFile string
		files                map[string]string
	}{
		{"v2", "Chart.lock", map[string]string{"hub/Chart.yaml": "apiVersion: v2\nname: hub\nversion: 0.1.0\ndependencies:\n" + deps}},
		{"v1", "requirements.lock", map[string]string{"hub/Chart.yaml": "apiVersion: v1\nname: hub\nversion: 0.1.0\n", "hub/requirements.yaml": "dependencies:\n" + deps}},
	} {
		t.Run(tc.apiVersion, func(t *testing.T) {
			var trees [2]string
			for i := range trees {
				trees[i] = writeTree(t, t.TempDir(), common)
				writeTree(t, trees[i], tc.files)
			}
			helmDir, hubployDir := filepath.Join(trees[0], "hub"), filepath.Join(trees[1], "hub")
			helmUpdate(t, helmDir)
			byHelm := readFile(t, filepath.Join(helmDir, tc.lockFile))

			lock := &Lock{Config: config(t, nil), ChartDir: hubployDir}
			res, err := lock.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			byHubploy := readFile(t, filepath.Join(hubployDir, tc.lockFile))
			if !generated.MatchString(byHelm) || generated.ReplaceAllString(byHubploy, "") != generated.ReplaceAllString(byHelm, "") {
				t.Fatalf("hubploy's %s:\n%s\nhelm's:\n%s", tc.lockFile, byHubploy, byHelm)
			}
			got := []string{}
			for _, d := range res.Dependencies {
				got = append(got, d.Name+" "+d.Constraint+" "+d.Version)
			}
			want := []string{"dep ^1.0.0 1.10.1", "dep 1.2.x 1.2.0", "lib ~0.3.0 0.3.2", "vend >=0.1.0 >=0.1.0"}
			if !res.Written || res.File != filepath.ToSlash(filepath.Clean(hubployDir))+"/"+tc.lockFile || !slices.Equal(got, want) {
				t.Errorf("result %+v, dependencies %q", res, got)
			}
			if info, err := os.Stat(filepath.Join(hubployDir, tc.lockFile)); err != nil || info.Mode().Perm() != 0o644 {
				t.Errorf("lock file mode: %v %v", info.Mode(), err)
			}
			if _, err := os.Stat(filepath.Join(hubployDir, "charts", "dep-1.10.1.tgz")); err == nil {
				t.Error("hubploy vendored a dependency in charts/")
			}

			// The digest is unchanged: neither hubploy nor helm rewrites the lock.
			if res, err := lock.Run(context.Background()); err != nil || res.Written || res.Digest == "" {
				t.Fatalf("second run: %+v, %v", res, err)
			}
			helmUpdate(t, hubployDir)
			if again := readFile(t, filepath.Join(hubployDir, tc.lockFile)); again != byHubploy {
				t.Fatalf("the lock was rewritten:\n%s\nwas:\n%s", again, byHubploy)
			}
		})
	}
}

// A changed constraint changes the digest, and the lock is written again.
func TestLockRewritesAChangedLock(t *testing.T) {
	c := config(t, nil)
	chartYAML := filepath.Join(c.Settings.RepoDir, "hub", "Chart.yaml")
	lock := &Lock{Config: c}
	if res, err := lock.Run(context.Background()); err != nil || res.Written || res.File != "hub/Chart.lock" {
		t.Fatalf("the example's lock is current: %+v, %v", res, err)
	}
	os.WriteFile(chartYAML, []byte(strings.Replace(readFile(t, chartYAML), "version: 4.3.3", "version: ^4.0.0", 1)), 0o644)
	res, err := lock.Run(context.Background())
	if err != nil || !res.Written || res.Dependencies[0].Version != "4.3.3" || res.Dependencies[0].Constraint != "^4.0.0" {
		t.Fatalf("%+v, %v", res, err)
	}
	if !strings.Contains(readFile(t, filepath.Join(c.Settings.RepoDir, "hub", "Chart.lock")), res.Digest) {
		t.Error("the lock does not hold the new digest")
	}
}

// Without a lock, the example's chart locks to what its committed Chart.lock says.
func TestLockTheExample(t *testing.T) {
	c := config(t, nil)
	lockFile := filepath.Join(c.Settings.RepoDir, "hub", "Chart.lock")
	if err := os.Remove(lockFile); err != nil {
		t.Fatal(err)
	}
	committed := readFile(t, filepath.Join(example.Dir(), "hub", "Chart.lock"))
	// NoWrite gives the same lock in the result only.
	res, err := (&Lock{Config: c, NoWrite: true}).Run(context.Background())
	if err != nil || res.Written || generated.ReplaceAllString(string(res.Content), "") != generated.ReplaceAllString(committed, "") {
		t.Fatalf("NoWrite: %+v, %v", res, err)
	}
	if _, err := os.Stat(lockFile); err == nil {
		t.Fatal("NoWrite wrote the lock")
	}
	res, err = (&Lock{Config: c}).Run(context.Background())
	if err != nil || !res.Written {
		t.Fatalf("%+v, %v", res, err)
	}
	if got := readFile(t, lockFile); generated.ReplaceAllString(got, "") != generated.ReplaceAllString(committed, "") || got != string(res.Content) {
		t.Fatalf("wrote:\n%s\ncommitted:\n%s", got, committed)
	}
}

func TestLockWithoutDependencies(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{"Chart.yaml": "apiVersion: v2\nname: hub\nversion: 0.1.0\n"})
	res, err := (&Lock{Config: config(t, nil), ChartDir: dir}).Run(context.Background())
	if err != nil || res.Written || res.File != "" || len(res.Dependencies) != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "Chart.lock")); err == nil {
		t.Fatal("wrote a lock")
	}
}
