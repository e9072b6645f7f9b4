package release_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/imagetag"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/values"
)

func options(t *testing.T) release.Options {
	key, err := os.ReadFile(example.AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	return release.Options{
		Decrypter: &secrets.Decrypter{AgeIdentities: []string{string(key)}},
		Charts:    &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{example.Z2JHRepository: example.MirrorFolder()}},
	}
}

func TestPrepareAndRender(t *testing.T) {
	r, _ := repo.Open(example.Dir())
	h, err := r.Hub("datahub")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := release.Prepare(context.Background(), h, "staging", options(t))
	if err != nil {
		t.Fatal(err)
	}
	if rel.Name != "datahub-staging" || rel.Namespace != "datahub-staging" {
		t.Errorf("release %s in %s", rel.Name, rel.Namespace)
	}
	tag, _ := imagetag.ContentTag(h.Path("image"), "image")
	if diff := cmp.Diff([]values.Image{{Path: "jupyterhub.singleuser.image", Name: "registry.example.org/datahub/user-image", Tag: tag}}, rel.Images); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if len(rel.Values.SecretStrings) == 0 {
		t.Error("no secret strings: secrets were not layered")
	}
	out, err := rel.Render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "tag: "+tag) {
		t.Error("rendered manifests lack the image tag")
	}
	masked := rel.Masker.Manifest(out)
	for _, s := range rel.Values.SecretStrings {
		if strings.Contains(masked, s) {
			t.Errorf("masked output holds a secret")
		}
	}
}

func TestImagesTagInName(t *testing.T) {
	root := example.Copy(t)
	os.WriteFile(filepath.Join(root, "deployments/datahub/hubploy.yaml"), []byte("images:\n  images:\n  - name: reg.example/img:34f4eb103e6a\n"), 0o644)
	r, _ := repo.Open(root)
	h, err := r.Hub("datahub")
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := release.Images(h)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]values.Image{{Path: "jupyterhub.singleuser.image", Name: "reg.example/img", Tag: "34f4eb103e6a"}}, imgs); diff != "" {
		t.Error(diff)
	}
}

func TestPrepareMissingEnv(t *testing.T) {
	r, _ := repo.Open(example.Dir())
	h, _ := r.Hub("stat20")
	if _, err := release.Prepare(context.Background(), h, "develop", options(t)); err == nil || !strings.Contains(err.Error(), `has no environment "develop"`) {
		t.Fatalf("got %v", err)
	}
}
