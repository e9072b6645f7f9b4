package action

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/release"
)

// Lock pins the umbrella chart's dependencies in its Chart.lock (requirements.lock for
// apiVersion v1) as `helm dependency update` does, byte for byte, without vendoring
// them in charts/: committed, the lock makes every deploy use the same versions.
type Lock struct {
	*Config
	// ChartDir is the chart folder, relative to Settings.PathBase; empty: the
	// repository's umbrella chart.
	ChartDir string
	// NoWrite leaves the chart folder alone: the lock is only in the result's Content
	// (the Dagger module hands it back as a File).
	NoWrite bool
}

// LockResult says what the lock pins and whether it was written.
type LockResult struct {
	Chart        string             `json:"chart"`   // the chart folder, as errors name it
	File         string             `json:"file"`    // the lock file, as errors name it
	Written      bool               `json:"written"` // false: the lock was current, or the chart has no dependencies
	Digest       string             `json:"digest,omitempty"`
	Dependencies []LockedDependency `json:"dependencies"`
	// Content is the lock file as it is after Run (as written, or as it was when
	// current); empty when the chart has no dependencies.
	Content []byte `json:"-"`
}

// LockedDependency is one dependency as the lock pins it.
type LockedDependency struct {
	Name       string `json:"name"`
	Repository string `json:"repository"`
	Constraint string `json:"constraint"` // the version the chart asks for
	Version    string `json:"version"`    // the version the lock pins
}

// Run resolves and loads the dependencies, and writes the lock unless its digest is
// unchanged: as helm, it then keeps the file, and its generated time.
func (l *Lock) Run(ctx context.Context) (*LockResult, error) {
	dir, display, err := l.chartDir()
	if err != nil {
		return nil, err
	}
	c, lock, err := l.Release.Charts.Resolve(ctx, dir, display)
	if err != nil {
		return nil, err
	}
	res := &LockResult{Chart: display, Dependencies: []LockedDependency{}}
	if lock == nil {
		return res, nil
	}
	name := charts.LockFile(c)
	res.File, res.Digest = display+"/"+name, lock.Digest
	for i, d := range lock.Dependencies {
		res.Dependencies = append(res.Dependencies, LockedDependency{Name: d.Name, Repository: d.Repository, Constraint: c.Metadata.Dependencies[i].Version, Version: d.Version})
	}
	path := filepath.Join(dir, name)
	if c.Lock != nil && c.Lock.Digest == lock.Digest {
		res.Content, err = os.ReadFile(path)
		return res, err
	}
	data, err := yaml.Marshal(lock) // helm's lock writer, so that both write the same bytes
	if err != nil {
		return nil, err
	}
	res.Content = data
	if l.NoWrite {
		return res, nil
	}
	if info, err := os.Lstat(path); err == nil && info.Mode()&os.ModeSymlink != 0 {
		return nil, &inputerr.Error{File: res.File, Msg: "is a symbolic link, which helm does not write through either", Hint: "replace it with the file"}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", res.File, err)
	}
	res.Written = true
	return res, nil
}

// chartDir is the chart folder to lock, and its name in messages: as given, or the
// repository's umbrella chart relative to the repository's root.
func (l *Lock) chartDir() (dir, display string, err error) {
	if l.ChartDir != "" {
		dir, err = l.path("CHART_DIR", l.ChartDir)
		return dir, filepath.ToSlash(filepath.Clean(l.ChartDir)), err
	}
	r, err := l.Repo()
	if err != nil {
		return "", "", err
	}
	dir = filepath.Join(r.Root, cmp.Or(l.Settings.ChartDir, release.DefaultChartDir))
	return dir, r.Rel(dir), nil
}
