package charts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/provenance"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/pipeline/charts"
)

// FuzzChartLock loads an umbrella chart from a Chart.yaml and Chart.lock pair: it never
// panics, a lock whose digest disagrees with the pair is refused before anything is
// fetched, and a chart that loads has every dependency it declares. Dependencies come
// from local mirrors only (the example's stand-in z2jh for its repository, an empty
// folder for any other), so no input reaches the network.
func FuzzChartLock(f *testing.F) {
	dir, empty := f.TempDir(), f.TempDir()
	f.Fuzz(func(t *testing.T, chartYAML, chartLock []byte) {
		for name, data := range map[string][]byte{"Chart.yaml": chartYAML, "Chart.lock": chartLock} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// The pair as helm reads it, to know what Load must make of it.
		parsed, err := loader.Load(dir)
		mirrors := map[string]string{}
		if err == nil {
			for _, d := range append(parsed.Metadata.Dependencies, lockDependencies(parsed)...) {
				if d != nil { // a lock may list null
					mirrors[d.Repository] = empty
				}
			}
		}
		mirrors[example.Z2JHRepository] = example.MirrorFolder()
		l := &charts.Loader{CacheDir: t.TempDir(), Mirrors: mirrors}
		c, loadErr := l.Load(context.Background(), dir, "hub")
		switch {
		case err != nil:
			if loadErr == nil {
				t.Fatalf("Load took a chart helm cannot read: %v", err)
			}
		case len(parsed.Metadata.Dependencies) == 0 || parsed.Lock == nil:
			// Nothing to fetch, or nothing that pins it: no digest to check.
		case parsed.Lock.Digest != digest(t, [2][]*chart.Dependency{parsed.Metadata.Dependencies, parsed.Lock.Dependencies}) &&
			(parsed.Metadata.APIVersion != chart.APIVersionV1 || parsed.Lock.Digest != digest(t, map[string][]*chart.Dependency{"dependencies": parsed.Metadata.Dependencies})):
			if loadErr == nil || !strings.Contains(loadErr.Error(), "hub/Chart.lock: is out of sync with Chart.yaml") {
				t.Fatalf("a lock whose digest disagrees: got %v", loadErr)
			}
		case loadErr == nil:
			have := map[string]bool{}
			for _, d := range c.Dependencies() {
				have[d.Name()] = true
			}
			for _, d := range c.Metadata.Dependencies {
				if !have[d.Name] {
					t.Fatalf("loaded without its dependency %s", d.Name)
				}
			}
		}
	})
}

func lockDependencies(c *chart.Chart) []*chart.Dependency {
	if c.Lock == nil {
		return nil
	}
	return c.Lock.Dependencies
}

// digest is a lock's digest as helm computes it: the SHA-256 of the JSON of the
// requirements and the locked dependencies (its resolver's HashReq), or for an
// apiVersion v1 chart locked by helm 2 of {"dependencies": requirements} (HashV2Req).
func digest(t *testing.T, v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := provenance.Digest(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return "sha256:" + sum
}
