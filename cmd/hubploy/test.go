package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
)

func newTestCmd(g *globals) *cobra.Command {
	var (
		t       action.Test
		secrets []string
	)
	cmd := &cobra.Command{
		Use:   "test HUB [ENV]",
		Short: "Validate a hub, build its images with a Dagger engine and run their tests in them",
		Long: `Validate and render the hub in every environment (or ENV); if it validates, build its
images from their folders on a Dagger engine and run each image's tests inside it:
the shell commands of hubploy.yaml's images.images[].tests, then the image folder's
` + action.TestsFolder + `/ folder, mounted at ` + action.TestsPath + `: pytest (python -m pytest) when it
has test_*.py or *_test.py files, and sh for each *.sh directly in it. Each test is
printed with its duration; a failed one with its exit code and the end of its output.
Needs the dagger CLI and a running engine, as build does.

Exit codes: 0 every test passed, 1 the hub does not validate or a test failed, 2 bad input.`,
		Example: `  hubploy test datahub
  hubploy test datahub staging --image registry.example.org/datahub/user-image -o json`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{fmt.Errorf("usage: %s", c.UseLine())}
			}
			return nil
		},
		ValidArgsFunction: hubEnvCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, spec := range secrets { // bad flags fail before anything is built
				if _, _, err := readBuildSecret(spec); err != nil {
					return err
				}
			}
			cfg, err := g.config()
			if err != nil {
				return err
			}
			t.Config, t.Hub = cfg, args[0]
			if len(args) == 2 {
				t.Env = args[1]
			}
			t.Progress = g.progress(t.Hub)
			e := &engine{g: g, specs: secrets}
			rep, err := t.Run(cmd.Context(), e)
			if cerr := e.close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if g.json() {
				err = g.printJSON(rep)
			} else {
				err = action.WriteTests(g.stdout, rep)
			}
			if err == nil && !rep.OK {
				return checkFailed
			}
			return err
		},
	}
	addBuildFlags(cmd, &t.Images, &t.BuildOptions, &secrets)
	return uses(cmd, renderFlags...)
}
