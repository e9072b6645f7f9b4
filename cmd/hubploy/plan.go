package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/plan"
)

func newPlanCmd(g *globals) *cobra.Command {
	var p action.Plan
	var changedFiles string
	var markdown bool
	cmd := &cobra.Command{
		Use:   "plan (--base REV [--head REV] | --changed-files FILE|-)",
		Short: "Which hubs and environments a change deploys, and which images it builds",
		Long: `Say what a change must deploy: each hub × environment, and each image to build first,
with the changed files that make it so. The change is what --head (default HEAD)
changed since its merge base with --base, read from the git clone (a pull request's
target branch, or a push's previous commit), or the list of changed files in
--changed-files (one a line, relative to the repository's root; - for standard input).

The rules, file by file:
  hub/ (--chart) and the local charts it depends on,
  --values files, local --chart-mirror folders           every hub, every environment
  deployments/<hub>/<an image's folder>/...              that image builds; the hub, everywhere
  deployments/<hub>/config/<env>.yaml, secrets/<env>.yaml,
  secrets/deployments/<hub>/secrets/<env>.yaml           that hub in that environment
  any other file of deployments/<hub>/ but *.md          that hub, every environment
  anything else (docs, .github, README.md, scripts)      nothing

A base whose history was force-pushed away (no common ancestor with the head) plans
every hub and image, and says why. A shallow clone that lacks the history is an error:
fetch more of it (fetch-depth: 0) or pass --changed-files.

With --check-registry the builds are exact: tags are made from a folder's content, so an
image is built if and only if its registry lacks that tag, changed files or not (a
shallow clone, a build that failed last time); planned images whose tag is there are
listed as in the registry already.

--markdown writes the plan for a pull request's comment or $GITHUB_STEP_SUMMARY;
-o json writes it for programs (deploy --plan reads it).`,
		Example: `  hubploy plan --base origin/staging
  hubploy plan --base "$BEFORE" --head "$AFTER" --env staging -o json > plan.json
  hubploy plan --base origin/staging --markdown >> "$GITHUB_STEP_SUMMARY"
  git diff --name-only origin/prod... | hubploy plan --changed-files - --env prod`,
		Args:              exactArgs(0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if markdown && g.json() {
				return usageError{fmt.Errorf("--markdown and --output json are two forms of output: give one")}
			}
			if changedFiles != "" {
				files, err := readFileList(cmd.InOrStdin(), changedFiles)
				if err != nil {
					return err
				}
				p.ChangedFiles = files
			}
			cfg, err := g.config()
			if err != nil {
				return err
			}
			p.Config = cfg
			res, err := p.Run(cmd.Context())
			if err != nil {
				return err
			}
			switch {
			case g.json():
				return g.printJSON(res)
			case markdown:
				return res.WriteMarkdown(g.stdout)
			}
			return res.WriteText(g.stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Base, "base", "", "the git revision the change is compared with: a branch, tag or commit (its merge base with --head)")
	f.StringVar(&p.Head, "head", "", "the git revision whose changes are planned (default HEAD)")
	f.StringVar(&changedFiles, "changed-files", "", "a file listing the changed files, one a line (- for standard input), instead of --base")
	f.StringVar(&p.Env, "env", "", "plan for this environment only (default: every environment)")
	f.BoolVar(&p.CheckRegistry, "check-registry", false, "build exactly the images whose registry lacks the tag their folder makes (asks the registries)")
	f.BoolVar(&markdown, "markdown", false, "write the plan as Markdown, for a pull request's comment or $GITHUB_STEP_SUMMARY")
	completeFlag(cmd, "env", envCompletion(g))
	return uses(cmd, repoFlags, secretFlags, chartFlags, valueFlags, outputFlags)
}

// readFileList reads --changed-files: a file, or standard input for "-".
func readFileList(stdin io.Reader, name string) ([]string, error) {
	if name == "-" {
		return plan.ReadFileList(stdin, "standard input (--changed-files -)")
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, &inputerr.Error{Key: "--changed-files", Msg: "cannot read the list of changed files: " + err.Error(), Hint: "name a file, or - for standard input", Err: err}
	}
	defer f.Close() // read only: closing it cannot lose anything
	return plan.ReadFileList(f, name)
}
