package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"dagger/hubploy/internal/dagger"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// hubImages loads the hub and the images to build (pipeline/images.ToBuild).
func (ws *workspace) hubImages(hub, env, image string) (*repo.Hub, []images.Image, error) {
	h, err := ws.repo.Hub(hub)
	if err != nil {
		return nil, nil, err
	}
	imgs, err := images.ToBuild(h, env, image)
	return h, imgs, err
}

// buildOptions are Build's and Publish's Dockerfile options.
type buildOptions struct {
	args       []string
	dockerfile string
	target     string
}

// WithBuildSecret adds a secret that image builds (Build, Publish) can mount with
// RUN --mount=type=secret,id=ID.
func (m *Hubploy) WithBuildSecret(
	// The id the Dockerfile mounts it by.
	id string,
	// The secret.
	value *dagger.Secret,
) *Hubploy {
	m.BuildSecretIDs = append(m.BuildSecretIDs, id)
	m.BuildSecretValues = append(m.BuildSecretValues, value)
	return m
}

// build is the image's Dockerfile build, lazily, from the repository's Directory.
func (m *Hubploy) build(ctx context.Context, img images.Image, o buildOptions) (*dagger.Container, error) {
	opts := dagger.DirectoryDockerBuildOpts{Dockerfile: o.dockerfile, Target: o.target}
	for i, id := range m.BuildSecretIDs {
		// DockerBuild mounts a secret by its name, and a secret given on the dagger
		// command line has none: name it by its id, in memory.
		plain, err := m.BuildSecretValues[i].Plaintext(ctx)
		if err != nil {
			return nil, err
		}
		opts.Secrets = append(opts.Secrets, dag.SetSecret(id, plain))
	}
	for _, a := range o.args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, &inputerr.Error{Msg: fmt.Sprintf("build argument %q is not NAME=VALUE", a)}
		}
		opts.BuildArgs = append(opts.BuildArgs, dagger.BuildArg{Name: k, Value: v})
	}
	return m.Repo.Directory(img.ContextDisplay).DockerBuild(opts), nil
}

// Build a hub's user image from the Dockerfile of its image folder, as a Container.
//
// The folder is the image's path in hubploy.yaml's images. Publish the Container, or
// use it in further steps.
func (m *Hubploy) Build(
	ctx context.Context,
	// The hub.
	hub string,
	// Which image, when the hub has several: its name without tag.
	// +optional
	image string,
	// Build arguments, as NAME=VALUE.
	// +optional
	buildArg []string,
	// The Dockerfile's path in the image folder.
	// +default="Dockerfile"
	dockerfile string,
	// The Dockerfile stage to build (default: the last).
	// +optional
	target string,
) (*dagger.Container, error) {
	ws, err := m.open(ctx)
	if err != nil {
		return nil, err
	}
	_, imgs, err := ws.hubImages(hub, "", image)
	if err != nil {
		return nil, err
	}
	if len(imgs) > 1 {
		var names []string
		for _, img := range imgs {
			names = append(names, img.Name)
		}
		return nil, &inputerr.Error{Msg: fmt.Sprintf("hub %q builds %d images", hub, len(imgs)), Hint: "name one with image: " + strings.Join(names, ", ")}
	}
	return m.build(ctx, imgs[0], buildOptions{buildArg, dockerfile, target})
}

// Build a hub's user image and push it, unless the registry has its tag already.
//
// The image is pushed as name:tag, the tag hubploy deploys. Registry credentials are
// hubploy.yaml's images.registry block (decrypted in memory), or the ones given here.
// Returns the reference, with its digest when pushed.
//
// It changes or reads live state, so Dagger never caches its result.
//
// +cache="never"
func (m *Hubploy) Publish(
	ctx context.Context,
	// The hub.
	hub string,
	// Which image, when the hub has several: its name without tag (default: each
	// image built from a folder).
	// +optional
	image string,
	// Take the tag this environment deploys (image-pins.yaml); default: the folder's.
	// +optional
	env string,
	// Build arguments, as NAME=VALUE.
	// +optional
	buildArg []string,
	// The Dockerfile's path in the image folder.
	// +default="Dockerfile"
	dockerfile string,
	// The Dockerfile stage to build (default: the last).
	// +optional
	target string,
	// The registry user name (with registryPassword).
	// +optional
	registryUsername string,
	// The registry password or token.
	// +optional
	registryPassword *dagger.Secret,
	// The registry as a service, for a registry that only the host reaches (e.g.
	// tcp://localhost:5000): the check for an existing tag goes through it; the
	// engine pushes.
	// +optional
	registry *dagger.Service,
) (string, error) {
	ws, err := m.open(ctx)
	if err != nil {
		return "", err
	}
	h, imgs, err := ws.hubImages(hub, env, image)
	if err != nil {
		return "", err
	}
	kc, err := images.Keychain(h, ws.dec)
	if err != nil {
		return "", err
	}
	password := ""
	if registryPassword != nil {
		if password, err = registryPassword.Plaintext(ctx); err != nil {
			return "", err
		}
		kc = staticKeychain{username: registryUsername, password: password}
	}
	var opts []remote.Option
	if registry != nil {
		svc, err := registry.Start(ctx)
		if err != nil {
			return "", fmt.Errorf("starting the tunnel to the registry: %w", err)
		}
		defer svc.Stop(context.WithoutCancel(ctx))
		endpoint, err := svc.Endpoint(ctx)
		if err != nil {
			return "", err
		}
		opts = append(opts, remote.WithTransport(tunnel(imgs[0].Registry(), endpoint)))
	}
	var out []string
	for _, st := range images.Check(ctx, imgs, kc, opts...) {
		if st.Err != nil {
			return "", st.Err
		}
		if st.Exists {
			fmt.Fprintf(os.Stderr, "hubploy: %s is already in the registry: not building or pushing it\n", st.Ref())
			out = append(out, st.Ref())
			continue
		}
		ctr, err := m.build(ctx, st.Image, buildOptions{buildArg, dockerfile, target})
		if err != nil {
			return "", err
		}
		auth, err := images.Auth(ctx, kc, st.Image)
		if err != nil {
			return "", err
		}
		if auth.Username != "" || auth.Password != "" {
			ctr = ctr.WithRegistryAuth(st.Registry(), auth.Username, dag.SetSecret("hubploy-registry-"+st.Registry(), auth.Password))
		}
		fmt.Fprintf(os.Stderr, "hubploy: building and pushing %s\n", st.Ref())
		pushed, err := ctr.Publish(ctx, st.Ref())
		if err != nil {
			return "", fmt.Errorf("publishing %s: %w", st.Ref(), err)
		}
		out = append(out, pushed)
	}
	return strings.Join(out, "\n"), nil
}

// tunnel is a transport that reaches registry (host:port) at endpoint instead.
func tunnel(registry, endpoint string) http.RoundTripper {
	target := registry
	if _, _, err := net.SplitHostPort(registry); err != nil {
		target = net.JoinHostPort(registry, "443")
	}
	d := &net.Dialer{}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == target {
			addr = endpoint
		}
		return d.DialContext(ctx, network, addr)
	}
	return tr
}

// staticKeychain gives the same credentials for every registry.
type staticKeychain struct{ username, password string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: k.username, Password: k.password}), nil
}
