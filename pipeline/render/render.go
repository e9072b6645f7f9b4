// Package render renders a chart with values, in process with the helm SDK, exactly as
// `helm template` would: the values schema is enforced and hooks are included.
package render

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/rules"
	"helm.sh/helm/v3/pkg/lint/support"

	"github.com/hubploy/hubploy/pipeline/mask"
)

// Template renders a release offline, as `helm template` does.
type Template struct {
	ReleaseName string
	Namespace   string
	// KubeVersion is the Kubernetes version templates see; nil is helm's default.
	KubeVersion *chartutil.KubeVersion
}

// Run renders ch with vals and returns the manifests, hooks last, as one YAML stream.
func (r *Template) Run(ctx context.Context, ch *chart.Chart, vals map[string]any) (string, error) {
	install := action.NewInstall(&action.Configuration{})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.IncludeCRDs = true
	install.ReleaseName = r.ReleaseName
	install.Namespace = r.Namespace
	install.DisableHooks = false
	if r.KubeVersion != nil {
		install.KubeVersion = r.KubeVersion
	}
	rel, err := install.RunWithContext(ctx, ch, vals)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(rel.Manifest)
	hooks := rel.Hooks
	sort.SliceStable(hooks, func(i, j int) bool { return hooks[i].Path < hooks[j].Path })
	for _, h := range hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String(), nil
}

// LintMessage is one finding of helm's chart linter.
type LintMessage struct {
	Severity string // "error", "warning" or "info"
	Path     string
	Text     string
}

// Lint runs helm's lint rules on the chart folder with the layered values.
// Dependencies are rendered by Run, so lint looks at the chart's own files only.
// What helm's linter logs meanwhile (a template's fail message, a missing required
// value: it skips both) is dropped, through mask.StdLog: it can quote a secret, in forms
// only a render that fails there can trace, and such a render reports the same failure.
func Lint(chartDir, namespace string, vals map[string]any) []LintMessage {
	linter := support.Linter{ChartDir: chartDir}
	mask.StdLog.Quiet(func() {
		rules.Chartfile(&linter)
		rules.ValuesWithOverrides(&linter, vals)
		rules.Templates(&linter, vals, namespace, false)
	})
	// helm's Dependencies rule is left out on purpose: it wants dependencies vendored in
	// charts/, which hubploy never writes.
	var out []LintMessage
	for _, m := range linter.Messages {
		out = append(out, LintMessage{Severity: severity(m.Severity), Path: m.Path, Text: m.Err.Error()})
	}
	return out
}

func severity(s int) string {
	switch s {
	case support.ErrorSev:
		return "error"
	case support.WarningSev:
		return "warning"
	default:
		return "info"
	}
}
