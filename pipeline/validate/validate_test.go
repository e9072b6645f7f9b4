package validate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/validate"
)

func run(t *testing.T, root string, v validate.Validate) []validate.Result {
	t.Helper()
	key, _ := os.ReadFile(example.AgeKeyFile())
	r, err := repo.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	v.Repo = r
	v.Release = release.Options{
		Decrypter: &secrets.Decrypter{AgeIdentities: []string{string(key)}},
		Charts:    &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{example.Z2JHRepository: example.MirrorFolder()}},
	}
	res, err := v.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestExampleIsValid(t *testing.T) {
	var progress int
	res := run(t, example.Dir(), validate.Validate{Progress: func(validate.Result) { progress++ }})
	if len(res) != 4 || progress != 4 {
		t.Fatalf("%d results, %d progress calls", len(res), progress)
	}
	for _, r := range res {
		if !r.OK() {
			t.Errorf("%s/%s: %v", r.Hub, r.Env, r.Problems)
		}
	}
}

func TestProblemsAreCollected(t *testing.T) {
	root := example.Copy(t)
	f, _ := os.OpenFile(filepath.Join(root, "hub/templates/user-etc-jupyter.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("  broken: {{ .Values.etcJupyter | nosuchfunc }}\n")
	f.Close()
	res := run(t, root, validate.Validate{Hubs: []string{"stat20"}, Env: "prod"})
	if len(res) != 1 || res[0].OK() {
		t.Fatalf("got %+v", res)
	}
	all := strings.Join(res[0].Problems, "\n")
	if !strings.Contains(all, "lint: ") || !strings.Contains(all, "nosuchfunc") || len(res[0].Problems) < 2 {
		t.Errorf("want both the lint and the render problem, got:\n%s", all)
	}
}

// Image problems are found without a registry: a helm_substitution_path the chart does
// not read, and a pins file that names an environment the hub does not have.
func TestImageProblems(t *testing.T) {
	root := example.Copy(t)
	hubploy := filepath.Join(root, "deployments/datahub/hubploy.yaml")
	data, _ := os.ReadFile(hubploy)
	os.WriteFile(hubploy, []byte(strings.Replace(string(data), "helm_substitution_path: jupyterhub.singleuser.image", "helm_substitution_path: jupyterhub.singleuser.imag", 1)), 0o644)
	res := run(t, root, validate.Validate{Hubs: []string{"datahub"}})
	want := `deployments/datahub/hubploy.yaml: key "images.images[0].helm_substitution_path": "jupyterhub.singleuser.imag" is not a mapping in the values of the chart hub or its dependencies (did you mean "jupyterhub.singleuser.image"?)`
	if len(res) != 2 || res[0].OK() || res[0].Problems[0] != want || res[1].OK() {
		t.Fatalf("got %+v", res)
	}
	os.WriteFile(hubploy, data, 0o644)
	os.WriteFile(filepath.Join(root, "deployments/datahub/image-pins.yaml"), []byte("production:\n  registry.example.org/datahub/user-image: abc1234\n"), 0o644)
	res = run(t, root, validate.Validate{Hubs: []string{"datahub"}, Env: "staging"})
	if len(res) != 1 || res[0].OK() || !strings.HasPrefix(res[0].Problems[0], `deployments/datahub/image-pins.yaml:1: key "production": hub "datahub" has no environment "production"`) {
		t.Fatalf("got %+v", res)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestText(t *testing.T) {
	results := []validate.Result{
		{Hub: "datahub", Env: "prod", Duration: 1234 * time.Millisecond, Warnings: []string{"lint: w"}},
		{Hub: "stat20", Env: "prod", Duration: 10 * time.Millisecond, Problems: []string{"a.yaml: bad", "b.yaml: worse"}},
		{Hub: "broken", Problems: []string{"deployments/broken/hubploy.yaml:1: bad"}},
	}
	var b bytes.Buffer
	if err := validate.WriteReport(&b, results); err != nil {
		t.Fatal(err)
	}
	want := `ok   datahub/prod (1.23s)
     warning: lint: w
FAIL stat20/prod (0.01s)
     error: a.yaml: bad
     error: b.yaml: worse
FAIL broken (0.00s)
     error: deployments/broken/hubploy.yaml:1: bad
validated 3 hub environment(s): 1 ok, 2 failed
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	if validate.Failed(results) != 2 {
		t.Error("Failed miscounts")
	}
	if err := results[0].WriteText(failingWriter{}); err == nil {
		t.Error("WriteText hides the write error")
	}
	if err := validate.WriteReport(failingWriter{}, nil); err == nil {
		t.Error("WriteReport hides the write error")
	}
}

func TestJSON(t *testing.T) {
	out, err := json.Marshal([]validate.Result{
		{Hub: "datahub", Env: "prod", Duration: 1500 * time.Millisecond},
		{Hub: "broken", Problems: []string{"p"}, Warnings: []string{"w"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"hub":"datahub","env":"prod","ok":true,"problems":[],"warnings":[],"duration_seconds":1.5},` +
		`{"hub":"broken","ok":false,"problems":["p"],"warnings":["w"],"duration_seconds":0}]`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}
