package values_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/strictyaml"
	"github.com/hubploy/hubploy/pipeline/values"
)

// fuzzHub is a deployment repository with one hub, "hub", for a fuzz target's runs.
func fuzzHub(f *testing.F) *repo.Hub {
	root := f.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "deployments", "hub", "config"), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "deployments", "hub", "hubploy.yaml"), nil, 0o644); err != nil {
		f.Fatal(err)
	}
	r, err := repo.Open(root)
	if err != nil {
		f.Fatal(err)
	}
	h, err := r.Hub("hub")
	if err != nil {
		f.Fatal(err)
	}
	return h
}

// FuzzLayering layers three YAML documents as Build does (config/common.yaml,
// config/prod.yaml, a --values file): it never panics, and the result is what laying
// each document's leaves over the ones before gives, so a later layer wins at every path
// it sets and keeps what it does not touch.
func FuzzLayering(f *testing.F) {
	h := fuzzHub(f)
	extra := filepath.Join(f.TempDir(), "extra.yaml")
	files := []string{h.Path("config", "common.yaml"), h.Path("config", "prod.yaml"), extra}
	f.Fuzz(func(t *testing.T, common, prod, values3 []byte) {
		docs := [][]byte{common, prod, values3}
		for i, doc := range docs {
			if err := os.WriteFile(files[i], doc, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		res, err := values.Build(h, "prod", &secrets.Decrypter{}, values.Options{ValueFiles: []string{extra}})
		var layers []map[string]any
		for i, doc := range docs {
			layer, perr := strictyaml.Values(files[i], doc)
			if perr != nil {
				if err == nil {
					t.Fatalf("Build took layer %d, which does not parse: %v", i, perr)
				}
				return
			}
			layers = append(layers, layer)
		}
		if err != nil {
			t.Fatalf("every layer parses, yet Build failed: %v", err)
		}
		if diff := cmp.Diff(laidOver(layers), leaves(res.Values), cmpopts.EquateNaNs()); diff != "" {
			t.Errorf("layered values (-want +got):\n%s", diff)
		}
	})
}

// leaves flattens values to their leaves by path (a JSON list of keys, since keys may
// hold any character). A list is a leaf: a later layer replaces it whole.
func leaves(vals map[string]any) map[string]any {
	out := map[string]any{}
	var walk func(path []string, v any)
	walk = func(path []string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, c := range m {
				walk(append(slices.Clone(path), k), c)
			}
			return
		}
		out[pathKey(path)] = v
	}
	walk(nil, vals)
	delete(out, pathKey(nil)) // an empty top level
	return out
}

func pathKey(path []string) string {
	data, _ := json.Marshal(path) // a []string always encodes
	return string(data)
}

// laidOver is the model of layering: each layer's leaves in turn replace the leaves
// at, above and below their paths; a map, even an empty one, replaces a leaf where it
// stands.
func laidOver(layers []map[string]any) map[string]any {
	model := map[string][]string{} // path key → path
	vals := map[string]any{}
	isPrefix := func(p, q []string) bool { return len(p) <= len(q) && slices.Equal(p, q[:len(p)]) }
	var lay func(path []string, v any)
	lay = func(path []string, v any) {
		for k, q := range model {
			// A leaf above path gives way to the map path is in; at or below path, to v.
			if isPrefix(q, path) || !isMap(v) && isPrefix(path, q) {
				delete(model, k)
				delete(vals, k)
			}
		}
		if m, ok := v.(map[string]any); ok {
			for k, c := range m {
				lay(append(slices.Clone(path), k), c)
			}
			return
		}
		model[pathKey(path)], vals[pathKey(path)] = path, v
	}
	for _, l := range layers {
		for _, k := range slices.Sorted(maps.Keys(l)) {
			lay([]string{k}, l[k])
		}
	}
	return vals
}

func isMap(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// FuzzSet gives Build one --set or --set-string as hubploy's command line does: it never
// panics, and a value it cannot take is refused with an input error of one line that
// names the flag.
func FuzzSet(f *testing.F) {
	h := fuzzHub(f)
	f.Fuzz(func(t *testing.T, s string, asString bool) {
		flag, opts := "--set", values.Options{Set: []string{s}}
		if asString {
			flag, opts = "--set-string", values.Options{SetString: []string{s}}
		}
		_, err := values.Build(h, "prod", &secrets.Decrypter{}, opts)
		if err == nil {
			return
		}
		if msg := err.Error(); !inputerr.Is(err) || strings.Contains(msg, "\n") || !strings.Contains(msg, `"`+flag+`"`) {
			t.Fatalf("want an input error of one line naming %s, got %T: %q", flag, err, msg)
		}
	})
}
