package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
)

func newRenderCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "render HUB ENV",
		Short: "Print the manifests a deploy would apply, with secrets masked",
		Long: `Render the hub's chart for an environment with the layered values, as helm would,
and print the manifests. Every Secret object's data, and every value that came from
an encrypted file, is replaced by <masked>. With --output json: the release and a list
of its objects.`,
		Example: `  hubploy render datahub staging
  hubploy render datahub prod --set jupyterhub.hub.config.JupyterHub.admin_access=true`,
		Args:              exactArgs(2),
		ValidArgsFunction: hubEnvCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			res, err := (&action.Render{Config: cfg, Hub: args[0], Env: args[1]}).Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return g.printJSON(res)
			}
			_, err = fmt.Fprint(g.stdout, res.Manifest)
			return err
		},
	}
	return uses(cmd, renderFlags...)
}

func newDecryptCmd(g *globals) *cobra.Command {
	var allowCI bool
	cmd := &cobra.Command{
		Use:   "decrypt FILE",
		Short: "Print a sops-encrypted file's cleartext to stdout, for people",
		Long: `Decrypt FILE in memory and print it to stdout; nothing is written to disk. Because
the output is secret, decrypt refuses to run when CI is set (where output goes to logs)
unless --allow-in-ci is given.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if os.Getenv("CI") != "" && !allowCI {
				return usageError{fmt.Errorf("decrypt prints secrets, and CI is set: CI logs would keep them (pass --allow-in-ci if this output goes nowhere it should not)")}
			}
			cfg, err := g.config()
			if err != nil {
				return err
			}
			data, err := (&action.Decrypt{Config: cfg, File: args[0]}).Run()
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(data)
			return err
		},
	}
	cmd.Flags().BoolVar(&allowCI, "allow-in-ci", false, "decrypt even when CI is set")
	return uses(cmd, secretFlags)
}

func newVersionCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print hubploy's version, the helm SDK's and Go's",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			if g.json() {
				return g.printJSON(action.Version())
			}
			_, err := fmt.Fprint(g.stdout, versionText())
			return err
		},
	}
	return uses(cmd, outputFlags)
}

func versionText() string {
	v := action.Version()
	return fmt.Sprintf("hubploy %s\nhelm SDK %s\n%s\n", v.Hubploy, v.Helm, v.Go)
}
