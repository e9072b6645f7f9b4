package action

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/validate"
)

// TestsFolder is the folder of an image's folder whose tests `hubploy test` runs in the
// built image, mounted there at TestsPath.
const (
	TestsFolder = "tests"
	TestsPath   = "/tmp/hubploy-tests"
)

// ImageTest is one test run in a built image: a command, with the image folder's
// TestsFolder mounted at TestsPath when Mount is set.
type ImageTest struct {
	Name    string
	Command []string
	Mount   bool
}

// ExecResult is what a command run in an image did.
type ExecResult struct {
	ExitCode       int
	Stdout, Stderr string
}

// ImageTester runs tests in the images it builds: the CLI's and the module's Dagger
// clients.
type ImageTester interface {
	// Exec builds img and runs test in it; a command that fails is a result, not an
	// error.
	Exec(ctx context.Context, img images.Image, opts BuildOptions, args []BuildArg, test ImageTest) (ExecResult, error)
}

// Test is a hub's tests in containers: the hub is validated and rendered in every
// environment (or Env), its images built from their folders, and each image's tests
// run in it: the commands of hubploy.yaml's images.images[].tests, and the image
// folder's tests/ (pytest for test_*.py and *_test.py files, sh for each *.sh).
type Test struct {
	*Config
	Hub    string
	Env    string   // validate this environment only, and build its tags; empty: every one
	Images []string // names without tag; empty: every image built from a folder
	BuildOptions
	// Progress receives a line per test.
	Progress func(format string, args ...any)
}

// TestReport is a hub's validation, then its tests; no image is built when the hub
// does not validate.
type TestReport struct {
	Hub        string            `json:"hub"`
	OK         bool              `json:"ok"`
	Validation []validate.Result `json:"validation"`
	Tests      []TestResult      `json:"tests"`
}

// TestResult is one test of one image.
type TestResult struct {
	Image    string   `json:"image"` // name:tag
	Name     string   `json:"name"`
	Command  []string `json:"command"`
	OK       bool     `json:"ok"`
	ExitCode int      `json:"exit_code"`
	// Output is the command's standard output then its standard error, the last
	// maxTestOutput bytes.
	Output  string  `json:"output"`
	Seconds float64 `json:"duration_seconds"`
}

// maxTestOutput bounds a test's output in the report: a failing test's last lines say
// why; a test suite's whole log is for its own run.
const maxTestOutput = 16 << 10

// Run validates, builds and tests on tester.
func (t *Test) Run(ctx context.Context, tester ImageTester) (*TestReport, error) {
	progress := t.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	val, err := (&Validate{Config: t.Config, Hubs: []string{t.Hub}, Env: t.Env}).Run(ctx)
	if err != nil {
		return nil, err
	}
	rep := &TestReport{Hub: t.Hub, Validation: val.Results, Tests: []TestResult{}}
	if !val.OK {
		return rep, nil
	}
	b := &Build{Config: t.Config, Hub: t.Hub, Env: t.Env, Images: t.Images, BuildOptions: t.BuildOptions}
	imgs, err := b.Selected()
	if err != nil {
		return nil, err
	}
	args, err := t.ParseArgs()
	if err != nil {
		return nil, err
	}
	rep.OK = true
	for _, img := range imgs {
		tests, err := imageTests(img)
		if err != nil {
			return nil, err
		}
		if len(tests) == 0 {
			progress("%s: no tests (add %s.tests in %s, or a %s/ folder to %s)", img.Ref(), img.Config.Key, img.ConfigFile, TestsFolder, img.ContextDisplay)
		}
		for _, test := range tests {
			progress("%s: %s", img.Ref(), test.Name)
			began := time.Now()
			out, err := tester.Exec(ctx, img, t.BuildOptions, args, test)
			if err != nil {
				return nil, fmt.Errorf("building %s from %s to test it: %w", img.Ref(), img.ContextDisplay, err)
			}
			res := TestResult{Image: img.Ref(), Name: test.Name, Command: test.Command, OK: out.ExitCode == 0, ExitCode: out.ExitCode,
				Output: lastBytes(out.Stdout+out.Stderr, maxTestOutput), Seconds: time.Since(began).Seconds()}
			if res.OK {
				progress("%s: %s: ok (%.1fs)", img.Ref(), test.Name, res.Seconds)
			} else {
				progress("%s: %s: failed with exit code %d (%.1fs)", img.Ref(), test.Name, res.ExitCode, res.Seconds)
				rep.OK = false
			}
			rep.Tests = append(rep.Tests, res)
		}
	}
	return rep, nil
}

// imageTests are img's tests: hubploy.yaml's commands, then its tests/ folder's.
func imageTests(img images.Image) ([]ImageTest, error) {
	var tests []ImageTest
	for _, cmd := range img.Config.Tests {
		tests = append(tests, ImageTest{Name: cmd, Command: []string{"sh", "-c", cmd}})
	}
	dir := filepath.Join(img.Context, TestsFolder)
	var pytest bool
	var scripts []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		rel, _ := filepath.Rel(dir, p)
		switch {
		case strings.HasSuffix(name, ".py") && (strings.HasPrefix(name, "test_") || strings.HasSuffix(name, "_test.py")):
			pytest = true
		case strings.HasSuffix(name, ".sh") && filepath.Dir(rel) == ".":
			scripts = append(scripts, name)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("reading %s: %w", path.Join(img.ContextDisplay, TestsFolder), err)
	}
	if pytest {
		tests = append(tests, ImageTest{Name: "pytest " + TestsFolder + "/", Command: []string{"python", "-m", "pytest", "-q", TestsPath}, Mount: true})
	}
	slices.Sort(scripts)
	for _, s := range scripts {
		tests = append(tests, ImageTest{Name: TestsFolder + "/" + s, Command: []string{"sh", TestsPath + "/" + s}, Mount: true})
	}
	return tests, nil
}

// lastBytes is the end of s, at most n bytes, starting at a line when it is cut.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…\n" + s
}
