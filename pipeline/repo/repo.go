// Package repo finds the hubs of a deployment repository and their environments:
// deployments/<hub>/hubploy.yaml, with config/<env>.yaml for each environment.
package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hubploy/hubploy/pipeline/hubconfig"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/strictyaml"
)

// DeploymentsDir is the folder of hubs, relative to the repo root.
const DeploymentsDir = "deployments"

// Repo is a deployment repository on disk.
type Repo struct {
	Root string
}

// Open checks that root looks like a deployment repository.
func Open(root string) (*Repo, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(filepath.Join(abs, DeploymentsDir)); err != nil || !fi.IsDir() {
		return nil, &inputerr.Error{File: root, Msg: "has no deployments/ folder, so it is not a hubploy deployment repository",
			Hint: "run hubploy from the repository root, or pass --repo"}
	}
	return &Repo{Root: abs}, nil
}

// Rel names a path under the repo the way errors show it: relative, with slashes.
func (r *Repo) Rel(path string) string {
	if rel, err := filepath.Rel(r.Root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return path
}

// HubNames lists the folders of deployments/ that hold a hubploy.yaml, sorted.
func (r *Repo) HubNames() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(r.Root, DeploymentsDir))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && exists(filepath.Join(r.Root, DeploymentsDir, e.Name(), "hubploy.yaml")) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Hub loads one hub and its hubploy.yaml.
func (r *Repo) Hub(name string) (*Hub, error) {
	dir := filepath.Join(r.Root, DeploymentsDir, name)
	cfgPath := filepath.Join(dir, "hubploy.yaml")
	if name == "" || strings.ContainsAny(name, `/\`) || !exists(cfgPath) {
		names, _ := r.HubNames() // only for the "did you mean": the error stands without it
		return nil, &inputerr.Error{Msg: fmt.Sprintf("hub %q not found: there is no %s/%s/hubploy.yaml", name, DeploymentsDir, name),
			Hint: strictyaml.SuggestHint(name, names, "available")}
	}
	cfg, err := hubconfig.Load(cfgPath, r.Rel(cfgPath))
	if err != nil {
		return nil, err
	}
	return &Hub{Repo: r, Name: name, Dir: dir, Config: cfg}, nil
}

// Hubs loads the named hubs, or all of them when names is empty.
func (r *Repo) Hubs(names []string) ([]*Hub, error) {
	if len(names) == 0 {
		var err error
		if names, err = r.HubNames(); err != nil {
			return nil, err
		}
	}
	var hubs []*Hub
	var errs []error
	for _, n := range names {
		h, err := r.Hub(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hubs = append(hubs, h)
	}
	return hubs, errors.Join(errs...)
}

// HubsWithEnv names every hub that has the environment env, or says there is none.
func (r *Repo) HubsWithEnv(env string) ([]string, error) {
	names, err := r.HubNames()
	if err != nil {
		return nil, err
	}
	var withEnv []string
	for _, n := range names {
		h, err := r.Hub(n)
		if err != nil {
			return nil, err
		}
		if h.CheckEnv(env) == nil {
			withEnv = append(withEnv, n)
		}
	}
	if len(withEnv) == 0 {
		return nil, &inputerr.Error{Msg: fmt.Sprintf("no hub has an environment %q", env), Hint: "environments are the config/<env>.yaml files"}
	}
	return withEnv, nil
}

// Hub is one deployments/<name>/ folder.
type Hub struct {
	Repo   *Repo
	Name   string
	Dir    string
	Config *hubconfig.Config
}

// Path joins parts under the hub's folder.
func (h *Hub) Path(parts ...string) string {
	return filepath.Join(append([]string{h.Dir}, parts...)...)
}

// Environments lists the hub's environments: every config/<env>.yaml but common.yaml.
func (h *Hub) Environments() ([]string, error) {
	entries, err := os.ReadDir(h.Path("config"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var envs []string
	for _, e := range entries {
		name := e.Name()
		if env, ok := strings.CutSuffix(name, ".yaml"); ok && !e.IsDir() && env != "common" {
			envs = append(envs, env)
		}
	}
	sort.Strings(envs)
	return envs, nil
}

// CheckEnv returns an input error when the hub has no such environment.
func (h *Hub) CheckEnv(env string) error {
	envs, err := h.Environments()
	if err != nil {
		return err
	}
	if slices.Contains(envs, env) {
		return nil
	}
	return &inputerr.Error{Msg: fmt.Sprintf("hub %q has no environment %q: there is no %s", h.Name, env, h.Repo.Rel(h.Path("config", env+".yaml"))),
		Hint: strictyaml.SuggestHint(env, envs, "environments are the config/<env>.yaml files; this hub has")}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
