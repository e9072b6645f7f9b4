package charts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// pinned is a chart's dependencies pinned to versions, with the repository indexes
// read to pin them, which loading them reads again.
type pinned struct {
	lock    *chart.Lock
	indexes *indexes
}

// resolveUnlocked resolves the dependencies of c, loaded from dir, which no lock pins,
// and says to what. Load runs it once per chart folder and Loader: the hubs of a run
// share the chart, its repository indexes are fetched once, and it is said once.
func (l *Loader) resolveUnlocked(ctx context.Context, c *chart.Chart, dir, display string) (*pinned, error) {
	p, err := l.resolve(ctx, c, dir, display)
	if err == nil && l.Progress != nil {
		l.Progress("%s/%s: no %s pins the dependencies, resolved as `helm dependency update` would: %s; %s, so that every deploy uses the same versions",
			display, dependenciesFile(c), LockFile(c), resolved(c.Metadata.Dependencies, p.lock.Dependencies), lockHint(c, display))
	}
	return p, err
}

// resolved lists the versions the dependencies from repositories resolved to.
func resolved(declared, locked []*chart.Dependency) string {
	var parts []string
	for i, d := range declared {
		if d.Repository == "" {
			continue // vendored in charts/: nothing was resolved
		}
		part := d.Name + " " + locked[i].Version
		if d.Version != locked[i].Version {
			part += fmt.Sprintf(" (for %s)", d.Version)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// resolve pins the dependencies of c, loaded from dir, as helm's resolver does for
// `helm dependency update` (helm.sh/helm/v3/internal/resolver): a chart from a
// repository to the newest version of the repository's index that the constraint
// allows, a file:// chart to its own version, and a chart vendored in charts/ to the
// constraint itself. The lock is the one helm would write, digest included.
func (l *Loader) resolve(ctx context.Context, c *chart.Chart, dir, display string) (*pinned, error) {
	p := &pinned{indexes: &indexes{}}
	vendored := map[string]*chart.Chart{}
	for _, sub := range c.Dependencies() {
		vendored[sub.Name()] = sub
	}
	file := display + "/" + dependenciesFile(c)
	declared := c.Metadata.Dependencies
	locked := make([]*chart.Dependency, len(declared))
	for i, d := range declared {
		version, err := l.pin(ctx, d, dir, file, vendored, p.indexes)
		if err != nil {
			return nil, fmt.Errorf("%s: dependency %s %s from %s: %w", display, d.Name, d.Version, d.Repository, err)
		}
		locked[i] = &chart.Dependency{Name: d.Name, Repository: d.Repository, Version: version}
	}
	digest, err := hashReq(declared, locked)
	if err != nil {
		return nil, err
	}
	p.lock = &chart.Lock{Generated: time.Now(), Digest: digest, Dependencies: locked}
	return p, nil
}

// pin is the version helm's resolver locks d at; file names the file that declares d.
func (l *Loader) pin(ctx context.Context, d *chart.Dependency, chartDir, file string, vendored map[string]*chart.Chart, seen *indexes) (string, error) {
	constraint, err := semver.NewConstraint(d.Version)
	if err != nil {
		return "", &inputerr.Error{Msg: fmt.Sprintf("version %q is no version or constraint: %v", d.Version, err),
			Hint: "give one in " + file + ", such as 4.3.3 or ^4.0.0"}
	}
	switch {
	case d.Repository == "":
		sub, ok := vendored[d.Name]
		if !ok {
			return "", &inputerr.Error{Msg: "no repository is given and charts/ does not hold it",
				Hint: "give its repository in " + file + ", or vendor the chart in charts/"}
		}
		return d.Version, satisfies(constraint, sub, file)
	case strings.HasPrefix(d.Repository, "file://"):
		p := localPath(chartDir, d.Repository)
		sub, err := loader.Load(p)
		if err != nil {
			return "", &inputerr.Error{File: p, Msg: "cannot load the chart: " + err.Error(), Hint: "check the repository in " + file, Err: err}
		}
		return sub.Metadata.Version, satisfies(constraint, sub, file)
	}
	s, err := l.source(d.Repository)
	if err != nil {
		return "", err
	}
	idx, err := l.index(ctx, s, seen)
	if err != nil {
		return "", err
	}
	return idx.newest(d.Name, constraint, file)
}

// satisfies checks that a chart at hand (vendored, or a file:// one) has a version
// the constraint allows, as `helm dependency update` does.
func satisfies(constraint *semver.Constraints, sub *chart.Chart, file string) error {
	if v, err := semver.NewVersion(sub.Metadata.Version); err != nil || !constraint.Check(v) {
		return &inputerr.Error{Msg: fmt.Sprintf("the chart at hand is version %s, which %s does not allow", sub.Metadata.Version, constraint),
			Hint: "change the version in " + file + ", or the chart"}
	}
	return nil
}

// mostListed is how many versions a constraint that none satisfies lists.
const mostListed = 5

// newest is the version helm's resolver picks from the index: the newest version of
// the chart that the constraint allows, among those it could fetch (with a URL).
func (idx *index) newest(name string, constraint *semver.Constraints, file string) (string, error) {
	versions, ok := idx.Entries[name]
	if !ok {
		return "", &inputerr.Error{Msg: fmt.Sprintf("%s has no chart %s", idx.source, name),
			Hint: "check the dependency's name and repository in " + file}
	}
	var have []string
	for _, cv := range versions { // newest first
		v, err := semver.NewVersion(cv.Version)
		if err != nil || len(cv.URLs) == 0 {
			continue // helm's resolver skips these too
		}
		if constraint.Check(v) {
			return v.Original(), nil
		}
		have = append(have, cv.Version)
	}
	list := "none"
	if len(have) > 0 {
		list = strings.Join(have[:min(len(have), mostListed)], ", ")
		if more := len(have) - mostListed; more > 0 {
			list += fmt.Sprintf(" and %d older", more)
		}
	}
	return "", &inputerr.Error{Msg: fmt.Sprintf("no version matches %s: %s has %s", constraint, idx.source, list),
		Hint: "change the version constraint in " + file}
}
