package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/pipeline/mask"
)

// helm's linter logs the fail messages and missing required values it skips, which can
// quote a secret in any form; Lint lets none of it through the standard logger.
func TestLintLogsNothing(t *testing.T) {
	var logged strings.Builder
	mask.StdLog.SetOutput(&logged)
	t.Cleanup(func() { mask.StdLog.SetOutput(os.Stderr) })
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("apiVersion: v2\nname: t\nversion: 0.1.0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "values.yaml"), []byte("s: \"\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "templates", "cm.yaml"), []byte(
		"{{ fail (printf \"bad %q\" (b64enc .Values.s)) }}\n{{ required (printf \"need %s\" (upper .Values.s)) .Values.missing }}\n"), 0o644)
	Lint(dir, "ns", map[string]any{"s": "s3cret"})
	if logged.Len() != 0 {
		t.Errorf("logged:\n%s", logged.String())
	}
}
