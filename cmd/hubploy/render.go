package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/release"
)

func newRenderCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "render HUB ENV",
		Short: "Print the manifests a deploy would apply, with secrets masked",
		Long: `Render the hub's chart for an environment with the layered values, as helm would,
and print the manifests. Every Secret object's data, and every value that came from
an encrypted file, is replaced by <masked>.`,
		Example: `  hubploy render datahub staging
  hubploy render datahub prod --set jupyterhub.hub.config.JupyterHub.admin_access=true`,
		Args:              exactArgs(2),
		ValidArgsFunction: hubEnvCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			h, err := r.Hub(args[0])
			if err != nil {
				return err
			}
			opts, err := g.releaseOptions()
			if err != nil {
				return err
			}
			rel, err := release.Prepare(cmd.Context(), h, args[1], opts)
			if err != nil {
				return err
			}
			manifest, err := rel.Render(cmd.Context())
			if err != nil {
				return err
			}
			masked := rel.Masker.Manifest(manifest)
			if g.output == "json" {
				return g.printJSON(map[string]string{"hub": h.Name, "env": rel.Env, "release": rel.Name, "namespace": rel.Namespace, "manifest": masked})
			}
			_, err = fmt.Fprint(g.stdout, masked)
			return err
		},
	}
}

// hubEnvCompletion completes a hub name, then one of its environments.
func hubEnvCompletion(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		r, err := g.openRepo()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		switch len(args) {
		case 0:
			names, _ := r.HubNames()
			return names, cobra.ShellCompDirectiveNoFileComp
		case 1:
			if h, err := r.Hub(args[0]); err == nil {
				envs, _ := h.Environments()
				return envs, cobra.ShellCompDirectiveNoFileComp
			}
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}
