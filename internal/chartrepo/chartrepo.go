// Package chartrepo serves charts as a real helm chart repository over HTTP (index.yaml
// and .tgz archives) for tests, counting the requests it answers.
package chartrepo

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

// Server is a running chart repository.
type Server struct {
	URL      string // with a trailing slash, as chart repository URLs are written
	requests atomic.Int64
}

// Requests is how many HTTP requests the repository has answered.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Serve packages each chart folder and serves them until the test ends.
func Serve(t testing.TB, chartDirs ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	for _, d := range chartDirs {
		c, err := loader.LoadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chartutil.Save(c, dir); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{}
	files := http.FileServer(http.Dir(dir))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s.URL = ts.URL + "/"
	// Relative archive URLs, as most repositories write them.
	idx, err := repo.IndexDirectory(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}
