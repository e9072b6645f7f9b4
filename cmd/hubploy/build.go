package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
	"github.com/hubploy/hubploy/pipeline/images"
)

// imageFlags choose a hub's images and how to build them.
type imageFlags struct {
	build   action.Build
	secrets []string
	noCache bool
}

func (f *imageFlags) add(g *globals, c *cobra.Command) {
	addBuildFlags(c, &f.build.Images, &f.build.BuildOptions, &f.secrets)
	c.Flags().StringVar(&f.build.Env, "env", "", "take the tag the environment deploys (image-pins.yaml); default: the folder's")
	c.Flags().StringVar(&f.build.CommitRange, "commit-range", "", "build only the images whose folder changed in this git range (A..B or A...B), as hubploy 0.3")
	// hubploy 0.3's --no-cache kept docker from pulling the previous image to reuse
	// its layers; hubploy never pulls one, so the flag is accepted and changes nothing.
	c.Flags().BoolVar(&f.noCache, "no-cache", false, "hubploy 0.3's: do not reuse layers of a previously pushed image (hubploy never does)")
	completeFlag(c, "env", envCompletion(g))
}

// addBuildFlags are the flags of every command that builds a hub's images: which
// images, and how to build them.
func addBuildFlags(c *cobra.Command, images *[]string, o *action.BuildOptions, secrets *[]string) {
	c.Flags().StringArrayVar(images, "image", nil, "build only this image, when the hub has several (its name without tag; repeatable)")
	c.Flags().StringArrayVar(&o.Args, "build-arg", nil, "NAME=VALUE build argument (repeatable)")
	c.Flags().StringVar(&o.Dockerfile, "dockerfile", "Dockerfile", "the Dockerfile's path in the image folder")
	c.Flags().StringVar(&o.Target, "target", "", "the Dockerfile stage to build (default: the last)")
	c.Flags().StringArrayVar(secrets, "secret", nil, "ID=env:VAR or ID=file:PATH: a build secret, for RUN --mount=type=secret,id=ID (repeatable; read in memory, handed to the engine as a Dagger secret)")
}

// errNoEngine is wrapped by every failure to reach a Dagger engine.
var errNoEngine = errors.New("no Dagger engine reachable")

// connectDagger connects to a Dagger engine through the dagger CLI. It never
// downloads anything: without a dagger CLI or an engine it fails with one line. The
// session (a dagger CLI process) lasts until end is called.
func connectDagger(ctx context.Context, g *globals) (client *dagger.Client, end context.CancelFunc, err error) {
	const hint = "install the dagger CLI (v0.19.10) and start an engine, or point _EXPERIMENTAL_DAGGER_RUNNER_HOST at one (this repository: eval \"$(dagger/engine.sh start)\")"
	if os.Getenv("DAGGER_SESSION_PORT") == "" && os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN") == "" {
		bin, err := exec.LookPath("dagger")
		if err != nil {
			return nil, nil, fmt.Errorf("%w: the dagger CLI is not on PATH (%s)", errNoEngine, hint)
		}
		// The SDK would otherwise download a CLI of its own.
		if err := os.Setenv("_EXPERIMENTAL_DAGGER_CLI_BIN", bin); err != nil {
			return nil, nil, err
		}
	}
	if host := os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST"); strings.HasPrefix(host, "unix://") {
		c, err := net.DialTimeout("unix", strings.TrimPrefix(host, "unix://"), 5*time.Second)
		if err != nil {
			return nil, nil, fmt.Errorf("%w at %s: %v (%s)", errNoEngine, host, err, hint)
		}
		c.Close() // a probe that sent nothing: closing it loses nothing
	}
	// The session lives as long as this context: bound only the connecting with a timer.
	session, end := context.WithCancel(ctx)
	timer := time.AfterFunc(5*time.Minute, end)
	client, err = dagger.Connect(session, dagger.WithLogOutput(g.stderr))
	if !timer.Stop() && err == nil {
		err = errors.New("connecting took over 5 minutes")
	}
	if err != nil {
		end()
		first, _, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
		return nil, nil, fmt.Errorf("%w: %s (%s)", errNoEngine, first, hint)
	}
	return client, end, nil
}

// engine is action.ImageBuilder on a Dagger engine: Dockerfile builds of the host's
// image folders, with the build secrets read in memory. It connects at its first build,
// so that a publish with nothing to build needs no engine.
type engine struct {
	g       *globals
	specs   []string // --secret
	client  *dagger.Client
	end     context.CancelFunc // ends the session
	secrets []*dagger.Secret
}

func (e *engine) connect(ctx context.Context) error {
	if e.client != nil {
		return nil
	}
	client, end, err := connectDagger(ctx, e.g)
	if err != nil {
		return err
	}
	e.client, e.end = client, end
	for _, spec := range e.specs {
		id, value, err := readBuildSecret(spec)
		if err != nil {
			return err
		}
		// The secret's name is the id the Dockerfile mounts it by.
		e.secrets = append(e.secrets, client.SetSecret(id, value))
	}
	return nil
}

// close ends the engine session, if one was started.
func (e *engine) close() error {
	if e.client == nil {
		return nil
	}
	defer e.end()
	return e.client.Close()
}

func (e *engine) container(ctx context.Context, img images.Image, o action.BuildOptions, args []action.BuildArg) (*dagger.Container, error) {
	if err := e.connect(ctx); err != nil {
		return nil, err
	}
	opts := dagger.DirectoryDockerBuildOpts{Dockerfile: o.Dockerfile, Target: o.Target, Secrets: e.secrets}
	for _, a := range args {
		opts.BuildArgs = append(opts.BuildArgs, dagger.BuildArg{Name: a.Name, Value: a.Value})
	}
	return e.client.Host().Directory(img.Context).DockerBuild(opts), nil
}

func (e *engine) Build(ctx context.Context, img images.Image, o action.BuildOptions, args []action.BuildArg) error {
	ctr, err := e.container(ctx, img, o, args)
	if err == nil {
		_, err = ctr.Sync(ctx)
	}
	return err
}

func (e *engine) Publish(ctx context.Context, img images.Image, o action.BuildOptions, args []action.BuildArg, auth *authn.AuthConfig) (string, error) {
	ctr, err := e.container(ctx, img, o, args)
	if err != nil {
		return "", err
	}
	if auth.Username != "" || auth.Password != "" {
		ctr = ctr.WithRegistryAuth(img.Registry(), auth.Username, e.client.SetSecret("hubploy-registry-"+img.Registry(), auth.Password))
	}
	return ctr.Publish(ctx, img.Ref())
}

func (e *engine) Exec(ctx context.Context, img images.Image, o action.BuildOptions, args []action.BuildArg, test action.ImageTest) (action.ExecResult, error) {
	ctr, err := e.container(ctx, img, o, args)
	if err != nil {
		return action.ExecResult{}, err
	}
	if test.Mount {
		ctr = ctr.WithDirectory(action.TestsPath, e.client.Host().Directory(filepath.Join(img.Context, action.TestsFolder)))
	}
	ctr = ctr.WithExec(test.Command, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	return execResult(ctx, ctr)
}

// execResult reads what the last command of ctr did.
func execResult(ctx context.Context, ctr *dagger.Container) (r action.ExecResult, err error) {
	if r.ExitCode, err = ctr.ExitCode(ctx); err != nil {
		return r, err
	}
	if r.Stdout, err = ctr.Stdout(ctx); err != nil {
		return r, err
	}
	r.Stderr, err = ctr.Stderr(ctx)
	return r, err
}

// runImages runs a build on an engine that connects at its first image, and prints
// each image's reference (with its digest when pushed).
func runImages(ctx context.Context, g *globals, f *imageFlags, b *action.Build) error {
	for _, spec := range f.secrets { // bad flags fail before anything is built
		if _, _, err := readBuildSecret(spec); err != nil {
			return err
		}
	}
	e := &engine{g: g, specs: f.secrets}
	built, err := b.Run(ctx, e)
	if cerr := e.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if g.json() {
		if built == nil {
			built = []action.Built{}
		}
		return g.printJSON(built)
	}
	for _, r := range built {
		if _, err := fmt.Fprintln(g.stdout, r.Ref); err != nil {
			return err
		}
	}
	return nil
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
		Short: "Build a hub's user images with a Dagger engine (and push them with --push)",
		Long: `Build the hub's user images (each image built from a folder, or --image) from the
Dockerfile of its folder on a Dagger engine, and print the references they are deployed
as. Needs the dagger CLI and a running engine once something is to be built.

hubploy 0.3's command lines work: --commit-range builds only the images whose folder
changed in the range, --check-registry only those whose tag the registry lacks, and
--push pushes what is built (as publish does, skipping tags the registry has).`,
		Example: `  hubploy build datahub
  hubploy build datahub --commit-range origin/staging...HEAD
  hubploy build datahub --check-registry --push
  hubploy build datahub --build-arg BASE_IMAGE=registry.internal/jupyter/minimal-notebook:2025-10-20`,
		Args:              exactArgs(1),
		ValidArgsFunction: hubCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			b := f.build
			b.Config, b.Hub = cfg, args[0]
			return runImages(cmd.Context(), g, &f, &b)
		},
	}
	f.add(g, cmd)
	cmd.Flags().BoolVar(&f.build.SkipPresent, "check-registry", false, "build only the images whose tag the registry lacks")
	cmd.Flags().BoolVar(&f.build.Push, "push", false, "push the images built, as publish does")
	return uses(cmd, repoFlags, secretFlags, outputFlags)
}

func newPublishCmd(g *globals) *cobra.Command {
	var f imageFlags
	cmd := &cobra.Command{
		Use:   "publish HUB",
		Short: "Build a hub's user images with a Dagger engine and push them, unless their tags exist",
		Long: `Push the hub's user images (each image built from a folder, or --image) as name:tag,
the tag hubploy deploys, unless the registry already has that tag (then nothing is
built, and no engine is needed). Prints each reference, with its digest when pushed.
Registry credentials are those of hubploy.yaml's images.registry block, else the
docker configuration. The same as build --push.`,
		Example:           "  hubploy publish datahub",
		Args:              exactArgs(1),
		ValidArgsFunction: hubCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			b := f.build
			b.Config, b.Hub, b.Push = cfg, args[0], true
			return runImages(cmd.Context(), g, &f, &b)
		},
	}
	f.add(g, cmd)
	return uses(cmd, repoFlags, secretFlags, outputFlags)
}
