package validate_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
