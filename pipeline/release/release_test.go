package release_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/imagetag"
	"github.com/hubploy/hubploy/pipeline/inputerr"
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
	rel, err := release.Prepare(context.Background(), h, "prod", options(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]values.Image{{Path: "jupyterhub.singleuser.image", Name: "reg.example/img", Tag: "34f4eb103e6a"}}, rel.Images); diff != "" {
		t.Error(diff)
	}
}

// An environment's pin in image-pins.yaml is what that environment deploys; the other
// environment keeps the folder's tag.
func TestPrepareUsesPins(t *testing.T) {
	root := example.Copy(t)
	os.WriteFile(filepath.Join(root, "deployments/datahub/image-pins.yaml"), []byte("prod:\n  registry.example.org/datahub/user-image: 1234567\n"), 0o644)
	r, _ := repo.Open(root)
	h, _ := r.Hub("datahub")
	folderTag, _ := imagetag.ContentTag(h.Path("image"), "image")
	for env, want := range map[string]string{"prod": "1234567", "staging": folderTag} {
		rel, err := release.Prepare(context.Background(), h, env, options(t))
		if err != nil {
			t.Fatal(err)
		}
		if rel.Images[0].Tag != want {
			t.Errorf("%s deploys tag %s, want %s", env, rel.Images[0].Tag, want)
		}
		out, err := rel.Render(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, `tag: "`+want+`"`) && !strings.Contains(out, "tag: "+want+"\n") {
			t.Errorf("%s: the rendered manifests lack tag %s", env, want)
		}
	}
}

// A helm_substitution_path the chart does not read is refused before anything renders.
func TestPrepareChecksSubstitutionPath(t *testing.T) {
	root := example.Copy(t)
	os.WriteFile(filepath.Join(root, "deployments/datahub/hubploy.yaml"),
		[]byte("images:\n  images:\n  - name: reg.example/img:v1\n    helm_substitution_path: jupyterhub.singleuser.imag\n"), 0o644)
	r, _ := repo.Open(root)
	h, _ := r.Hub("datahub")
	_, err := release.Prepare(context.Background(), h, "prod", options(t))
	want := `deployments/datahub/hubploy.yaml: key "images.images[0].helm_substitution_path": "jupyterhub.singleuser.imag" is not a mapping in the values of the chart hub or its dependencies (did you mean "jupyterhub.singleuser.image"?)`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

// Every image's helm_substitution_path is checked, one error line each.
func TestCheckImagePathsReportsEachImage(t *testing.T) {
	root := example.Copy(t)
	os.WriteFile(filepath.Join(root, "deployments/datahub/hubploy.yaml"), []byte("images:\n  images:\n"+
		"  - {name: reg.example/a:v1, helm_substitution_path: nowhere.a}\n"+
		"  - {name: reg.example/b:v1}\n"+
		"  - {name: reg.example/c:v1, helm_substitution_path: nowhere.c}\n"), 0o644)
	r, _ := repo.Open(root)
	h, _ := r.Hub("datahub")
	_, err := release.Prepare(context.Background(), h, "prod", options(t))
	lines := strings.Split(fmt.Sprint(err), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `key "images.images[0].helm_substitution_path": "nowhere.a"`) ||
		!strings.Contains(lines[1], `key "images.images[2].helm_substitution_path": "nowhere.c"`) || !inputerr.Is(err) {
		t.Fatalf("got %v", err)
	}
}

func TestPrepareMissingEnv(t *testing.T) {
	r, _ := repo.Open(example.Dir())
	h, _ := r.Hub("stat20")
	if _, err := release.Prepare(context.Background(), h, "develop", options(t)); err == nil || !strings.Contains(err.Error(), `has no environment "develop"`) {
		t.Fatalf("got %v", err)
	}
}
