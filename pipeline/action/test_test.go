package action

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/pipeline/images"
)

// execRecorder is an ImageTester at the engine's boundary: it records what it was
// asked to run and fails the commands that mention "numpy".
type execRecorder struct{ ran []ImageTest }

func (e *execRecorder) Exec(_ context.Context, img images.Image, _ BuildOptions, _ []BuildArg, test ImageTest) (ExecResult, error) {
	e.ran = append(e.ran, test)
	if strings.Contains(strings.Join(test.Command, " "), "numpy") {
		return ExecResult{ExitCode: 1, Stderr: "ModuleNotFoundError: No module named 'numpy'\n"}, nil
	}
	return ExecResult{Stdout: "fine\n"}, nil
}

func TestTestRunsConfigAndFolderTests(t *testing.T) {
	c := config(t, nil)
	hub := filepath.Join(c.Settings.RepoDir, "deployments/datahub")
	rewrite(t, filepath.Join(hub, "hubploy.yaml"), "helm_substitution_path: jupyterhub.singleuser.image",
		"helm_substitution_path: jupyterhub.singleuser.image\n      tests: ['jupyter lab --version', 'python -c \"import numpy\"']")
	for name, content := range map[string]string{"test_kernels.py": "", "b.sh": "true", "a.sh": "true", "deeper/c.sh": "true", "notes.txt": ""} {
		p := filepath.Join(hub, "image", TestsFolder, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	var lines []string
	tester := &execRecorder{}
	rep, err := (&Test{Config: c, Hub: "datahub", Env: "staging", Progress: func(f string, a ...any) { lines = append(lines, f) }}).Run(context.Background(), tester)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Tests {
		names = append(names, r.Name)
	}
	want := []string{"jupyter lab --version", `python -c "import numpy"`, "pytest tests/", "tests/a.sh", "tests/b.sh"}
	if !slices.Equal(names, want) || rep.OK || !rep.Tests[0].OK || rep.Tests[1].OK || rep.Tests[1].ExitCode != 1 ||
		!strings.Contains(rep.Tests[1].Output, "No module named 'numpy'") || len(rep.Validation) != 1 {
		t.Fatalf("tests %q, report %+v", names, rep)
	}
	if got := tester.ran[2]; !got.Mount || !slices.Equal(got.Command, []string{"python", "-m", "pytest", "-q", TestsPath}) {
		t.Errorf("pytest: %+v", got)
	}
	if got := tester.ran[0]; got.Mount || !slices.Equal(got.Command, []string{"sh", "-c", "jupyter lab --version"}) {
		t.Errorf("a command of hubploy.yaml: %+v", got)
	}
	var text strings.Builder
	if err := WriteTests(&text, rep); err != nil || !strings.Contains(text.String(), "datahub: 4 test(s) passed, 1 failed") ||
		!strings.Contains(text.String(), "        ModuleNotFoundError") {
		t.Errorf("text: %v\n%s", err, text.String())
	}

	// A hub that does not validate builds nothing.
	appendTo := filepath.Join(hub, "config", "staging.yaml")
	data, _ := os.ReadFile(appendTo)
	os.WriteFile(appendTo, append(data, []byte("  bad: [\n")...), 0o644)
	tester.ran = nil
	rep, err = (&Test{Config: config(t, func(s *Settings) { s.RepoDir = c.Settings.RepoDir }), Hub: "datahub", Env: "staging"}).Run(context.Background(), tester)
	if err != nil || rep.OK || len(rep.Tests) != 0 || len(tester.ran) != 0 {
		t.Fatalf("invalid hub: %v, %+v, ran %v", err, rep, tester.ran)
	}
	text.Reset()
	WriteTests(&text, rep)
	if !strings.Contains(text.String(), "datahub: does not validate: no image built, no test run") || !strings.Contains(text.String(), "config/staging.yaml") {
		t.Errorf("text:\n%s", text.String())
	}
}

func TestLastBytes(t *testing.T) {
	if got := lastBytes("short", 10); got != "short" {
		t.Errorf("%q", got)
	}
	if got := lastBytes("line one\nline two\nline three\n", 14); got != "…\nline three\n" {
		t.Errorf("%q", got)
	}
}
