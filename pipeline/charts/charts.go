// Package charts loads a deployment repo's umbrella chart with its dependencies, in
// memory: dependencies pinned by Chart.lock are fetched from their chart repository (or
// a mirror of it) once, kept in a cache keyed by the lock, and never written into the
// repo's chart folder, so parallel runs and read-only checkouts are safe.
package charts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/provenance"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// MirrorsEnv holds mirrors as "URL=MIRROR" pairs separated by commas or spaces.
const MirrorsEnv = "HUBPLOY_CHART_MIRRORS"

// The most hubploy reads of a download: a repository or mirror that sends without end
// would otherwise fill the memory. The largest index (Bitnami's, every version of every
// chart) is about 15 MiB; a chart archive is a few hundred KiB, and helm refuses to load
// one that unpacks to more than 100 MiB.
const (
	MaxIndexSize   = 20 << 20
	MaxArchiveSize = 50 << 20
)

// Loader loads charts and their locked dependencies.
type Loader struct {
	// CacheDir holds downloaded dependency archives; empty means the user cache dir.
	CacheDir string
	// Mirrors maps a chart repository URL to a mirror: another repository URL, or a
	// local folder holding either a repository (index.yaml) or unpacked charts.
	Mirrors map[string]string
	// Client fetches over HTTP; nil means a client with a 60 s timeout.
	Client *http.Client
	// Progress, if set, is told about each download.
	Progress func(format string, args ...any)
}

// ParseMirrors reads "URL=MIRROR" specs, as given to --chart-mirror or MirrorsEnv.
func ParseMirrors(specs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, spec := range specs {
		for _, s := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
			from, to, ok := strings.Cut(s, "=")
			if !ok || from == "" || to == "" {
				return nil, &inputerr.Error{Key: "--chart-mirror", Msg: fmt.Sprintf("%q is not REPOSITORY_URL=MIRROR", s),
					Hint: "for example https://hub.jupyter.org/helm-chart/=./charts-mirror"}
			}
			m[normalize(from)] = to
		}
	}
	return m, nil
}

func normalize(u string) string { return strings.TrimSuffix(strings.TrimSpace(u), "/") }

// Load loads the chart in dir (display names it in errors) with its dependencies.
func (l *Loader) Load(ctx context.Context, dir, display string) (*chart.Chart, error) {
	c, err := loader.Load(dir)
	if err != nil {
		return nil, &inputerr.Error{File: display, Msg: "cannot load the chart: " + err.Error(), Hint: "check its Chart.yaml and templates", Err: err}
	}
	missing := missingDependencies(c)
	if len(missing) == 0 {
		return c, nil
	}
	if c.Lock == nil {
		return nil, &inputerr.Error{File: display + "/Chart.yaml", Msg: "has dependencies but no Chart.lock pins them",
			Hint: "run `helm dependency update " + display + "` and commit Chart.lock"}
	}
	if sum, err := hashReq(c.Metadata.Dependencies, c.Lock.Dependencies); err != nil || sum != c.Lock.Digest {
		return nil, &inputerr.Error{File: display + "/Chart.lock", Msg: "is out of sync with Chart.yaml",
			Hint: "run `helm dependency update " + display + "` and commit Chart.lock"}
	}
	for _, dep := range c.Lock.Dependencies {
		if !missing[dep.Name] {
			continue
		}
		sub, err := l.dependency(ctx, dir, c.Lock.Digest, dep)
		if err != nil {
			return nil, fmt.Errorf("%s: dependency %s %s from %s: %w", display, dep.Name, dep.Version, dep.Repository, err)
		}
		c.AddDependency(sub)
	}
	return c, nil
}

// missingDependencies names the dependencies that are not vendored in charts/.
func missingDependencies(c *chart.Chart) map[string]bool {
	have := map[string]string{}
	for _, d := range c.Dependencies() {
		have[d.Name()] = d.Metadata.Version
	}
	missing := map[string]bool{}
	for _, d := range c.Metadata.Dependencies {
		if _, ok := have[d.Name]; !ok {
			missing[d.Name] = true
		}
	}
	return missing
}

// hashReq is helm's Chart.lock digest of the requirements and the lock.
func hashReq(req, lock []*chart.Dependency) (string, error) {
	data, err := json.Marshal([2][]*chart.Dependency{req, lock})
	if err != nil {
		return "", err
	}
	s, err := provenance.Digest(bytes.NewBuffer(data))
	return "sha256:" + s, err
}

func (l *Loader) dependency(ctx context.Context, chartDir, lockDigest string, dep *chart.Dependency) (*chart.Chart, error) {
	if p, ok := strings.CutPrefix(dep.Repository, "file://"); ok {
		return loader.Load(filepath.Join(chartDir, p))
	}
	source := l.mirrorFor(dep.Repository)
	if !strings.Contains(source, "://") || strings.HasPrefix(source, "file://") {
		return loadFromFolder(strings.TrimPrefix(source, "file://"), dep)
	}
	if !strings.HasPrefix(source, "http://") && !strings.HasPrefix(source, "https://") {
		return nil, &inputerr.Error{Msg: "unsupported repository " + source,
			Hint: "use an http(s) chart repository URL, or map it to one with --chart-mirror"}
	}
	cacheFile, err := l.cachePath(lockDigest, source, dep)
	if err != nil {
		return nil, err
	}
	if c, err := loader.LoadFile(cacheFile); err == nil {
		return c, nil
	}
	data, err := l.download(ctx, source, dep)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(cacheFile, data); err != nil {
		return nil, fmt.Errorf("caching the chart: %w", err)
	}
	return loader.LoadArchive(bytes.NewReader(data))
}

// mirrorFor returns the mirror of a repository URL, or the URL itself.
func (l *Loader) mirrorFor(repository string) string {
	for from, to := range l.Mirrors {
		if normalize(from) == normalize(repository) {
			return to
		}
	}
	return repository
}

// cachePath keys the cache by the lock's digest and where the chart came from, so a
// stand-in served by a mirror never poses as the real chart.
func (l *Loader) cachePath(lockDigest, source string, dep *chart.Dependency) (string, error) {
	dir := l.CacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(base, "hubploy", "charts")
	}
	sum := sha256.Sum256([]byte(lockDigest + "\n" + normalize(source)))
	return filepath.Join(dir, hex.EncodeToString(sum[:])[:32], fmt.Sprintf("%s-%s.tgz", dep.Name, dep.Version)), nil
}

func (l *Loader) download(ctx context.Context, source string, dep *chart.Dependency) ([]byte, error) {
	base := normalize(source) + "/"
	indexData, err := l.get(ctx, base+"index.yaml", "repository index", MaxIndexSize)
	if err != nil {
		return nil, err
	}
	var idx repo.IndexFile
	if err := yaml.Unmarshal(indexData, &idx); err != nil {
		return nil, fmt.Errorf("%sindex.yaml is not a chart repository index: %w", base, err)
	}
	idx.SortEntries()
	cv, err := idx.Get(dep.Name, dep.Version)
	if err != nil || len(cv.URLs) == 0 {
		return nil, fmt.Errorf("the repository has no %s %s (Chart.lock pins it; was it removed from the repository?)", dep.Name, dep.Version)
	}
	chartURL, err := resolveURL(base, cv.URLs[0])
	if err != nil {
		return nil, err
	}
	if l.Progress != nil {
		l.Progress("downloading chart %s %s from %s", dep.Name, dep.Version, chartURL)
	}
	data, err := l.get(ctx, chartURL, "chart archive", MaxArchiveSize)
	if err != nil {
		return nil, err
	}
	if cv.Digest != "" {
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != cv.Digest {
			return nil, fmt.Errorf("%s does not match the digest in the repository index", chartURL)
		}
	}
	return data, nil
}

func resolveURL(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}

// get downloads u, a what, refusing more than limit bytes.
func (l *Loader) get(ctx context.Context, u, what string, limit int64) ([]byte, error) {
	client := l.Client
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("not reachable: GET %s: %v (check the network, or map the repository to a mirror with --chart-mirror URL=MIRROR or %s)", u, err, MirrorsEnv)
	}
	defer resp.Body.Close() // read to the end or abandoned: a close error loses nothing
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	tooLarge := fmt.Errorf("GET %s: more than %d MiB, the most hubploy reads of a %s (is the repository or mirror URL right?)", u, limit>>20, what)
	if resp.ContentLength > limit {
		return nil, tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge
	}
	return data, nil
}

// loadFromFolder finds a dependency in a local mirror: a repository folder with
// index.yaml and archives, or unpacked chart folders.
func loadFromFolder(dir string, dep *chart.Dependency) (*chart.Chart, error) {
	if data, err := os.ReadFile(filepath.Join(dir, "index.yaml")); err == nil {
		var idx repo.IndexFile
		if err := yaml.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("%s/index.yaml: %w", dir, err)
		}
		idx.SortEntries()
		if cv, err := idx.Get(dep.Name, dep.Version); err == nil && len(cv.URLs) > 0 {
			return loader.LoadFile(filepath.Join(dir, filepath.FromSlash(cv.URLs[0])))
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mirror folder %s: %w", dir, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := loader.LoadDir(filepath.Join(dir, e.Name())) // a folder that is no chart is not the one sought
		if err == nil && c.Name() == dep.Name && c.Metadata.Version == dep.Version {
			return c, nil
		}
	}
	return nil, fmt.Errorf("mirror folder %s has no chart %s %s", dir, dep.Name, dep.Version)
}

func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".download-*")
	if err != nil {
		return err
	}
	// After the rename there is nothing left to remove; before it, a leftover
	// ".download-*" file is harmless and the next download makes its own.
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close() // the write error is the one to report
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
