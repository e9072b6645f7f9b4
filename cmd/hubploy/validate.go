package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/validate"
)

func newValidateCmd(g *globals) *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "validate [HUB...]",
		Short: "Check every hub in every environment: config, secrets, schema, lint, render",
		Long: `For every hub (or the ones named) and every environment (or --env): read hubploy.yaml,
layer and decrypt the values, check them against the chart's values schema, run helm's
linter and render the chart. Every problem is reported, not just the first; the exit
code is 1 if there was any.`,
		Example: `  hubploy validate
  hubploy validate datahub --env prod
  hubploy validate --output json`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			if r, err := g.openRepo(); err == nil {
				names, _ := r.HubNames()
				return names, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			// A hub name that does not exist is bad input; a hub whose files are broken
			// is a finding, reported with the others.
			known, err := r.HubNames()
			if err != nil {
				return err
			}
			for _, name := range args {
				if !slices.Contains(known, name) {
					_, err := r.Hub(name)
					return err
				}
			}
			opts, err := g.releaseOptions()
			if err != nil {
				return err
			}
			v := &validate.Validate{Repo: r, Hubs: args, Env: env, Release: opts}
			if g.output == "text" {
				v.Progress = func(res validate.Result) { printResult(g, res) }
			}
			results, err := v.Run(cmd.Context())
			if err != nil {
				return err
			}
			failed := 0
			for _, res := range results {
				if !res.OK() {
					failed++
				}
			}
			if g.output == "json" {
				if err := g.printJSON(results); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(g.stdout, "validated %d hub environment(s): %d ok, %d failed\n", len(results), len(results)-failed, failed)
			}
			if failed > 0 {
				return checkFailed
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "check only this environment (default: every environment of each hub)")
	return cmd
}

func printResult(g *globals, res validate.Result) {
	name := res.Hub
	if res.Env != "" {
		name += "/" + res.Env
	}
	status := "ok  "
	if !res.OK() {
		status = "FAIL"
	}
	fmt.Fprintf(g.stdout, "%s %s (%.2fs)\n", status, name, res.Duration.Seconds())
	for _, p := range res.Problems {
		fmt.Fprintf(g.stdout, "     error: %s\n", p)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(g.stdout, "     warning: %s\n", w)
	}
}
