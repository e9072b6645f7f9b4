package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"dagger.io/dagger"
	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// imageFlags choose a hub's image and how to build it.
type imageFlags struct {
	image      string
	env        string
	buildArgs  []string
	dockerfile string
	target     string
	secrets    []string
}

func (f *imageFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.image, "image", "", "which image, when the hub has several (its name without tag)")
	c.Flags().StringArrayVar(&f.buildArgs, "build-arg", nil, "NAME=VALUE build argument (repeatable)")
	c.Flags().StringVar(&f.env, "env", "", "take the tag the environment deploys (image-pins.yaml); default: the folder's")
	c.Flags().StringVar(&f.dockerfile, "dockerfile", "Dockerfile", "the Dockerfile's path in the image folder")
	c.Flags().StringVar(&f.target, "target", "", "the Dockerfile stage to build (default: the last)")
	c.Flags().StringArrayVar(&f.secrets, "secret", nil, "ID=env:VAR or ID=file:PATH: a build secret, for RUN --mount=type=secret,id=ID (repeatable; read in memory, handed to the engine as a Dagger secret)")
}

// hubImages loads the hub and the images to build (pipeline/images.ToBuild).
func hubImages(r *repo.Repo, hub, env, image string) (*repo.Hub, []images.Image, error) {
	h, err := r.Hub(hub)
	if err != nil {
		return nil, nil, err
	}
	imgs, err := images.ToBuild(h, env, image)
	return h, imgs, err
}

// errNoEngine is wrapped by every failure to reach a Dagger engine.
var errNoEngine = errors.New("no Dagger engine reachable")

// withDagger connects to a Dagger engine through the dagger CLI and runs f. It never
// downloads anything: without a dagger CLI or an engine it fails with one line.
func withDagger(ctx context.Context, g *globals, f func(*dagger.Client) error) error {
	const hint = "install the dagger CLI (v0.19.10) and start an engine, or point _EXPERIMENTAL_DAGGER_RUNNER_HOST at one (this repository: eval \"$(dagger/engine.sh start)\")"
	if os.Getenv("DAGGER_SESSION_PORT") == "" && os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN") == "" {
		bin, err := exec.LookPath("dagger")
		if err != nil {
			return fmt.Errorf("%w: the dagger CLI is not on PATH (%s)", errNoEngine, hint)
		}
		// The SDK would otherwise download a CLI of its own.
		os.Setenv("_EXPERIMENTAL_DAGGER_CLI_BIN", bin)
	}
	if host := os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST"); strings.HasPrefix(host, "unix://") {
		c, err := net.DialTimeout("unix", strings.TrimPrefix(host, "unix://"), 5*time.Second)
		if err != nil {
			return fmt.Errorf("%w at %s: %v (%s)", errNoEngine, host, err, hint)
		}
		c.Close()
	}
	connectCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	client, err := dagger.Connect(connectCtx, dagger.WithLogOutput(g.stderr))
	if err != nil {
		first, _, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
		return fmt.Errorf("%w: %s (%s)", errNoEngine, first, hint)
	}
	defer client.Close()
	return f(client)
}

// dockerBuild is the image's Dockerfile build on the engine, lazily.
func dockerBuild(c *dagger.Client, img images.Image, f *imageFlags) (*dagger.Container, error) {
	opts := dagger.DirectoryDockerBuildOpts{Dockerfile: f.dockerfile, Target: f.target}
	for _, a := range f.buildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("--build-arg %q is not NAME=VALUE", a)}
		}
		opts.BuildArgs = append(opts.BuildArgs, dagger.BuildArg{Name: k, Value: v})
	}
	for _, spec := range f.secrets {
		id, value, err := readBuildSecret(spec)
		if err != nil {
			return nil, err
		}
		// The secret's name is the id the Dockerfile mounts it by.
		opts.Secrets = append(opts.Secrets, c.SetSecret(id, value))
	}
	return c.Host().Directory(img.Context).DockerBuild(opts), nil
}

// readBuildSecret reads "ID=env:VAR" or "ID=file:PATH" into memory.
func readBuildSecret(spec string) (id, value string, err error) {
	id, source, _ := strings.Cut(spec, "=")
	kind, ref, _ := strings.Cut(source, ":")
	switch {
	case id == "" || ref == "":
	case kind == "env":
		v, ok := os.LookupEnv(ref)
		if !ok {
			return "", "", usageError{fmt.Errorf("--secret %s: environment variable %s is not set", id, ref)}
		}
		return id, v, nil
	case kind == "file":
		data, err := os.ReadFile(ref)
		if err != nil {
			return "", "", usageError{fmt.Errorf("--secret %s: %v", id, err)}
		}
		return id, string(data), nil
	}
	return "", "", usageError{fmt.Errorf("--secret %q is not ID=env:VAR or ID=file:PATH", spec)}
}

func newBuildCmd(g *globals) *cobra.Command {
	var f imageFlags
	cmd := &cobra.Command{
		Use:   "build HUB",
		Short: "Build a hub's user image with a Dagger engine",
		Long: `Build the hub's user image (each image built from a folder, or --image) from the
Dockerfile of its folder on a Dagger engine, and print the reference it is deployed as.
Nothing is pushed: see publish. Needs the dagger CLI and a running engine.`,
		Example:           "  hubploy build datahub\n  hubploy build datahub --build-arg BASE_IMAGE=registry.internal/jupyter/minimal-notebook:2025-10-20",
		Args:              exactArgs(1),
		ValidArgsFunction: hubEnvCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			_, imgs, err := hubImages(r, args[0], f.env, f.image)
			if err != nil {
				return err
			}
			return withDagger(cmd.Context(), g, func(c *dagger.Client) error {
				for _, img := range imgs {
					ctr, err := dockerBuild(c, img, &f)
					if err != nil {
						return err
					}
					if _, err := ctr.Sync(cmd.Context()); err != nil {
						return fmt.Errorf("building %s from %s: %w", img.Ref(), img.ContextDisplay, err)
					}
					fmt.Fprintf(g.stdout, "built %s\n", img.Ref())
				}
				return nil
			})
		},
	}
	f.add(cmd)
	return cmd
}

func newPublishCmd(g *globals) *cobra.Command {
	var f imageFlags
	cmd := &cobra.Command{
		Use:   "publish HUB",
		Short: "Build a hub's user image with a Dagger engine and push it, unless its tag exists",
		Long: `Push the hub's user image (each image built from a folder, or --image) as name:tag,
the tag hubploy deploys, unless the registry already has that tag (then nothing is
built). Prints each reference, with its digest when pushed. Registry credentials are
those of hubploy.yaml's images.registry block, else the docker configuration.`,
		Example:           "  hubploy publish datahub",
		Args:              exactArgs(1),
		ValidArgsFunction: hubEnvCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			h, imgs, err := hubImages(r, args[0], f.env, f.image)
			if err != nil {
				return err
			}
			kc, err := g.keychain(h)
			if err != nil {
				return err
			}
			var todo []images.Image
			for _, st := range images.Check(ctx, imgs, kc) {
				switch {
				case st.Err != nil:
					return st.Err
				case st.Exists:
					fmt.Fprintf(g.stderr, "hubploy: %s is already in the registry: not building or pushing it\n", st.Ref())
					fmt.Fprintln(g.stdout, st.Ref())
				default:
					todo = append(todo, st.Image)
				}
			}
			if len(todo) == 0 {
				return nil
			}
			return withDagger(ctx, g, func(c *dagger.Client) error {
				for _, img := range todo {
					ctr, err := dockerBuild(c, img, &f)
					if err != nil {
						return err
					}
					auth, err := images.Auth(ctx, kc, img)
					if err != nil {
						return err
					}
					if auth.Username != "" || auth.Password != "" {
						ctr = ctr.WithRegistryAuth(img.Registry(), auth.Username, c.SetSecret("hubploy-registry-"+img.Registry(), auth.Password))
					}
					fmt.Fprintf(g.stderr, "hubploy: building and pushing %s\n", img.Ref())
					pushed, err := ctr.Publish(ctx, img.Ref())
					if err != nil {
						return fmt.Errorf("publishing %s: %w", img.Ref(), err)
					}
					fmt.Fprintln(g.stdout, pushed)
				}
				return nil
			})
		},
	}
	f.add(cmd)
	return cmd
}
