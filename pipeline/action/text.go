package action

import (
	"fmt"
	"io"
	"strings"
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

// WriteTests writes a hub's tests as the CLI and the module show them: the validation's
// problems, if any, else a line per test, with the end of a failed test's output, then a
// line for all.
func WriteTests(w io.Writer, rep *TestReport) error {
	var b strings.Builder
	for _, res := range rep.Validation {
		if !res.OK() {
			if err := res.WriteText(&b); err != nil {
				return err
			}
		}
	}
	passed := 0
	for _, t := range rep.Tests {
		if t.OK {
			passed++
			fmt.Fprintf(&b, "ok      %s  %s  (%.1fs)\n", t.Image, t.Name, t.Seconds)
			continue
		}
		fmt.Fprintf(&b, "FAILED  %s  %s  (exit code %d, %.1fs)\n", t.Image, t.Name, t.ExitCode, t.Seconds)
		lines := strings.Split(strings.TrimRight(t.Output, "\n"), "\n")
		for _, l := range lines[max(0, len(lines)-20):] {
			b.WriteString("        " + l + "\n")
		}
	}
	switch {
	case len(rep.Tests) == 0 && !rep.OK:
		fmt.Fprintf(&b, "%s: does not validate: no image built, no test run\n", rep.Hub)
	default:
		fmt.Fprintf(&b, "%s: %d test(s) passed, %d failed\n", rep.Hub, passed, len(rep.Tests)-passed)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
