package images_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/hubploy/hubploy/internal/registrytest"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// isolate keeps the user's docker and podman credentials out of a test.
func isolate(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", filepath.Join(home, "docker"))
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("REGISTRY_AUTH_FILE", "")
}

// dockerConfig is a docker config.json with one login.
func dockerConfig(host, user, password string) string {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	return fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, host, auth)
}

// registryHub is datahub with two images in reg, the first built from image/, and the
// given registry block.
func registryHub(t *testing.T, host, registryBlock string) *repo.Hub {
	return hub(t, fmt.Sprintf(`images:
  images:
    - name: %s/datahub/user-image
    - name: %s/datahub/other-image
      path: image
      helm_substitution_path: jupyterhub.hub.image
%s`, host, host, registryBlock), "")
}

func check(t *testing.T, h *repo.Hub, dec *secrets.Decrypter) []images.Status {
	t.Helper()
	imgs, err := images.Resolve(h, "staging")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := images.Keychain(h, dec)
	if err != nil {
		t.Fatal(err)
	}
	return images.Check(context.Background(), imgs, kc)
}

// Present: nothing to build. Absent: a build is needed. Both are answers, not errors.
func TestCheckPresentAndAbsent(t *testing.T) {
	isolate(t)
	reg := registrytest.Serve(t, "", "")
	h := registryHub(t, reg.Host, "")
	imgs, _ := images.Resolve(h, "staging")
	reg.Push(t, imgs[0].Ref())
	st := check(t, h, nil)
	if !st[0].Exists || st[0].Err != nil {
		t.Errorf("pushed image: exists %v, err %v", st[0].Exists, st[0].Err)
	}
	if st[1].Exists || st[1].Err != nil {
		t.Errorf("image never pushed: exists %v, err %v", st[1].Exists, st[1].Err)
	}
	if st[0].Ref() != imgs[0].Ref() || !st[1].Buildable() {
		t.Errorf("statuses lost their images: %+v", st)
	}
}

// A private registry: the credentials come from a sops-encrypted docker config named by
// hubploy.yaml, decrypted in memory, or from the user's docker config; wrong or missing
// credentials get one clear line per image.
func TestCheckWithAuth(t *testing.T) {
	isolate(t)
	reg := registrytest.Serve(t, "hubploy", "s3cret-pass")
	key := sopstest.NewKey(t)
	dec := &secrets.Decrypter{AgeIdentities: []string{key.Identity}}
	block := "  registry:\n    provider: dockerconfig\n    dockerconfig:\n      filename: registry.json\n"
	withConfig := func(t *testing.T, password string) *repo.Hub {
		h := registryHub(t, reg.Host, block)
		path := h.Path("secrets", "registry.json")
		write(t, path, string(sopstest.MustEncrypt(t, path, []byte(dockerConfig(reg.Host, "hubploy", password)), key.Recipient)))
		imgs, _ := images.Resolve(h, "staging")
		reg.Push(t, imgs[0].Ref())
		return h
	}

	t.Run("right credentials", func(t *testing.T) {
		st := check(t, withConfig(t, "s3cret-pass"), dec)
		if !st[0].Exists || st[0].Err != nil || st[1].Exists || st[1].Err != nil {
			t.Errorf("got %v %v, %v %v", st[0].Exists, st[0].Err, st[1].Exists, st[1].Err)
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		st := check(t, withConfig(t, "not-the-pass-42"), dec)
		for _, s := range st {
			want := fmt.Sprintf(`deployments/datahub/hubploy.yaml: key "images.registry": registry %s refused access to %s (HTTP 401): the credentials are missing or wrong (check images.registry in hubploy.yaml and the docker config (DOCKER_CONFIG, ~/.docker/config.json))`, reg.Host, s.Name)
			if s.Exists || s.Err == nil || s.Err.Error() != want {
				t.Errorf("got %v\nwant %s", s.Err, want)
			}
			if strings.Contains(fmt.Sprint(s.Err), "not-the-pass-42") {
				t.Errorf("the password leaked into the error")
			}
		}
	})
	t.Run("docker config of the user", func(t *testing.T) {
		h := registryHub(t, reg.Host, "")
		write(t, filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"), dockerConfig(reg.Host, "hubploy", "s3cret-pass"))
		defer os.Remove(filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"))
		imgs, _ := images.Resolve(h, "staging")
		reg.Push(t, imgs[0].Ref())
		if st := check(t, h, nil); !st[0].Exists || st[0].Err != nil {
			t.Errorf("got %v %v", st[0].Exists, st[0].Err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		st := check(t, registryHub(t, reg.Host, ""), nil)
		if st[0].Err == nil || !strings.Contains(st[0].Err.Error(), "refused access") {
			t.Errorf("got %v", st[0].Err)
		}
	})
	t.Run("undecryptable docker config", func(t *testing.T) {
		h := withConfig(t, "s3cret-pass")
		if _, err := images.Keychain(h, &secrets.Decrypter{AgeIdentities: []string{sopstest.NewKey(t).Identity}}); err == nil ||
			!strings.HasPrefix(err.Error(), "deployments/datahub/secrets/registry.json: no available key can decrypt it") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("not a docker config", func(t *testing.T) {
		h := registryHub(t, reg.Host, block)
		path := h.Path("secrets", "registry.json")
		write(t, path, string(sopstest.MustEncrypt(t, path, []byte(`{"auths": "s3cret-pass"}`), key.Recipient)))
		_, err := images.Keychain(h, dec)
		if err == nil || err.Error() != "deployments/datahub/secrets/registry.json: is not a docker config.json (check it with `hubploy decrypt deployments/datahub/secrets/registry.json`)" {
			t.Errorf("got %v", err)
		}
	})
}

func TestCheckUnreachable(t *testing.T) {
	isolate(t)
	host := registrytest.Unreachable(t)
	st := check(t, registryHub(t, host, ""), nil)
	for i, s := range st {
		want := fmt.Sprintf(`deployments/datahub/hubploy.yaml: key "images.images[%d].name": registry %s is unreachable: dial tcp %s: connect: connection refused (check the network, and the registry host in the image's name)`, i, host, host)
		if s.Exists || s.Err == nil || s.Err.Error() != want {
			t.Errorf("got  %v\nwant %s", s.Err, want)
		}
		if inputerr.Is(s.Err) {
			t.Error("an unreachable registry is a failure of the work (exit 1), not bad input (exit 2)")
		}
	}
}

func TestCheckBuild(t *testing.T) {
	h := registryHub(t, "reg.example", "")
	imgs, _ := images.Resolve(h, "staging")
	if err := imgs[0].CheckBuild(); err != nil {
		t.Errorf("with a Dockerfile: %v", err)
	}
	os.Remove(h.Path("image", "Dockerfile"))
	want := "deployments/datahub/hubploy.yaml: key \"images.images[0].path\": image reg.example/datahub/user-image is built from deployments/datahub/image, which has no Dockerfile: hubploy builds images from Dockerfiles only (write one; `repo2docker --no-build --debug deployments/datahub/image` prints the Dockerfile repo2docker would use; or put a prebuilt image's tag in its name)"
	if err := imgs[0].CheckBuild(); err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if err := (images.Image{Name: "reg.example/a", Tag: "v1", Source: images.SourceName}).CheckBuild(); err != nil {
		t.Errorf("an image that is not built: %v", err)
	}
}

// A service key is given to Google's registries only, from a file decrypted in memory;
// nothing here reaches a network (cloud_test.go: ECR and ACR).
func TestKeychainProviders(t *testing.T) {
	isolate(t)
	auth := func(t *testing.T, h *repo.Hub, image string) *authn.AuthConfig {
		t.Helper()
		kc, err := images.Keychain(h, &secrets.Decrypter{AllowUnencrypted: true})
		if err != nil {
			t.Fatal(err)
		}
		a, err := images.Auth(context.Background(), kc, images.Image{Name: image})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	const key = `{"type": "service_account", "client_email": "ci@p.iam.gserviceaccount.com"}`
	g := hub(t, "images:\n  image_name: us-docker.pkg.dev/p/r/img\n  registry:\n    provider: gcloud\n    gcloud: {project: p, service_key: gcr-key.json}\n", "")
	write(t, g.Path("secrets", "gcr-key.json"), key)
	if a := auth(t, g, "us-docker.pkg.dev/p/r/img"); a.Username != "_json_key" || a.Password != key {
		t.Errorf("artifact registry: %+v", a)
	}
	if a := auth(t, g, "quay.io/p/img"); *a != (authn.AuthConfig{}) {
		t.Errorf("the service key went to another registry: %+v", a)
	}

	os.Remove(g.Path("secrets", "gcr-key.json"))
	if _, err := images.Keychain(g, nil); err == nil || !strings.HasPrefix(err.Error(), "deployments/datahub/secrets/gcr-key.json: cannot read") {
		t.Errorf("missing service key: %v", err)
	}
}
