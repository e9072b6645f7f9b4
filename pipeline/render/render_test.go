package render

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
)

func testChart() *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "t", Version: "0.1.0"},
		Values:   map[string]any{"greeting": "hello"},
		Schema:   []byte(`{"type":"object","properties":{"greeting":{"type":"string"}}}`),
		Templates: []*chart.File{
			{Name: "templates/cm.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: {{ .Release.Namespace }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n")},
			{Name: "templates/job.yaml", Data: []byte("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: hook\n  annotations:\n    helm.sh/hook: pre-upgrade\n")},
		},
	}
}

func TestRun(t *testing.T) {
	r := &Template{ReleaseName: "hub-prod", Namespace: "ns"}
	out, err := r.Run(context.Background(), testChart(), map[string]any{"greeting": "hi"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: hub-prod", "namespace: ns", `greeting: "hi"`, "# Source: t/templates/job.yaml", "helm.sh/hook: pre-upgrade"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Index(out, "kind: Job") < strings.Index(out, "kind: ConfigMap") {
		t.Error("hooks should come after the release's manifests")
	}
}

func TestRunEnforcesSchema(t *testing.T) {
	_, err := (&Template{ReleaseName: "x", Namespace: "x"}).Run(context.Background(), testChart(), map[string]any{"greeting": 3})
	if err == nil || !strings.Contains(err.Error(), "greeting") {
		t.Fatalf("got %v", err)
	}
}

func TestLint(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("apiVersion: v2\nname: t\nversion: 0.1.0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "values.yaml"), []byte("a: 1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "templates", "bad.yaml"), []byte("kind: ConfigMap\nmetadata:\n  name: {{ .Values.a | badfunc }}\n"), 0o644)
	msgs := Lint(dir, "ns", map[string]any{})
	var errs []string
	for _, m := range msgs {
		if m.Severity == "error" {
			errs = append(errs, m.Text)
		}
	}
	if len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), "badfunc") {
		t.Fatalf("lint found no template error: %+v", msgs)
	}
}
