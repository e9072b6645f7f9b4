package values_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/values"
)

type layer struct {
	name  string
	apply func(root string, opts *values.Options)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLayerOrder pins the layering order: with the first n layers present, the n-th
// decides "winner", and every layer's own key survives.
func TestLayerOrder(t *testing.T) {
	key := sopstest.NewKey(t)
	doc := func(name string) string {
		return "jupyterhub:\n  singleuser:\n    image:\n      name: from-" + name + "\n      tag: from-" + name + "\nwinner: " + name + "\nonly_" + strings.ReplaceAll(name, "-", "_") + ": true\n"
	}
	plainFile := func(rel string) func(string, *values.Options) {
		return func(root string, _ *values.Options) {
			writeFile(t, filepath.Join(root, rel), doc(strings.ReplaceAll(rel, "/", "-")))
		}
	}
	encFile := func(rel string) func(string, *values.Options) {
		return func(root string, _ *values.Options) {
			writeFile(t, filepath.Join(root, rel), string(sopstest.MustEncrypt(t, rel, []byte(doc(strings.ReplaceAll(rel, "/", "-"))), key.Recipient)))
		}
	}
	layers := []layer{
		{"deployments-hub-config-common.yaml", plainFile("deployments/hub/config/common.yaml")},
		{"deployments-hub-config-prod.yaml", plainFile("deployments/hub/config/prod.yaml")},
		{"deployments-hub-secrets-prod.yaml", encFile("deployments/hub/secrets/prod.yaml")},
		{"secrets-deployments-hub-secrets-prod.yaml", encFile("secrets/deployments/hub/secrets/prod.yaml")},
		{"values-file", func(root string, o *values.Options) {
			p := filepath.Join(root, "extra.yaml")
			writeFile(t, p, doc("values-file"))
			o.ValueFiles = append(o.ValueFiles, p)
		}},
		{"set", func(_ string, o *values.Options) {
			o.Set = append(o.Set, "winner=set,only_set=true,jupyterhub.singleuser.image.tag=from-set")
		}},
		{"set-string", func(_ string, o *values.Options) {
			o.SetString = append(o.SetString, "winner=set-string,only_set_string=true,jupyterhub.singleuser.image.tag=1234")
		}},
		{"image", func(_ string, o *values.Options) {
			o.Images = append(o.Images, values.Image{Path: "jupyterhub.singleuser.image", Name: "reg/img", Tag: "0123"})
		}},
	}
	for n := 1; n <= len(layers); n++ {
		t.Run(layers[n-1].name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, filepath.Join(root, "deployments/hub/hubploy.yaml"), "")
			writeFile(t, filepath.Join(root, "deployments/hub/config/prod.yaml"), "")
			var opts values.Options
			for _, l := range layers[:n] {
				l.apply(root, &opts)
			}
			r, _ := repo.Open(root)
			h, err := r.Hub("hub")
			if err != nil {
				t.Fatal(err)
			}
			res, err := values.Build(h, "prod", &secrets.Decrypter{AgeIdentities: []string{key.Identity}}, opts)
			if err != nil {
				t.Fatal(err)
			}
			last := layers[n-1].name
			wantWinner := last
			if last == "image" {
				wantWinner = "set-string"
			}
			if got := res.Values["winner"]; got != wantWinner {
				t.Errorf("winner = %v, want %v", got, wantWinner)
			}
			for _, l := range layers[:n] {
				k := "only_" + strings.ReplaceAll(l.name, "-", "_")
				if l.name == "image" {
					continue
				}
				if _, ok := res.Values[k]; !ok {
					t.Errorf("layer %s's own key %s was lost", l.name, k)
				}
			}
			wantLayers := max(n, 2) // the (empty) config/prod.yaml always exists
			if len(res.Layers) != wantLayers {
				t.Errorf("applied %d layers, want %d: %+v", len(res.Layers), wantLayers, res.Layers)
			}
			if last == "image" {
				img, _ := values.Lookup(res.Values, "jupyterhub.singleuser.image")
				if diff := cmp.Diff(map[string]any{"name": "reg/img", "tag": "0123"}, img); diff != "" {
					t.Errorf("image values (-want +got):\n%s", diff)
				}
			}
			if last == "set-string" {
				if tag, _ := values.Lookup(res.Values, "jupyterhub.singleuser.image.tag"); tag != "1234" {
					t.Errorf("--set-string did not keep a string: %#v", tag)
				}
			}
		})
	}
}

func TestSecretStringsAreCollected(t *testing.T) {
	key := sopstest.NewKey(t)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "deployments/hub/hubploy.yaml"), "")
	writeFile(t, filepath.Join(root, "deployments/hub/config/prod.yaml"), "public: visible\n")
	writeFile(t, filepath.Join(root, "deployments/hub/secrets/prod.yaml"),
		string(sopstest.MustEncrypt(t, "x.yaml", []byte("token: abcdef0123\nlist: [longsecretvalue]\nenabled: true\nport: 8080\n"), key.Recipient)))
	r, _ := repo.Open(root)
	h, _ := r.Hub("hub")
	res, err := values.Build(h, "prod", &secrets.Decrypter{AgeIdentities: []string{key.Identity}}, values.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"longsecretvalue", "abcdef0123", "8080"}, res.SecretStrings); diff != "" {
		t.Errorf("secret strings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"list"}, {"port"}, {"token"}}, res.SecretKeys()); diff != "" {
		t.Errorf("secret keys (-want +got):\n%s", diff)
	}
	if !res.Layers[1].Secret || res.Layers[0].Secret {
		t.Errorf("layers: %+v", res.Layers)
	}
}

func TestBadInput(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "deployments/hub/hubploy.yaml"), "")
	writeFile(t, filepath.Join(root, "deployments/hub/config/common.yaml"), "a: 1\nb: [\n")
	writeFile(t, filepath.Join(root, "deployments/hub/config/prod.yaml"), "")
	r, _ := repo.Open(root)
	h, _ := r.Hub("hub")
	_, err := values.Build(h, "prod", &secrets.Decrypter{}, values.Options{})
	if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), "deployments/hub/config/common.yaml:2: ") {
		t.Fatalf("malformed YAML: got %v", err)
	}
	writeFile(t, filepath.Join(root, "deployments/hub/config/common.yaml"), "")
	_, err = values.Build(h, "prod", &secrets.Decrypter{}, values.Options{Set: []string{"a.b"}})
	if err == nil || !strings.HasPrefix(err.Error(), `key "--set": cannot parse "a.b"`) {
		t.Fatalf("bad --set: got %v", err)
	}
}

// Every bad layer is reported, each on its own line naming its file, and callers still
// find the input errors with errors.As.
func TestEveryBadLayerIsReported(t *testing.T) {
	key := sopstest.NewKey(t)
	other := sopstest.NewKey(t)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "deployments/hub/hubploy.yaml"), "")
	writeFile(t, filepath.Join(root, "deployments/hub/config/common.yaml"), "a: [\n")
	writeFile(t, filepath.Join(root, "deployments/hub/config/prod.yaml"), "b: 1\n")
	writeFile(t, filepath.Join(root, "deployments/hub/secrets/prod.yaml"),
		string(sopstest.MustEncrypt(t, "prod.yaml", []byte("token: s3cr3t-value\n"), other.Recipient)))
	r, _ := repo.Open(root)
	h, _ := r.Hub("hub")
	_, err := values.Build(h, "prod", &secrets.Decrypter{AgeIdentities: []string{key.Identity}}, values.Options{Set: []string{"c"}})
	lines := strings.Split(err.Error(), "\n")
	want := []string{"deployments/hub/config/common.yaml:", "deployments/hub/secrets/prod.yaml: no available key", `key "--set": cannot parse "c"`}
	if len(lines) != len(want) {
		t.Fatalf("want %d problems, got:\n%v", len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d: got %q, want it to start with %q", i, lines[i], w)
		}
	}
	var ie *inputerr.Error
	if !inputerr.Is(err) || !errors.As(err, &ie) || ie.File != "deployments/hub/config/common.yaml" {
		t.Errorf("errors.As finds %+v", ie)
	}
}
