package main

import (
	"context"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// registryTimeout bounds the registry checks of one command, so that a registry that
// does not answer fails the command rather than hanging it.
const registryTimeout = 2 * time.Minute

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
	return cmd
}

// imageRow is one image in `images list`; a row without a name is a problem of the
// whole hub.
type imageRow struct {
	Hub        string `json:"hub"`
	Env        string `json:"env,omitempty"`
	Name       string `json:"name,omitempty"`
	Tag        string `json:"tag,omitempty"`
	Source     string `json:"source,omitempty"`
	HelmPath   string `json:"helm_substitution_path,omitempty"`
	Context    string `json:"context,omitempty"`
	Dockerfile string `json:"dockerfile,omitempty"`
	Exists     *bool  `json:"exists"` // null when the registry could not say
	Error      string `json:"error,omitempty"`
}

func newImagesListCmd(g *globals) *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "list [HUB...]",
		Short: "Every image of every hub (or the ones named): its tag, and whether the registry has it",
		Long: `For every hub (or the ones named), list each image with the tag it gets, where the tag
comes from, and whether the registry already has it (a HEAD request on the manifest,
with the credentials of hubploy.yaml's images.registry block or the docker config).
With --env, the tags are the ones that environment deploys (its pins applied).
A registry that cannot be asked (unreachable, credentials refused) is reported for its
images only; the exit code is then 1.`,
		Example: `  hubploy images list
  hubploy images list datahub --env prod --output json`,
		ValidArgsFunction: hubCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			names, err := hubArgs(r, args)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			var rows []imageRow
			for _, name := range names {
				rows = append(rows, listHub(ctx, g, r, name, env)...)
			}
			return printImageRows(g, rows)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "show the tags this environment deploys, its pins applied (default: the tags the folders give)")
	return cmd
}

// hubArgs returns the hubs named, all of them if none; an unknown name is bad input.
func hubArgs(r *repo.Repo, args []string) ([]string, error) {
	known, err := r.HubNames()
	if err != nil || len(args) == 0 {
		return known, err
	}
	for _, name := range args {
		if !slices.Contains(known, name) {
			_, err := r.Hub(name)
			return nil, err
		}
	}
	return args, nil
}

func listHub(ctx context.Context, g *globals, r *repo.Repo, name, env string) []imageRow {
	hubError := func(err error) []imageRow { return []imageRow{{Hub: name, Env: env, Error: err.Error()}} }
	h, err := r.Hub(name)
	if err != nil {
		return hubError(err)
	}
	imgs, err := images.Resolve(h, env)
	if err != nil || len(imgs) == 0 {
		if err != nil {
			return hubError(err)
		}
		return nil
	}
	var statuses []images.Status
	if kc, err := g.keychain(h); err != nil {
		for _, img := range imgs { // without credentials, no image can be asked about
			statuses = append(statuses, images.Status{Image: img, Err: err})
		}
	} else {
		statuses = images.Check(ctx, imgs, kc)
	}
	var rows []imageRow
	for _, st := range statuses {
		row := imageRow{Hub: name, Env: env, Name: st.Name, Tag: st.Tag, Source: string(st.Source), HelmPath: st.HelmPath,
			Context: st.ContextDisplay}
		if st.Buildable() {
			row.Dockerfile = r.Rel(st.Dockerfile)
		}
		if st.Err != nil {
			row.Error = st.Err.Error()
		} else {
			row.Exists = &st.Exists
			if err := st.CheckBuild(); err != nil && !st.Exists { // a build is needed, and would fail
				row.Error = err.Error()
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func printImageRows(g *globals, rows []imageRow) error {
	failed := false
	for _, row := range rows {
		failed = failed || row.Error != ""
	}
	if g.output == "json" {
		if rows == nil {
			rows = []imageRow{}
		}
		if err := g.printJSON(rows); err != nil {
			return err
		}
	} else {
		w := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "HUB\tIMAGE\tTAG\tSOURCE\tREGISTRY")
		for _, row := range rows {
			if row.Name != "" {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", row.Hub, row.Name, row.Tag, row.Source, registryState(row))
			}
		}
		w.Flush()
		for _, row := range rows {
			if row.Error != "" {
				what := row.Hub
				if row.Name != "" {
					what += " " + row.Name + ":" + row.Tag
				}
				fmt.Fprintf(g.stdout, "error: %s: %s\n", what, row.Error)
			}
		}
	}
	if failed {
		return checkFailed
	}
	return nil
}

func registryState(row imageRow) string {
	switch {
	case row.Exists == nil:
		return "unknown (error below)"
	case *row.Exists:
		return "present"
	case row.Context != "":
		return "missing: build needed"
	}
	return "missing: nothing here builds it"
}

func newImagesPromoteCmd(g *globals) *cobra.Command {
	var from, to string
	var noCheck bool
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
			if from == "" || to == "" {
				return usageError{fmt.Errorf("--from and --to are required: usage: %s", cmd.UseLine())}
			}
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			h, err := r.Hub(args[0])
			if err != nil {
				return err
			}
			if !noCheck {
				if err := checkPromoted(cmd.Context(), g, h, from); err != nil {
					return err
				}
			}
			changes, err := images.Promote(h, from, to)
			if err != nil {
				return err
			}
			written := false
			for _, c := range changes {
				if c.Written {
					written = true
					fmt.Fprintf(g.stdout, "%s: pinned %s:%s (was %s)\n", to, c.Name, c.Tag, c.Previous)
				} else {
					fmt.Fprintf(g.stdout, "%s: %s:%s already pinned\n", to, c.Name, c.Tag)
				}
			}
			if written {
				fmt.Fprintf(g.stdout, "wrote %s: review and commit it\n", r.Rel(h.Path(images.PinsFile)))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the environment whose tags to take, e.g. staging")
	cmd.Flags().StringVar(&to, "to", "", "the environment to pin, e.g. prod")
	cmd.Flags().BoolVar(&noCheck, "no-registry-check", false, "pin without asking the registry whether it has the images")
	return cmd
}

// checkPromoted fails unless the registry has every image env deploys: a pin to an
// image that was never pushed would fail the next deploy.
func checkPromoted(ctx context.Context, g *globals, h *repo.Hub, env string) error {
	imgs, err := images.Resolve(h, env)
	if err != nil {
		return err
	}
	kc, err := g.keychain(h)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	for _, st := range images.Check(ctx, imgs, kc) {
		switch {
		case st.Exists:
		case st.Err != nil:
			return st.Err
		default:
			return &inputerr.Error{File: st.ConfigFile, Key: st.Config.KeyOf("name"), Msg: fmt.Sprintf("the registry has no %s, which %s deploys", st.Ref(), env),
				Hint: "build and push it first, or pass --no-registry-check"}
		}
	}
	return nil
}

// hubCompletion completes hub names.
func hubCompletion(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		if r, err := g.openRepo(); err == nil {
			names, _ := r.HubNames()
			return names, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}
