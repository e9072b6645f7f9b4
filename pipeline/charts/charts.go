// Package charts loads a deployment repo's umbrella chart with its dependencies, in
// memory: dependencies pinned by Chart.lock are fetched from their chart repository (or
// a mirror of it) once, kept in a cache keyed by the lock, and never written into the
// repo's chart folder, so parallel runs and read-only checkouts are safe. A chart
// without a lock, as the Python hubploy's `helm dep up` on every deploy allowed, has
// its dependencies pinned as `helm dependency update` would pin them, then loaded the
// same way.
package charts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/provenance"

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

// Loader loads charts and their dependencies. Its zero value is ready to use; it must
// not be copied once used.
type Loader struct {
	// CacheDir holds downloaded dependency archives; empty means the user cache dir.
	CacheDir string
	// Mirrors maps a chart repository URL to a mirror: another repository URL, or a
	// local folder holding either a repository (index.yaml) or unpacked charts.
	Mirrors map[string]string
	// Client fetches over HTTP; nil means a client with a 60 s timeout.
	Client *http.Client
	// Progress, if set, is told about each download, and once per chart about the
	// versions its dependencies resolved to when no lock pins them.
	Progress func(format string, args ...any)

	mu    sync.Mutex
	loads map[string]*load // by chart folder: loaded (and resolved) once, copied for each hub
}

// load is a chart folder loaded with its dependencies, or why it could not be.
type load struct {
	once  sync.Once
	chart *chart.Chart
	err   error
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

// Load loads the chart in dir (display names it in errors) with its dependencies. The
// folder is read once per Loader: every call returns its own copy, which helm may change
// as it processes the dependencies for a hub's values.
func (l *Loader) Load(ctx context.Context, dir, display string) (*chart.Chart, error) {
	l.mu.Lock()
	if l.loads == nil {
		l.loads = map[string]*load{}
	}
	key := filepath.Clean(dir)
	ld := l.loads[key]
	if ld == nil {
		ld = &load{}
		l.loads[key] = ld
	}
	l.mu.Unlock()
	ld.once.Do(func() { ld.chart, ld.err = l.load(ctx, dir, display) })
	if ld.err != nil {
		return nil, ld.err
	}
	return copyChart(ld.chart), nil
}

// copyChart copies c deeply enough for helm to process its dependencies: what
// chartutil.ProcessDependencies changes (the lists of dependencies, their entries, the
// values) is copied; templates and files, which nothing changes, are shared.
func copyChart(c *chart.Chart) *chart.Chart {
	out := *c
	md := *c.Metadata
	md.Dependencies = make([]*chart.Dependency, len(c.Metadata.Dependencies))
	for i, d := range c.Metadata.Dependencies {
		dc := *d
		dc.Tags, dc.ImportValues = slices.Clone(d.Tags), slices.Clone(d.ImportValues)
		md.Dependencies[i] = &dc
	}
	out.Metadata = &md
	out.Values = copyValues(c.Values).(map[string]any)
	out.Raw, out.Templates, out.Files = slices.Clone(c.Raw), slices.Clone(c.Templates), slices.Clone(c.Files)
	deps := make([]*chart.Chart, len(c.Dependencies()))
	for i, d := range c.Dependencies() {
		deps[i] = copyChart(d)
	}
	out.SetDependencies(deps...)
	return &out
}

// copyValues copies the maps and lists of a values tree.
func copyValues(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if t == nil {
			return t
		}
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = copyValues(e)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = copyValues(e)
		}
		return l
	}
	return v
}

func (l *Loader) load(ctx context.Context, dir, display string) (*chart.Chart, error) {
	c, err := loadChart(dir, display)
	if err != nil {
		return nil, err
	}
	missing := missingDependencies(c)
	if len(missing) == 0 {
		return c, nil
	}
	var p *pinned
	if c.Lock == nil {
		if p, err = l.resolveUnlocked(ctx, c, dir, display); err != nil {
			return nil, err
		}
	} else {
		if !inSync(c) {
			return nil, &inputerr.Error{File: display + "/" + lockFileRead(c), Msg: "is out of sync with " + dependenciesFile(c), Hint: lockHint(c, display)}
		}
		p = &pinned{lock: c.Lock, indexes: &indexes{}}
	}
	return c, l.addDependencies(ctx, c, dir, display, missing, p)
}

// Resolve pins the dependencies of the chart in dir as `helm dependency update` does,
// whether or not a lock pins them already, and loads them. It returns the chart and
// the lock helm would write, nil for a chart without dependencies.
func (l *Loader) Resolve(ctx context.Context, dir, display string) (*chart.Chart, *chart.Lock, error) {
	c, err := loadChart(dir, display)
	if err != nil || len(c.Metadata.Dependencies) == 0 {
		return c, nil, err
	}
	p, err := l.resolve(ctx, c, dir, display)
	if err != nil {
		return nil, nil, err
	}
	if err := l.addDependencies(ctx, c, dir, display, missingDependencies(c), p); err != nil {
		return nil, nil, err
	}
	return c, p.lock, nil
}

// RequireLock refuses a chart whose dependencies neither charts/ nor a lock pin, as
// `validate --strict` does: each deploy of such a chart may resolve other versions. A
// chart that does not load is Load's to report.
func RequireLock(dir, display string) error {
	c, err := loader.Load(dir)
	if err != nil || c.Lock != nil || len(missingDependencies(c)) == 0 {
		return nil
	}
	return &inputerr.Error{File: display + "/" + dependenciesFile(c), Msg: "has dependencies that no " + LockFile(c) + " pins", Hint: lockHint(c, display)}
}

// LockFile is the name of the lock helm writes for c.
func LockFile(c *chart.Chart) string {
	if c.Metadata.APIVersion == chart.APIVersionV1 {
		return "requirements.lock"
	}
	return "Chart.lock"
}

// lockFileRead is the name of the lock c was loaded with: helm reads either name
// whatever the chart's apiVersion.
func lockFileRead(c *chart.Chart) string {
	if has(c, "requirements.lock") {
		return "requirements.lock"
	}
	return "Chart.lock"
}

// dependenciesFile is the file that declares c's dependencies: requirements.yaml,
// which helm reads whatever the chart's apiVersion, replaces Chart.yaml's list.
func dependenciesFile(c *chart.Chart) string {
	if has(c, "requirements.yaml") {
		return "requirements.yaml"
	}
	return "Chart.yaml"
}

// has reports whether the chart folder holds the file name at its top.
func has(c *chart.Chart, name string) bool {
	return slices.ContainsFunc(c.Raw, func(f *chart.File) bool { return f.Name == name })
}

func lockHint(c *chart.Chart, display string) string {
	return "run `hubploy lock " + display + "` and commit " + display + "/" + LockFile(c)
}

func loadChart(dir, display string) (*chart.Chart, error) {
	c, err := loader.Load(dir)
	if err != nil {
		return nil, &inputerr.Error{File: display, Msg: "cannot load the chart: " + err.Error(), Hint: "check its Chart.yaml and templates", Err: err}
	}
	return c, nil
}

// addDependencies loads the missing dependencies as p pins them.
func (l *Loader) addDependencies(ctx context.Context, c *chart.Chart, dir, display string, missing map[string]bool, p *pinned) error {
	for _, dep := range p.lock.Dependencies {
		if !missing[dep.Name] {
			continue
		}
		sub, err := l.dependency(ctx, dir, p, dep)
		if err != nil {
			return fmt.Errorf("%s: dependency %s %s from %s: %w", display, dep.Name, dep.Version, dep.Repository, err)
		}
		c.AddDependency(sub)
	}
	return nil
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

// inSync reports whether c's lock pins what c declares, as `helm dependency build`
// checks: an apiVersion v1 chart's requirements.lock written by helm 2 holds helm 2's
// digest, of the requirements alone.
func inSync(c *chart.Chart) bool {
	if sum, err := hashReq(c.Metadata.Dependencies, c.Lock.Dependencies); err == nil && sum == c.Lock.Digest {
		return true
	}
	if c.Metadata.APIVersion != chart.APIVersionV1 {
		return false
	}
	sum, err := digest(map[string][]*chart.Dependency{"dependencies": c.Metadata.Dependencies})
	return err == nil && sum == c.Lock.Digest
}

// hashReq is helm's Chart.lock digest of the requirements and the lock.
func hashReq(req, lock []*chart.Dependency) (string, error) {
	return digest([2][]*chart.Dependency{req, lock})
}

// digest is helm's digest of v's JSON.
func digest(v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	s, err := provenance.Digest(bytes.NewBuffer(data))
	return "sha256:" + s, err
}

// dependency loads one pinned dependency: from the path a file:// repository gives,
// from a mirror folder, or from the cache, which a download from the repository fills.
func (l *Loader) dependency(ctx context.Context, chartDir string, p *pinned, dep *chart.Dependency) (*chart.Chart, error) {
	if strings.HasPrefix(dep.Repository, "file://") {
		return loader.Load(localPath(chartDir, dep.Repository))
	}
	s, err := l.source(dep.Repository)
	if err != nil {
		return nil, err
	}
	var cacheFile string
	if !s.folder {
		if cacheFile, err = l.cachePath(p.lock.Digest, s, dep); err != nil {
			return nil, err
		}
		if c, err := loader.LoadFile(cacheFile); err == nil {
			return c, nil
		}
	}
	idx, err := l.index(ctx, s, p.indexes)
	if err != nil {
		return nil, err
	}
	cv, err := idx.Get(dep.Name, dep.Version)
	if err != nil || len(cv.URLs) == 0 {
		return nil, fmt.Errorf("%s has no %s %s (the lock pins it; was it removed from the repository?)", s, dep.Name, dep.Version)
	}
	if s.folder {
		return loader.Load(filepath.Join(s.location, filepath.FromSlash(cv.URLs[0])))
	}
	data, err := l.download(ctx, s.location, cv)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(cacheFile, data); err != nil {
		return nil, fmt.Errorf("caching the chart: %w", err)
	}
	return loader.LoadArchive(bytes.NewReader(data))
}

// localPath is the folder of a file:// repository, relative to the chart's own unless
// absolute, as helm reads it.
func localPath(chartDir, repository string) string {
	p := strings.TrimPrefix(repository, "file://")
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(chartDir, p)
}
