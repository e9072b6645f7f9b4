package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
)

func newLockCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lock [CHART_DIR]",
		Short: "Pin the umbrella chart's dependencies in Chart.lock, as helm dependency update does",
		Long: `Resolve the dependencies of the umbrella chart (--chart in --repo, or CHART_DIR) as
` + "`helm dependency update`" + ` does: the newest version each constraint allows, from the chart
repository or its mirror (--chart-mirror). Write them to Chart.lock (requirements.lock
for an apiVersion v1 chart) as helm writes it, unless the lock is current already.
Nothing is vendored in charts/. Commit the lock: every deploy then uses the same
versions, and validate --strict accepts the chart.`,
		Example: `  hubploy lock
  hubploy lock path/to/chart --chart-mirror https://hub.jupyter.org/helm-chart/=./mirror
  hubploy lock --output json`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("usage: %s", c.UseLine())}
			}
			return nil
		},
		ValidArgsFunction: cobra.FixedCompletions(nil, cobra.ShellCompDirectiveFilterDirs),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			l := &action.Lock{Config: cfg}
			if len(args) == 1 {
				l.ChartDir = args[0]
			}
			res, err := l.Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return g.printJSON(res)
			}
			return writeLockResult(g.stdout, res)
		},
	}
	return uses(cmd, repoFlags, chartFlags, outputFlags)
}

// writeLockResult says what the lock pins: a line for the file, then one per
// dependency, name → version.
func writeLockResult(w io.Writer, res *action.LockResult) error {
	var b strings.Builder
	switch {
	case res.File == "":
		fmt.Fprintf(&b, "%s has no dependencies: nothing to lock\n", res.Chart)
	case res.Written:
		fmt.Fprintf(&b, "wrote %s:\n", res.File)
	default:
		fmt.Fprintf(&b, "%s is current:\n", res.File)
	}
	for _, d := range res.Dependencies {
		from := d.Repository
		if from == "" {
			from = "charts/"
		}
		fmt.Fprintf(&b, "  %s → %s (%s, from %s)\n", d.Name, d.Version, d.Constraint, from)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
