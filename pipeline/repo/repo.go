// Package repo finds the hubs of a deployment repository and their environments:
// deployments/<hub>/hubploy.yaml, with config/<env>.yaml for each environment.
package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/util/validation"

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

// ReleaseAndNamespace names the hub's helm release and namespace in env (hubploy.yaml's
// deploy templates, else <hub>-<env>; namespace, when given, replaces the hub's), and
// checks them as helm and Kubernetes will, so that a name they refuse is found before
// any work, with the folder, file or key that makes it.
func (h *Hub) ReleaseAndNamespace(env, namespace string) (string, string, error) {
	release, ns := h.Config.ReleaseAndNamespace(h.Name, env)
	releaseTmpl, nsTmpl := h.Config.NameTemplates()
	if chartutil.ValidateReleaseName(release) != nil {
		return "", "", h.badName(env, "release", release, releaseTmpl, releaseRule)
	}
	if namespace != "" {
		if len(validation.IsDNS1123Label(namespace)) > 0 {
			return "", "", &inputerr.Error{Key: "namespace", Msg: fmt.Sprintf("%q is not a namespace Kubernetes accepts", namespace), Hint: namespaceRule}
		}
		return release, namespace, nil
	}
	if len(validation.IsDNS1123Label(ns)) > 0 {
		return "", "", h.badName(env, "namespace", ns, nsTmpl, namespaceRule)
	}
	return release, ns, nil
}

const (
	releaseRule   = "a release name is at most 53 lowercase letters, digits, '-' and '.', and starts and ends with a letter or digit"
	namespaceRule = "a namespace is at most 63 lowercase letters, digits and '-', and starts and ends with a letter or digit"
)

// namePart is what a hub or environment name must be to make valid names.
var namePart = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// badName blames the hub's folder or the environment's file when the template puts a
// name into the refused one that no template could make valid, else the template.
func (h *Hub) badName(env, what, name, tmpl, rule string) error {
	msg := fmt.Sprintf("makes the %s %q, which helm and Kubernetes refuse", what, name)
	switch {
	case strings.Contains(tmpl, "{hub}") && !namePart.MatchString(h.Name):
		return &inputerr.Error{File: h.Repo.Rel(h.Dir), Msg: "the hub's folder name " + msg,
			Hint: "rename the folder: " + rule}
	case strings.Contains(tmpl, "{env}") && !namePart.MatchString(env):
		return &inputerr.Error{File: h.Repo.Rel(h.Path("config", env+".yaml")), Msg: "the environment's name " + msg,
			Hint: "rename the file: " + rule}
	}
	return &inputerr.Error{File: h.Config.File, Key: "deploy." + what, Msg: fmt.Sprintf("%q ", tmpl) + msg,
		Hint: "set deploy." + what + " to a shorter or valid template ({hub} and {env} are filled in): " + rule}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
