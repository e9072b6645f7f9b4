package charts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// source is where a chart repository's charts come from: the repository itself, or
// its mirror (another repository, or a local folder).
type source struct {
	repository string // as the chart declares it
	location   string // a URL with a trailing slash, or a folder
	folder     bool
}

func (l *Loader) source(repository string) (source, error) {
	s := source{repository: repository, location: repository}
	if mirror, ok := l.mirrorFor(repository); ok {
		s.location = mirror
		// A mirror may be a folder; a repository itself must be a URL.
		s.folder = !strings.Contains(mirror, "://")
	}
	if p, ok := strings.CutPrefix(s.location, "file://"); ok {
		s.location, s.folder = p, true
	}
	if s.folder {
		return s, nil
	}
	if !strings.HasPrefix(s.location, "http://") && !strings.HasPrefix(s.location, "https://") {
		return s, &inputerr.Error{Msg: "unsupported repository " + s.location,
			Hint: "use an http(s) chart repository URL, or map it to one with --chart-mirror"}
	}
	s.location = normalize(s.location) + "/"
	return s, nil
}

// mirrorFor returns the mirror of a repository URL, if it has one.
func (l *Loader) mirrorFor(repository string) (string, bool) {
	for from, to := range l.Mirrors {
		if normalize(from) == normalize(repository) {
			return to, true
		}
	}
	return "", false
}

// String names the source in messages.
func (s source) String() string {
	switch {
	case normalize(s.location) == normalize(s.repository):
		return "the repository"
	case s.folder:
		return "its mirror folder " + s.location
	default:
		return "its mirror " + s.location
	}
}

// index is a source's repository index, its versions newest first.
type index struct {
	*repo.IndexFile
	source source
}

// indexes are the repository indexes one Load has read, or one resolution for the
// Loads that share it: each repository's index is read once.
type indexes struct {
	mu   sync.Mutex
	read map[string]*index // by location
}

func (l *Loader) index(ctx context.Context, s source, seen *indexes) (*index, error) {
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if idx, ok := seen.read[s.location]; ok {
		return idx, nil
	}
	var file *repo.IndexFile
	var err error
	if s.folder {
		file, err = folderIndex(s.location)
	} else {
		file, err = l.fetchIndex(ctx, s.location)
	}
	if err != nil {
		return nil, err
	}
	if seen.read == nil {
		seen.read = map[string]*index{}
	}
	idx := &index{IndexFile: file, source: s}
	seen.read[s.location] = idx
	return idx, nil
}

// fetchIndex downloads a repository's index into the cache and reads it from there, as
// helm reads its repository cache: repo.LoadIndexFile is helm's only exported reader
// that drops the entries helm drops and sorts the versions, which resolving relies on.
// Another run may replace the file meanwhile; what it writes is an index too.
func (l *Loader) fetchIndex(ctx context.Context, base string) (*repo.IndexFile, error) {
	u := base + "index.yaml"
	data, err := l.get(ctx, u, "repository index", MaxIndexSize)
	if err != nil {
		return nil, err
	}
	dir, err := l.cacheDir()
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "index-"+key(base)+".yaml")
	if err := writeAtomic(file, data); err != nil {
		return nil, fmt.Errorf("caching the repository index: %w", err)
	}
	idx, err := repo.LoadIndexFile(file)
	if err != nil {
		// LoadIndexFile names the cache file; the user knows the index by its URL.
		return nil, fmt.Errorf("%s is not a chart repository index: %s", u, strings.TrimPrefix(err.Error(), "error loading "+file+": "))
	}
	return idx, nil
}

// folderIndex indexes a mirror folder: its index.yaml, whose archive URLs are relative
// to the folder, and the unpacked charts in its subfolders.
func folderIndex(dir string) (*repo.IndexFile, error) {
	idx := repo.NewIndexFile()
	if _, err := os.Stat(filepath.Join(dir, "index.yaml")); err == nil {
		if idx, err = repo.LoadIndexFile(filepath.Join(dir, "index.yaml")); err != nil {
			return nil, fmt.Errorf("mirror folder %s: %w", dir, err)
		}
		if idx.Entries == nil { // an index without charts
			idx.Entries = map[string]repo.ChartVersions{}
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
		c, err := loader.LoadDir(filepath.Join(dir, e.Name())) // a folder that is no chart holds none
		if err == nil {
			idx.Entries[c.Name()] = append(idx.Entries[c.Name()], &repo.ChartVersion{Metadata: c.Metadata, URLs: []string{e.Name()}})
		}
	}
	idx.SortEntries()
	return idx, nil
}

func (l *Loader) download(ctx context.Context, base string, cv *repo.ChartVersion) ([]byte, error) {
	chartURL, err := resolveURL(base, cv.URLs[0])
	if err != nil {
		return nil, err
	}
	if l.Progress != nil {
		l.Progress("downloading chart %s %s from %s", cv.Name, cv.Version, chartURL)
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

func (l *Loader) cacheDir() (string, error) {
	if l.CacheDir != "" {
		return l.CacheDir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "hubploy", "charts"), nil
}

// cachePath keys a dependency's archive by the lock's digest and where the chart came
// from, so a stand-in served by a mirror never poses as the real chart.
func (l *Loader) cachePath(lockDigest string, s source, dep *chart.Dependency) (string, error) {
	dir, err := l.cacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, key(lockDigest+"\n"+normalize(s.location)), fmt.Sprintf("%s-%s.tgz", dep.Name, dep.Version)), nil
}

// key names a cache entry after what identifies it.
func key(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:32]
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
