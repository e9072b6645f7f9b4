package main

import (
	"context"
	"encoding/json"

	"dagger/hubploy/internal/dagger"
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
	return m.call("test", map[string]any{"hub": hub, "env": env, "image": image, "buildArg": buildArg,
		"dockerfile": dockerfile, "target": target}).nested().text(ctx)
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
	out, err := m.call("build", map[string]any{"hub": hub, "image": nonEmpty(image), "buildArg": buildArg,
		"dockerfile": dockerfile, "target": target}).text(ctx)
	if err != nil {
		return nil, err
	}
	// The CLI resolves the image folder and its arguments; the build itself is this
	// module's, so that the Container it returns can be chained.
	var b struct {
		Context string
		Args    []struct{ Name, Value string }
	}
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		return nil, err
	}
	opts := dagger.DirectoryDockerBuildOpts{Dockerfile: dockerfile, Target: target}
	for i, id := range m.BuildSecretIDs {
		// DockerBuild mounts a secret by its name, and a secret given on the dagger
		// command line has none: name it by its id, in memory.
		plain, err := m.BuildSecretValues[i].Plaintext(ctx)
		if err != nil {
			return nil, err
		}
		opts.Secrets = append(opts.Secrets, dag.SetSecret(id, plain))
	}
	for _, a := range b.Args {
		opts.BuildArgs = append(opts.BuildArgs, dagger.BuildArg{Name: a.Name, Value: a.Value})
	}
	return m.Repo.Directory(b.Context).DockerBuild(opts), nil
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
	c := m.call("publish", map[string]any{"hub": hub, "image": nonEmpty(image), "env": env, "buildArg": buildArg,
		"dockerfile": dockerfile, "target": target, "registryUsername": registryUsername}).nested()
	c.secret("registryPassword", registryPassword)
	if registry != nil {
		if err := c.service(ctx, "registry", "registry", registry); err != nil {
			return "", err
		}
	}
	return c.text(ctx)
}

// nonEmpty is the one name given, or none.
func nonEmpty(name string) []string {
	if name == "" {
		return nil
	}
	return []string{name}
}
