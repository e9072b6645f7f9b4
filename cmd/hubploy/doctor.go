package main

import (
	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
)

func newDoctorCmd(g *globals) *cobra.Command {
	var cf clusterFlags
	return liveCmd(g, &cf, &cobra.Command{
		Use:   "doctor HUB ENV",
		Short: "Say which credentials a hub has, which cluster they reach and as whom, which registries they read",
		Long: `Say, for a hub and an environment, one line each: where its cluster credentials come
from (a file under secrets/, a cloud's default credentials, a kubeconfig), which cluster
they reach and as whom (the API server's SelfSubjectReview), where its registry
credentials come from, and whether each registry of its images can be read. Nothing is
deployed and no secret is shown.

Exit codes: 0 every line ok, 1 a line failed, 2 bad input (no such hub or environment).`,
		Example: `  hubploy doctor datahub staging
  hubploy doctor datahub prod --output json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			res, err := (&action.Doctor{Config: cfg, Hub: args[0], Env: args[1], Cluster: cf.options()}).Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				err = g.printJSON(res)
			} else {
				err = action.WriteDoctor(g.stdout, res)
			}
			if err != nil {
				return err
			}
			if !res.OK {
				return checkFailed
			}
			return nil
		},
	})
}
