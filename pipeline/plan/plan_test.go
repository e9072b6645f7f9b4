package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// testLayout is two hubs with staging and prod, one with an image, a chart with a local
// dependency and a shared values file.
func testLayout() *Layout {
	return &Layout{
		Charts: []string{"hub", "charts/lib"},
		Shared: []string{"shared/values.yaml"},
		Hubs: []Hub{
			{Name: "datahub", Envs: []string{"prod", "staging"}, Images: []Image{{Name: "registry.example.org/datahub/user-image", Folder: "deployments/datahub/image"}}},
			{Name: "stat20", Envs: []string{"prod", "staging"}},
		},
	}
}

func deploys(p *Plan) []string {
	out := []string{}
	for _, d := range p.Deploys {
		out = append(out, d.Hub+"/"+d.Env)
	}
	return out
}

func builds(p *Plan) []string {
	out := []string{}
	for _, b := range p.Builds {
		out = append(out, b.Image)
	}
	return out
}

func TestMakeRules(t *testing.T) {
	const image = "registry.example.org/datahub/user-image"
	everyHub := []string{"datahub/prod", "datahub/staging", "stat20/prod", "stat20/staging"}
	for _, tc := range []struct {
		name    string
		changed []string
		deploys []string
		builds  []string
		why     string // of the first unaffected file, if any
	}{
		{"no change", nil, nil, nil, ""},
		{"readme", []string{"README.md"}, nil, nil, "documentation"},
		{"docs folder", []string{"docs/howto.txt"}, nil, nil, "documentation"},
		{"workflow", []string{".github/workflows/deploy.yaml"}, nil, nil, "CI configuration"},
		{"a script nothing reads", []string{"scripts/cleanup.py"}, nil, nil, "neither hubploy nor the chart reads it"},
		{"env config", []string{"deployments/datahub/config/staging.yaml"}, []string{"datahub/staging"}, nil, ""},
		{"env secrets", []string{"deployments/datahub/secrets/prod.yaml"}, []string{"datahub/prod"}, nil, ""},
		{"common config", []string{"deployments/datahub/config/common.yaml"}, []string{"datahub/prod", "datahub/staging"}, nil, ""},
		{"hubploy.yaml", []string{"deployments/stat20/hubploy.yaml"}, []string{"stat20/prod", "stat20/staging"}, nil, ""},
		{"kubeconfig", []string{"deployments/stat20/secrets/kubeconfig.yaml"}, []string{"stat20/prod", "stat20/staging"}, nil, ""},
		{"image pins", []string{"deployments/datahub/image-pins.yaml"}, []string{"datahub/prod", "datahub/staging"}, nil, ""},
		{"image", []string{"deployments/datahub/image/Dockerfile"}, []string{"datahub/prod", "datahub/staging"}, []string{image}, ""},
		// Content tags hash the whole folder: its README makes a new tag too.
		{"image readme", []string{"deployments/datahub/image/README.md"}, []string{"datahub/prod", "datahub/staging"}, []string{image}, ""},
		{"hub readme", []string{"deployments/datahub/README.md"}, nil, nil, "documentation"},
		{"deployments readme", []string{"deployments/README.md"}, nil, nil, "documentation"},
		{"chart", []string{"hub/values.yaml"}, everyHub, nil, ""},
		{"chart lock", []string{"hub/Chart.lock"}, everyHub, nil, ""},
		{"local chart dependency", []string{"charts/lib/templates/pdb.yaml"}, everyHub, nil, ""},
		{"shared values", []string{"shared/values.yaml"}, everyHub, nil, ""},
		{"a folder named like the chart's", []string{"hubby/values.yaml"}, nil, nil, "neither hubploy nor the chart reads it"},
		{"root secrets", []string{"secrets/deployments/stat20/secrets/prod.yaml"}, []string{"stat20/prod"}, nil, ""},
		{"root secrets, other file", []string{"secrets/deployments/stat20/notes.txt"}, nil, nil, "hubploy reads only secrets/<env>.yaml of the hub's environments there"},
		{"removed hub", []string{"deployments/gone/config/prod.yaml"}, nil, nil, "no hub gone to deploy (no deployments/gone/hubploy.yaml)"},
		{"removed environment", []string{"deployments/datahub/config/dev.yaml"}, nil, nil, "hub datahub has no environment dev (any more)"},
		{"several", []string{"deployments/datahub/image/environment.yml", "README.md", "deployments/stat20/config/prod.yaml", "deployments/datahub/config/staging.yaml"},
			[]string{"datahub/prod", "datahub/staging", "stat20/prod"}, []string{image}, "documentation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Make(testLayout(), tc.changed)
			if got := deploys(p); !slices.Equal(got, append([]string{}, tc.deploys...)) {
				t.Errorf("deploys %v, want %v", got, tc.deploys)
			}
			if got := builds(p); !slices.Equal(got, append([]string{}, tc.builds...)) {
				t.Errorf("builds %v, want %v", got, tc.builds)
			}
			why := ""
			if len(p.Unaffected) > 0 {
				why = p.Unaffected[0].Why
			}
			if why != tc.why {
				t.Errorf("unaffected %v, want the first because %q", p.Unaffected, tc.why)
			}
			if len(p.Changed) != len(tc.changed) {
				t.Errorf("changed %v, want %v", p.Changed, tc.changed)
			}
		})
	}
}

// Each deploy and build names the files that make it, and only those.
func TestMakeSaysWhy(t *testing.T) {
	p := Make(testLayout(), []string{"deployments/datahub/config/staging.yaml", "deployments/datahub/image/Dockerfile", "hub/values.yaml"})
	want := []Deploy{
		{Hub: "datahub", Env: "prod", Files: []string{"deployments/datahub/image/Dockerfile", "hub/values.yaml"}},
		{Hub: "datahub", Env: "staging", Files: []string{"deployments/datahub/config/staging.yaml", "deployments/datahub/image/Dockerfile", "hub/values.yaml"}},
		{Hub: "stat20", Env: "prod", Files: []string{"hub/values.yaml"}},
		{Hub: "stat20", Env: "staging", Files: []string{"hub/values.yaml"}},
	}
	if !reflect.DeepEqual(p.Deploys, want) {
		t.Errorf("deploys %+v\nwant %+v", p.Deploys, want)
	}
	wantBuilds := []Build{{Hub: "datahub", Image: "registry.example.org/datahub/user-image", Folder: "deployments/datahub/image", Files: []string{"deployments/datahub/image/Dockerfile"}}}
	if !reflect.DeepEqual(p.Builds, wantBuilds) {
		t.Errorf("builds %+v", p.Builds)
	}
}

func TestForEnvAndHubs(t *testing.T) {
	p := Make(testLayout(), []string{"deployments/datahub/image/Dockerfile", "deployments/stat20/config/staging.yaml"})
	prod := p.ForEnv("prod")
	if got := deploys(prod); !slices.Equal(got, []string{"datahub/prod"}) || prod.Env != "prod" {
		t.Errorf("prod deploys %v (env %q)", got, prod.Env)
	}
	if got := builds(prod); len(got) != 1 {
		t.Errorf("prod builds %v", got)
	}
	staging := p.ForEnv("staging")
	if got := staging.Hubs("staging"); !slices.Equal(got, []string{"datahub", "stat20"}) {
		t.Errorf("staging hubs %v", got)
	}
	// A plan limited to stat20's staging builds nothing of datahub.
	onlyStat20 := Make(testLayout(), []string{"deployments/stat20/config/staging.yaml"}).ForEnv("staging")
	if len(onlyStat20.Builds) != 0 || len(p.Deploys) != 3 {
		t.Errorf("builds %v; the original plan changed: %v", onlyStat20.Builds, deploys(p))
	}
	if got := p.Hubs("dev"); got != nil {
		t.Errorf("dev hubs %v", got)
	}
}

func TestEverything(t *testing.T) {
	p := Everything(testLayout(), nil, "force-pushed")
	if len(p.Deploys) != 4 || len(p.Builds) != 1 || p.Everything != "force-pushed" || p.Changed == nil {
		t.Errorf("%+v", p)
	}
}

func TestReadBack(t *testing.T) {
	dir := t.TempDir()
	p := Make(testLayout(), []string{"deployments/datahub/image/Dockerfile", "README.md"})
	p.Base, p.Head = "1234567", "89abcde"
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := Read(file)
	if err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("read back %+v, %v\nwant %+v", back, err, p)
	}
	if got := back.Hubs("prod"); !slices.Equal(got, []string{"datahub"}) {
		t.Errorf("hubs %v", got)
	}
	for content, want := range map[string]string{
		"":                 "plan.json: is not a plan hubploy wrote: unexpected end of JSON input (write it with hubploy plan -o json)",
		`{"changed": []}`:  `is not a plan hubploy wrote: it has no "deploys"`,
		`{"deploys": "x"}`: "is not a plan hubploy wrote: json: cannot unmarshal string",
	} {
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(file); err == nil || !inputerr.Is(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
	if _, err := Read(filepath.Join(dir, "none.json")); err == nil || !inputerr.Is(err) || !strings.Contains(err.Error(), "none.json: cannot read the plan") {
		t.Errorf("missing file: %v", err)
	}
}

func TestWrite(t *testing.T) {
	p := Make(testLayout(), []string{"deployments/datahub/image/Dockerfile", "deployments/datahub/image/a", "deployments/datahub/image/b",
		"deployments/datahub/image/c|d", "README.md"})
	p.Base, p.Head = "1234567", "89abcde"
	var text, md bytes.Buffer
	if err := p.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"1234567...89abcde: 5 changed file(s): 2 deploy(s), 1 image build(s)\n",
		"deploy (2):\n  datahub/prod     deployments/datahub/image/Dockerfile, deployments/datahub/image/a, deployments/datahub/image/b, and 1 more\n",
		"build (1):\n  registry.example.org/datahub/user-image (deployments/datahub/image)",
		"unaffected (1):\n  README.md",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text: no %q in\n%s", want, text.String())
		}
	}
	if err := p.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"### hubploy plan\n\n1234567...89abcde: 5 changed file(s)",
		"| hub | environment | changed |\n|---|---|---|\n| datahub | prod | `deployments/datahub/image/Dockerfile`, ",
		"| `registry.example.org/datahub/user-image` | `deployments/datahub/image` |",
		"<details><summary>1 changed file(s) that deploy nothing</summary>\n\n- `README.md`: documentation\n",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown: no %q in\n%s", want, md.String())
		}
	}
	// The pipe in a file name does not end a table cell.
	if p := Make(testLayout(), []string{"deployments/datahub/config/x|y.yaml"}); true {
		md.Reset()
		if err := p.WriteMarkdown(&md); err != nil || !strings.Contains(md.String(), "`deployments/datahub/config/x\\|y.yaml`") {
			t.Errorf("%v\n%s", err, md.String())
		}
	}
	var none bytes.Buffer
	if err := Make(testLayout(), []string{"README.md"}).ForEnv("prod").WriteText(&none); err != nil || !strings.HasPrefix(none.String(), "1 changed file(s), environment prod: nothing to deploy\n") {
		t.Errorf("%v\n%s", err, none.String())
	}
	everything := Everything(testLayout(), nil, "no shared history")
	everything.Head = "89abcde"
	none.Reset()
	if err := everything.WriteText(&none); err != nil || !strings.Contains(none.String(), "up to 89abcde: 0 changed file(s): 4 deploy(s), 1 image build(s)\nevery hub deploys: no shared history\n") ||
		!strings.Contains(none.String(), "\n  datahub/prod\n") || strings.Contains(none.String(), " \n") {
		t.Errorf("%v\n%s", err, none.String())
	}
}

func TestReadFileList(t *testing.T) {
	got, err := ReadFileList(strings.NewReader("./deployments/datahub/config/prod.yaml\r\n\n  hub/values.yaml  \nREADME.md"), "-")
	if want := []string{"deployments/datahub/config/prod.yaml", "hub/values.yaml", "README.md"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("%q, %v", got, err)
	}
	for _, bad := range []string{"/etc/passwd", "../other/x", "a/../../b"} {
		_, err := ReadFileList(strings.NewReader("README.md\n"+bad+"\n"), "changed.txt")
		if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), "changed.txt:2: "+strconv.Quote(bad)+" is not a path in the repository (") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
