package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"dagger/hubploy/internal/dagger"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hubploy/hubploy/pipeline/action"
	"github.com/hubploy/hubploy/pipeline/images"
)

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

// engine is action.ImageBuilder on this module's engine: Dockerfile builds of the
// repository's image folders.
type engine struct{ m *Hubploy }

// container is the image's Dockerfile build, lazily.
func (e engine) container(ctx context.Context, img images.Image, o action.BuildOptions, args []action.BuildArg) (*dagger.Container, error) {
	opts := dagger.DirectoryDockerBuildOpts{Dockerfile: o.Dockerfile, Target: o.Target}
	for i, id := range e.m.BuildSecretIDs {
		// DockerBuild mounts a secret by its name, and a secret given on the dagger
		// command line has none: name it by its id, in memory.
		plain, err := e.m.BuildSecretValues[i].Plaintext(ctx)
		if err != nil {
			return nil, err
		}
		opts.Secrets = append(opts.Secrets, dag.SetSecret(id, plain))
	}
	for _, a := range args {
		opts.BuildArgs = append(opts.BuildArgs, dagger.BuildArg{Name: a.Name, Value: a.Value})
	}
	return e.m.Repo.Directory(img.ContextDisplay).DockerBuild(opts), nil
}

func (e engine) Build(ctx context.Context, img images.Image, o action.BuildOptions, args []action.BuildArg) error {
	ctr, err := e.container(ctx, img, o, args)
	if err == nil {
		_, err = ctr.Sync(ctx)
	}
	return err
}

func (e engine) Publish(ctx context.Context, img images.Image, o action.BuildOptions, args []action.BuildArg, auth *authn.AuthConfig) (string, error) {
	ctr, err := e.container(ctx, img, o, args)
	if err != nil {
		return "", err
	}
	if auth.Username != "" || auth.Password != "" {
		ctr = ctr.WithRegistryAuth(img.Registry(), auth.Username, dag.SetSecret("hubploy-registry-"+img.Registry(), auth.Password))
	}
	return ctr.Publish(ctx, img.Ref())
}

func (e engine) Exec(ctx context.Context, img images.Image, o action.BuildOptions, args []action.BuildArg, test action.ImageTest) (action.ExecResult, error) {
	var r action.ExecResult
	ctr, err := e.container(ctx, img, o, args)
	if err != nil {
		return r, err
	}
	if test.Mount {
		ctr = ctr.WithDirectory(action.TestsPath, e.m.Repo.Directory(path.Join(img.ContextDisplay, action.TestsFolder)))
	}
	ctr = ctr.WithExec(test.Command, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	if r.ExitCode, err = ctr.ExitCode(ctx); err != nil {
		return r, err
	}
	if r.Stdout, err = ctr.Stdout(ctx); err != nil {
		return r, err
	}
	r.Stderr, err = ctr.Stderr(ctx)
	return r, err
}

// Validate a hub, build its images and run their tests in them, as the CLI's test.
//
// The hub is validated and rendered in every environment (or env); if it validates,
// each image built from a folder runs its tests: the shell commands of hubploy.yaml's
// images.images[].tests, then its folder's tests/ (mounted at /tmp/hubploy-tests:
// pytest for test_*.py and *_test.py files, sh for each *.sh). Returns a line per
// test; fails, with them and the end of a failed test's output, if any failed.
func (m *Hubploy) Test(
	ctx context.Context,
	// The hub.
	hub string,
	// Validate this environment only, and build the tags it deploys (default: every
	// environment, the folders' tags).
	// +optional
	env string,
	// Which images, when the hub has several: names without tag (default: each image
	// built from a folder).
	// +optional
	image []string,
	// Build arguments, as NAME=VALUE.
	// +optional
	buildArg []string,
	// The Dockerfile's path in the image folder.
	// +default="Dockerfile"
	dockerfile string,
	// The Dockerfile stage to build (default: the last).
	// +optional
	target string,
) (string, error) {
	cfg, err := m.config(ctx)
	if err != nil {
		return "", err
	}
	t := &action.Test{Config: cfg, Hub: hub, Env: env, Images: image, BuildOptions: action.BuildOptions{Args: buildArg, Dockerfile: dockerfile, Target: target},
		Progress: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "hubploy: %s: "+format+"\n", append([]any{hub}, args...)...)
		}}
	rep, err := t.Run(ctx, engine{m})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := action.WriteTests(&b, rep); err != nil {
		return "", err
	}
	if !rep.OK {
		return "", errors.New(b.String())
	}
	return b.String(), nil
}

// Build a hub's user image from the Dockerfile of its image folder, as a Container.
//
// The folder is the image's path in hubploy.yaml's images; a hub with several images
// built from folders needs image to name one. Publish the Container, or use it in
// further steps.
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
	cfg, err := m.config(ctx)
	if err != nil {
		return nil, err
	}
	b := &action.Build{Config: cfg, Hub: hub, Images: nonEmpty(image), BuildOptions: action.BuildOptions{Args: buildArg, Dockerfile: dockerfile, Target: target}}
	img, err := b.One()
	if err != nil {
		return nil, err
	}
	args, err := b.ParseArgs()
	if err != nil {
		return nil, err
	}
	return engine{m}.container(ctx, img, b.BuildOptions, args)
}

// Build a hub's user images and push them, each unless the registry has its tag.
//
// Each image is pushed as name:tag, the tag hubploy deploys. Registry credentials are
// hubploy.yaml's images.registry block (decrypted in memory), or the ones given here.
// Returns the references, one a line, with their digests when pushed.
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
	cfg, err := m.config(ctx)
	if err != nil {
		return "", err
	}
	p := &action.Build{Config: cfg, Hub: hub, Env: env, Images: nonEmpty(image), Push: true,
		BuildOptions: action.BuildOptions{Args: buildArg, Dockerfile: dockerfile, Target: target}}
	if registryPassword != nil {
		password, err := registryPassword.Plaintext(ctx)
		if err != nil {
			return "", err
		}
		p.Registry.Keychain = images.StaticKeychain(registryUsername, password)
	}
	if registry != nil {
		imgs, err := p.Selected()
		if err != nil {
			return "", err
		}
		svc, err := registry.Start(ctx)
		if err != nil {
			return "", fmt.Errorf("starting the tunnel to the registry: %w", err)
		}
		defer func() {
			if _, err := svc.Stop(context.WithoutCancel(ctx)); err != nil {
				// The engine ends the tunnel with the call anyway.
				fmt.Fprintf(os.Stderr, "hubploy: stopping the tunnel to the registry: %v\n", err)
			}
		}()
		endpoint, err := svc.Endpoint(ctx)
		if err != nil {
			return "", err
		}
		p.Registry.Options = append(p.Registry.Options, remote.WithTransport(images.Tunnel(imgs[0].Registry(), endpoint)))
	}
	published, err := p.Run(ctx, engine{m})
	if err != nil {
		return "", err
	}
	var refs []string
	for _, r := range published {
		refs = append(refs, r.Ref)
	}
	return strings.Join(refs, "\n"), nil
}

// nonEmpty is the one name given, or none.
func nonEmpty(name string) []string {
	if name == "" {
		return nil
	}
	return []string{name}
}
