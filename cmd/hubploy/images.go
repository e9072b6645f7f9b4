package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
)

func newImagesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "List the hubs' images and whether the registry has them; pin tags per environment",
		Long: `Each hub's images (hubploy.yaml's images block) get a tag: a hash of the image folder
(tag_strategy: content, the default), the folder's last git commit (tag_strategy:
git-commit, hubploy 0.3's), or the tag written in the image's name. An environment can
pin an image to another tag in deployments/<hub>/image-pins.yaml, which
` + "`images promote`" + ` writes.`,
	}
	cmd.AddCommand(newImagesListCmd(g), newImagesPromoteCmd(g))
	return uses(cmd)
}

func newImagesListCmd(g *globals) *cobra.Command {
	var l action.ListImages
	cmd := &cobra.Command{
		Use:   "list [HUB...]",
		Short: "Every image of every hub (or the ones named): its tag, and whether the registry has it",
		Long: `For every hub (or the ones named), list each image with the tag it gets, where the tag
comes from, and whether the registry already has it (a HEAD request on the manifest,
with the credentials of hubploy.yaml's images.registry block or the docker config).
With --env, the tags are the ones that environment deploys (its pins applied).
A registry that cannot be asked (unreachable, credentials refused) is reported for its
images only, on stderr; the exit code is then 1.`,
		Example: `  hubploy images list
  hubploy images list datahub --env prod --output json`,
		ValidArgsFunction: hubCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			l.Config, l.Hubs = cfg, args
			rows, err := l.Run(cmd.Context())
			if err != nil {
				return err
			}
			ok := true
			for _, row := range rows {
				ok = ok && row.OK
			}
			if g.json() {
				err = g.printJSON(struct {
					OK     bool              `json:"ok"`
					Images []action.ImageRow `json:"images"`
				}{ok, rows})
			} else {
				err = printImageRows(g, rows)
			}
			if err != nil {
				return err
			}
			if !ok {
				return checkFailed
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&l.Env, "env", "", "show the tags this environment deploys, its pins applied (default: the tags the folders give)")
	completeFlag(cmd, "env", envCompletion(g))
	return uses(cmd, repoFlags, secretFlags, outputFlags)
}

// printImageRows writes the table to stdout and each problem to stderr.
func printImageRows(g *globals, rows []action.ImageRow) error {
	// The tabwriter keeps the first write error and Flush returns it.
	w := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "HUB\tIMAGE\tTAG\tSOURCE\tREGISTRY")
	for _, row := range rows {
		if row.Name != "" {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", row.Hub, row.Name, row.Tag, row.Source, row.RegistryState())
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, row := range rows {
		if row.Error != "" {
			what := row.Hub
			if row.Name != "" {
				what += " " + row.Name + ":" + row.Tag
			}
			g.logf("error: %s: %s", what, row.Error)
		}
	}
	return nil
}

func newImagesPromoteCmd(g *globals) *cobra.Command {
	var p action.Promote
	cmd := &cobra.Command{
		Use:   "promote HUB --from ENV --to ENV",
		Short: "Pin the images of one environment to the tags another deploys, in image-pins.yaml",
		Long: `Write into deployments/<hub>/image-pins.yaml that environment --to deploys each of the
hub's images with the tag environment --from deploys now, e.g. so that prod keeps the
image staging was verified with while the image folder moves on. The file keeps its
comments and layout; review and commit the change like any other. The registry must
have the images first (unless --no-registry-check).`,
		Example:           `  hubploy images promote datahub --from staging --to prod`,
		Args:              exactArgs(1),
		ValidArgsFunction: hubCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if p.From == "" || p.To == "" {
				return usageError{fmt.Errorf("--from and --to are required: usage: %s", cmd.UseLine())}
			}
			cfg, err := g.config()
			if err != nil {
				return err
			}
			p.Config, p.Hub = cfg, args[0]
			res, err := p.Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return g.printJSON(res)
			}
			return printPromoted(g, p.To, res)
		},
	}
	cmd.Flags().StringVar(&p.From, "from", "", "the environment whose tags to take, e.g. staging")
	cmd.Flags().StringVar(&p.To, "to", "", "the environment to pin, e.g. prod")
	cmd.Flags().BoolVar(&p.NoRegistryCheck, "no-registry-check", false, "pin without asking the registry whether it has the images")
	completeFlag(cmd, "from", envCompletion(g))
	completeFlag(cmd, "to", envCompletion(g))
	return uses(cmd, repoFlags, secretFlags, outputFlags)
}

func printPromoted(g *globals, env string, res *action.PromoteResult) error {
	for _, c := range res.Changes {
		line := fmt.Sprintf("%s: %s:%s already pinned\n", env, c.Name, c.Tag)
		if c.Written {
			line = fmt.Sprintf("%s: pinned %s:%s (was %s)\n", env, c.Name, c.Tag, c.Previous)
		}
		if _, err := fmt.Fprint(g.stdout, line); err != nil {
			return err
		}
	}
	if res.Written != "" {
		g.logf("wrote %s: review and commit it", res.Written)
	}
	return nil
}
