package images_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/pipeline/hubconfig"
	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/imagetag"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// hub copies the example repository, gives datahub the hubploy.yaml config (if not
// empty) and the pins file pins (if not empty), and loads it.
func hub(t *testing.T, config, pins string) *repo.Hub {
	t.Helper()
	root := example.Copy(t)
	if config != "" {
		write(t, filepath.Join(root, "deployments/datahub/hubploy.yaml"), config)
	}
	if pins != "" {
		write(t, filepath.Join(root, "deployments/datahub", images.PinsFile), pins)
	}
	r, err := repo.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Hub("datahub")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func write(t *testing.T, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const twoImages = `images:
  images:
    - name: reg.example/datahub/user-image
      path: image
    - name: reg.example/datahub/prebuilt:v1.2
      helm_substitution_path: jupyterhub.hub.image
`

func TestResolve(t *testing.T) {
	h := hub(t, twoImages, "prod:\n  reg.example/datahub/user-image: 3f2a9c1b4d5e\n")
	folderTag, err := imagetag.ContentTag(h.Path("image"), "image")
	if err != nil {
		t.Fatal(err)
	}
	built := images.Image{Name: "reg.example/datahub/user-image", Tag: folderTag, HelmPath: hubconfig.DefaultSubstitutionPath, Source: images.SourceContent,
		Context: h.Path("image"), Dockerfile: h.Path("image", "Dockerfile"), ContextDisplay: "deployments/datahub/image"}
	prebuilt := images.Image{Name: "reg.example/datahub/prebuilt", Tag: "v1.2", HelmPath: "jupyterhub.hub.image", Source: images.SourceName}
	pinned := images.Image{Name: "reg.example/datahub/user-image", Tag: "3f2a9c1b4d5e", HelmPath: hubconfig.DefaultSubstitutionPath, Source: images.SourcePin}
	ignore := cmpopts.IgnoreFields(images.Image{}, "Config", "ConfigFile")
	for env, want := range map[string][]images.Image{"": {built, prebuilt}, "staging": {built, prebuilt}, "prod": {pinned, prebuilt}} {
		got, err := images.Resolve(h, env)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, ignore); diff != "" {
			t.Errorf("env %q (-want +got):\n%s", env, diff)
		}
	}
	got, _ := images.Resolve(h, "prod")
	if got[1].Ref() != "reg.example/datahub/prebuilt:v1.2" || got[1].Registry() != "reg.example" || got[1].Buildable() || got[1].Config.Key != "images.images[1]" || got[1].ConfigFile != "deployments/datahub/hubploy.yaml" {
		t.Errorf("got %+v", got[1])
	}
	if _, err := images.Resolve(h, "develop"); err == nil || !strings.Contains(err.Error(), `hub "datahub" has no environment "develop"`) {
		t.Errorf("unknown env: %v", err)
	}
}

func TestResolveGitCommit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	h := hub(t, "images:\n  image_name: reg.example/datahub/user-image\n  tag_strategy: git-commit\n", "")
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = h.Repo.Root
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "all")
	imgs, err := images.Resolve(h, "prod")
	if err != nil {
		t.Fatal(err)
	}
	head := git("rev-parse", "HEAD")
	if imgs[0].Source != images.SourceGitCommit || !strings.HasPrefix(head, imgs[0].Tag) || len(imgs[0].Tag) < imagetag.GitMinLength || !imgs[0].Buildable() {
		t.Errorf("got %+v, HEAD %s", imgs[0], head)
	}
}

// Bad input: one line naming the file, the line or key, and what to do.
func TestResolveErrors(t *testing.T) {
	const pinsFile = "deployments/datahub/image-pins.yaml"
	for _, tc := range []struct {
		name, config, pins, want string
	}{
		{"missing image folder", "images:\n  images:\n  - {name: reg.example/a, path: images/nope}\n", "",
			"deployments/datahub/images/nope: image folder does not exist (create it, or fix the image's path in hubploy.yaml)"},
		{"pin for an unknown environment", twoImages, "prd:\n  reg.example/datahub/user-image: abc1234\n",
			pinsFile + `:1: key "prd": hub "datahub" has no environment "prd": there is no deployments/datahub/config/prd.yaml (did you mean "prod"? environments: prod, staging)`},
		{"pin for an unknown image", twoImages, "# comment\nprod:\n  reg.example/datahub/user-imag: abc1234\n",
			pinsFile + `:3: key "prod.reg.example/datahub/user-imag": is not an image of the hub's hubploy.yaml (did you mean "reg.example/datahub/user-image"? images: reg.example/datahub/user-image, reg.example/datahub/prebuilt)`},
		{"invalid pinned tag", twoImages, "prod:\n  reg.example/datahub/user-image: 'v1 2'\n",
			pinsFile + `:2: key "prod.reg.example/datahub/user-image": invalid tag "v1 2" (a tag is letters, digits, '_', '.' and '-', at most 128)`},
		{"pinned tag is a list", twoImages, "prod:\n  reg.example/datahub/user-image: [a]\n",
			pinsFile + `:2: key "prod.reg.example/datahub/user-image": must be a tag (write the tag, e.g. 3f2a9c1b4d5e)`},
		{"environment listed twice", twoImages, "prod: {}\nprod: {}\n",
			pinsFile + `:2: key "prod": is set twice, first at line 1 (keep one of the two)`},
		{"second document", twoImages, "prod: {}\n---\nstaging: {}\n",
			pinsFile + `:2: starts a second YAML document, which hubploy would ignore`},
		{"not a mapping", twoImages, "- prod\n", pinsFile + `:1: must map environments to image names and tags (see hubploy's README)`},
		{"malformed", twoImages, "prod: [\n", pinsFile + ":"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hub(t, tc.config, tc.pins)
			_, err := images.Resolve(h, "staging")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestPromote(t *testing.T) {
	const pins = `# Pins, reviewed by the infra team.
staging:
  # staging went back to the last good image
  reg.example/datahub/user-image: "0000000a" # rollback
`
	h := hub(t, twoImages, pins)
	path := h.Path(images.PinsFile)
	changes, err := images.Promote(h, "staging", "prod")
	if err != nil {
		t.Fatal(err)
	}
	current, _ := images.Resolve(h, "")
	want := []images.Change{
		{Name: "reg.example/datahub/user-image", Tag: "0000000a", Previous: current[0].Tag, Written: true},
		{Name: "reg.example/datahub/prebuilt", Tag: "v1.2", Previous: "v1.2", Written: true},
	}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	data, _ := os.ReadFile(path)
	if got := string(data); got != pins+`prod:
  reg.example/datahub/user-image: 0000000a
  reg.example/datahub/prebuilt: v1.2
` {
		t.Errorf("file after promote:\n%s", got)
	}
	prod, err := images.Resolve(h, "prod")
	if err != nil || prod[0].Tag != "0000000a" || prod[0].Source != images.SourcePin {
		t.Fatalf("prod after promote: %+v, %v", prod, err)
	}
	// Promoting again changes nothing and writes nothing: a rewrite would re-indent.
	wide := strings.ReplaceAll(string(data), "\n  ", "\n    ")
	write(t, path, wide)
	if changes, err := images.Promote(h, "staging", "prod"); err != nil || changes[0].Written || changes[1].Written {
		t.Errorf("second promote: %+v, %v", changes, err)
	}
	if data, _ := os.ReadFile(path); string(data) != wide {
		t.Errorf("a promote with nothing to change rewrote the file")
	}
	if _, err := images.Promote(h, "prod", "prod"); err == nil || err.Error() != "cannot promote prod to itself (give two environments, e.g. --from staging --to prod)" {
		t.Errorf("to itself: %v", err)
	}
}

// Without a pins file, promote writes one with a header, and a tag of digits quoted.
func TestPromoteNewFile(t *testing.T) {
	h := hub(t, "images:\n  images:\n  - name: reg.example/datahub/user-image:1234567\n", "")
	if _, err := images.Promote(h, "staging", "prod"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(h.Path(images.PinsFile))
	text := string(data)
	if !strings.HasPrefix(text, "# Image tags pinned per environment") || !strings.HasSuffix(text, "\nprod:\n  reg.example/datahub/user-image: \"1234567\"\n") {
		t.Errorf("new pins file:\n%s", text)
	}
	if imgs, err := images.Resolve(h, "prod"); err != nil || imgs[0].Source != images.SourcePin || imgs[0].Tag != "1234567" {
		t.Errorf("prod: %+v, %v", imgs, err)
	}
}
