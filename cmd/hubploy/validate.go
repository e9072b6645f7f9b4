package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
	"github.com/hubploy/hubploy/pipeline/validate"
)

func newValidateCmd(g *globals) *cobra.Command {
	var env string
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate [HUB...]",
		Short: "Check every hub in every environment: config, secrets, cluster access, images, schema, lint, render",
		Long: `For every hub (or the ones named) and every environment (or --env): read hubploy.yaml,
layer and decrypt the values, check the cluster access and the image folders a deploy
and a build would use, check the values against the chart's values schema, run helm's
linter and render the chart. Nothing is contacted: no cluster, no registry. Every
problem is reported, not just the first; the exit code is 1 if there was any. With
--strict (for CI), an umbrella chart whose dependencies no Chart.lock pins is a
problem too (see hubploy lock).`,
		Example: `  hubploy validate
  hubploy validate datahub --env prod
  hubploy validate --output json
  hubploy validate --strict`,
		ValidArgsFunction: hubCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			v := &action.Validate{Config: cfg, Hubs: args, Env: env, Strict: strict}
			var writeErr error
			if !g.json() {
				v.Progress = func(res validate.Result) {
					if err := res.WriteText(g.stdout); err != nil && writeErr == nil {
						writeErr = err
					}
				}
			}
			rep, err := v.Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				writeErr = g.printJSON(rep)
			} else if writeErr == nil {
				_, writeErr = fmt.Fprintln(g.stdout, validate.Summary(rep.Results))
			}
			if writeErr != nil {
				return writeErr
			}
			if !rep.OK {
				return checkFailed
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "check only this environment (default: every environment of each hub)")
	cmd.Flags().BoolVar(&strict, "strict", false, "a chart whose dependencies no Chart.lock pins is a problem (for CI)")
	completeFlag(cmd, "env", envCompletion(g))
	return uses(cmd, renderFlags...)
}
