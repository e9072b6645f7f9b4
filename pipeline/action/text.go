package action

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/hubploy/hubploy/pipeline/deploy"
)

// WriteStatus writes a release's status as the CLI and the module show it: a line for
// the release, then a table of its resources.
func WriteStatus(w io.Writer, st *deploy.StatusResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "release %s in %s: %s, revision %d, chart %s, updated %s\n", st.Release, st.Namespace, st.Status, st.Revision, st.Chart, st.Updated.Format(time.RFC3339))
	fmt.Fprintln(tw, "RESOURCE\tSTATUS\tMESSAGE")
	for _, r := range st.Resources {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Resource, r.Status, r.Message)
	}
	return tw.Flush() // the tabwriter keeps the first write error and returns it here
}

// WriteHistory writes a release's revisions as a table, oldest first.
func WriteHistory(w io.Writer, revs []deploy.Revision) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION\tDESCRIPTION")
	for _, r := range revs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Revision, r.Updated.Format(time.RFC3339), r.Status, r.Chart, r.AppVersion, r.Description)
	}
	return tw.Flush()
}
