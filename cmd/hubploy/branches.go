package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
)

func newVerifyBranchesCmd(g *globals) *cobra.Command {
	var v action.VerifyBranches
	cmd := &cobra.Command{
		Use:   "verify-branches [--staging BRANCH] [--prod BRANCH]",
		Short: "Check that the prod branch holds only commits that are on staging, plus merges",
		Long: `A change reaches prod only through staging: every commit of the prod branch must be on
the staging branch too, except the merge commits that bring staging over. verify-branches
lists each other commit of prod (short hash and subject) and exits 1; run it in CI on
pull requests to prod. A branch the clone has only as origin's (origin/staging) is
found there. It needs the whole history (fetch-depth: 0), read in process.`,
		Example: `  hubploy verify-branches
  hubploy verify-branches --staging main --prod production -o json`,
		Args:              exactArgs(0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			v.Config = cfg
			res, err := v.Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				err = g.printJSON(res)
			} else {
				_, err = fmt.Fprint(g.stdout, res.Text())
			}
			if err == nil && !res.OK {
				return checkFailed
			}
			return err
		},
	}
	cmd.Flags().StringVar(&v.Staging, "staging", "staging", "the staging branch")
	cmd.Flags().StringVar(&v.Prod, "prod", "prod", "the prod branch")
	return uses(cmd, repoFlags, outputFlags)
}
