package plan

import (
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/hubploy/hubploy/pipeline/hubconfig"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// ReadLayout reads the layout of repository r as its working tree has it: the hubs,
// their environments and the images built from their folders; the umbrella chart at
// chartDir (relative to the root) with the local charts it depends on; and shared,
// other files every hub reads (absolute, or relative to the root; those outside the
// repository cannot change in it and are left out).
func ReadLayout(r *repo.Repo, chartDir string, shared []string) (*Layout, error) {
	l := &Layout{Charts: localCharts(r, filepath.Join(r.Root, chartDir))}
	for _, s := range shared {
		if !filepath.IsAbs(s) {
			s = filepath.Join(r.Root, s)
		}
		if rel := r.Rel(s); !filepath.IsAbs(rel) {
			l.Shared = append(l.Shared, rel)
		}
	}
	names, err := r.HubNames()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		h, err := r.Hub(name)
		if err != nil {
			return nil, err
		}
		envs, err := h.Environments()
		if err != nil {
			return nil, err
		}
		hub := Hub{Name: name, Envs: envs}
		for _, img := range h.Config.ImageList() {
			// An image with a tag in its name is deployed as it is, never built.
			if repoName, tag := hubconfig.SplitTag(img.Name); tag == "" {
				hub.Images = append(hub.Images, Image{Name: repoName, Folder: r.Rel(h.Path(img.Path))})
			}
		}
		l.Hubs = append(l.Hubs, hub)
	}
	return l, nil
}

// localCharts is the chart folder dir and, recursively, the folders of the file://
// dependencies it declares that are in the repository, relative to its root.
func localCharts(r *repo.Repo, dir string) []string {
	var dirs []string
	var visit func(dir string)
	visit = func(dir string) {
		rel := r.Rel(dir)
		if filepath.IsAbs(rel) || slices.Contains(dirs, rel) {
			return
		}
		dirs = append(dirs, rel)
		c, err := loader.LoadDir(dir)
		if err != nil {
			return // validate and deploy report a chart that does not load; its folder still counts
		}
		for _, d := range c.Metadata.Dependencies {
			if p, ok := strings.CutPrefix(d.Repository, "file://"); ok {
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				visit(filepath.Clean(p))
			}
		}
	}
	visit(dir)
	return dirs
}
