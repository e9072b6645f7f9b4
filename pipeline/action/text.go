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

// WriteCheck writes a health check as the CLI and the module show it: the steps of the
// last attempt as a table, then a line for the hub.
func WriteCheck(w io.Writer, res *CheckResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tRESULT\tDURATION")
	for _, s := range res.Report.Steps {
		if s.Attempt != res.Report.Attempts {
			continue
		}
		result := "ok"
		if !s.OK {
			result = "failed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1fs\n", s.Name, result, s.Seconds)
	}
	version := ""
	if res.Report.Version != "" {
		version = " (JupyterHub " + res.Report.Version + ")"
	}
	fmt.Fprintf(tw, "%s/%s at %s%s: %s\n", res.Hub, res.Env, res.URL, version, res.Report.Summary())
	return tw.Flush()
}
