// Package values layers a hub's helm values for one environment, later wins:
//
//	chart defaults (applied by helm when rendering)
//	→ config/common.yaml → config/<env>.yaml
//	→ secrets/<env>.yaml (decrypted)
//	→ secrets/deployments/<hub>/secrets/<env>.yaml at the repo root (decrypted), if present
//	→ --values files → --set → --set-string
//	→ each image's name and tag at its helm_substitution_path, as strings.
//
// Missing files are skipped. This is hubploy's order, kept so existing repos render the
// same values they always did.
package values

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/strvals"

	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/strictyaml"
)

// Image is an image's reference to write into the values.
type Image struct {
	Path string // dotted values path, e.g. jupyterhub.singleuser.image
	Name string
	Tag  string
}

// Options are the command-line layers.
type Options struct {
	ValueFiles []string // --values, in order; may be sops-encrypted
	Set        []string // --set a.b=c
	SetString  []string // --set-string a.b=c
	Images     []Image
}

// Layer records one source that was applied.
type Layer struct {
	Source string // file (relative to the repo) or flag
	Secret bool   // it came from a sops-encrypted file
}

// Result is the layered values of one hub and environment.
type Result struct {
	Values map[string]any
	Layers []Layer
	// SecretStrings are the scalar values read from secret files (encrypted, or named
	// secret), longest first, so that output can be masked.
	SecretStrings []string
}

// Build layers the values of hub h for env. Every layer is read even after one fails,
// so the error joins (errors.Join) each file's and flag's problem.
func Build(h *repo.Hub, env string, dec *secrets.Decrypter, opts Options) (*Result, error) {
	res := &Result{Values: map[string]any{}}
	secretSet := map[string]bool{}
	var errs []error
	files := []string{
		h.Path("config", "common.yaml"),
		h.Path("config", env+".yaml"),
		h.Path("secrets", env+".yaml"),
		filepath.Join(h.Repo.Root, "secrets", repo.DeploymentsDir, h.Name, "secrets", env+".yaml"),
	}
	for _, f := range files {
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		errs = append(errs, res.applyFile(f, h.Repo.Rel(f), dec, secretSet))
	}
	for _, f := range opts.ValueFiles {
		errs = append(errs, res.applyFile(f, f, dec, secretSet))
	}
	for _, s := range opts.Set {
		errs = append(errs, res.applySet("--set", s, strvals.ParseInto))
	}
	for _, s := range opts.SetString {
		errs = append(errs, res.applySet("--set-string", s, strvals.ParseIntoString))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, img := range opts.Images {
		SetPath(res.Values, img.Path+".name", img.Name)
		SetPath(res.Values, img.Path+".tag", img.Tag)
		res.Layers = append(res.Layers, Layer{Source: fmt.Sprintf("image %s:%s at %s", img.Name, img.Tag, img.Path)})
	}
	for s := range secretSet {
		res.SecretStrings = append(res.SecretStrings, s)
	}
	sort.Slice(res.SecretStrings, func(i, j int) bool {
		a, b := res.SecretStrings[i], res.SecretStrings[j]
		return len(a) > len(b) || (len(a) == len(b) && a < b)
	})
	return res, nil
}

func (res *Result) applySet(flag, s string, parse func(string, map[string]any) error) error {
	if err := parse(s, res.Values); err != nil {
		return &inputerr.Error{Key: flag, Msg: fmt.Sprintf("cannot parse %q: %v", s, err), Hint: "use key.path=value, comma-separated"}
	}
	res.Layers = append(res.Layers, Layer{Source: flag + " " + s})
	return nil
}

func (res *Result) applyFile(path, display string, dec *secrets.Decrypter, secretSet map[string]bool) error {
	data, encrypted, err := dec.ReadFile(path, display)
	if err != nil {
		return err
	}
	// A file whose name says secret holds secrets even unencrypted (git-crypt repos).
	secret := encrypted || secrets.NameSaysSecret(display)
	layer, err := strictyaml.Values(display, data)
	if err != nil {
		if secret {
			// A YAML error about secret text may quote it.
			return &inputerr.Error{File: display, Msg: "the content is not a YAML mapping", Hint: "check it with `hubploy decrypt " + display + "`"}
		}
		return err
	}
	if secret {
		for _, v := range Secrets(layer, func([]string, any) bool { return true }) {
			secretSet[v] = true
		}
	}
	res.Values = Overlay(res.Values, layer)
	res.Layers = append(res.Layers, Layer{Source: display, Secret: encrypted})
	return nil
}

// Overlay returns base with top laid over it: maps are merged recursively, anything
// else in top wins. Neither map is changed.
func Overlay(base, top map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(top))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range top {
		if tm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = Overlay(bm, tm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// SetPath sets a dotted path to a string, creating maps on the way and replacing any
// non-map in between.
func SetPath(m map[string]any, path string, value string) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = value
}

// Lookup returns the value at a dotted path and whether it exists.
func Lookup(m map[string]any, path string) (any, bool) {
	return LookupKeys(m, strings.Split(path, "."))
}
