package action

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/gittest"
	"github.com/hubploy/hubploy/internal/registrytest"
	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/plan"
)

func planned(p *plan.Plan) []string {
	var out []string
	for _, d := range p.Deploys {
		out = append(out, d.Hub+"/"+d.Env)
	}
	for _, b := range p.Builds {
		out = append(out, "build "+b.Image)
	}
	return out
}

// The example in a git clone: a branch that changes datahub's staging config, its
// image and the README, planned from git and from a list.
func TestPlan(t *testing.T) {
	c := config(t, nil)
	r := gittest.Init(t, c.Settings.RepoDir)
	r.Commit("the example", nil)
	r.Branch("feature")
	staging := filepath.Join(r.Dir, "deployments", "datahub", "config", "staging.yaml")
	data, err := os.ReadFile(staging)
	if err != nil {
		t.Fatal(err)
	}
	r.Commit("staging config, docs", map[string]string{"deployments/datahub/config/staging.yaml": string(data) + "# changed\n", "README.md": "notes\n"})
	run := func(p *Plan) *plan.Plan {
		t.Helper()
		p.Config = c
		res, err := p.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := run(&Plan{Base: "main"})
	if got := planned(res); !slices.Equal(got, []string{"datahub/staging"}) || len(res.Unaffected) != 1 || res.Base == "" || res.Head == "" {
		t.Errorf("from git: %v, %+v", got, res)
	}
	if got := planned(run(&Plan{Base: "main", Env: "prod"})); got != nil {
		t.Errorf("prod: %v", got)
	}
	const image = "build registry.example.org/datahub/user-image"
	if got := planned(run(&Plan{ChangedFiles: []string{"deployments/datahub/image/Dockerfile"}, Env: "prod"})); !slices.Equal(got, []string{"datahub/prod", image}) {
		t.Errorf("image: %v", got)
	}
	if got := planned(run(&Plan{ChangedFiles: []string{"hub/values.yaml"}})); !slices.Equal(got, []string{"datahub/prod", "datahub/staging", "stat20/prod", "stat20/staging"}) {
		t.Errorf("chart: %v", got)
	}
	// A push that created its branch: CI systems give forty zeros as the commit before.
	res = run(&Plan{Base: strings.Repeat("0", 40)})
	if got := planned(res); len(got) != 5 || !strings.Contains(res.Everything, "the push created the branch") {
		t.Errorf("new branch: %v, %q", got, res.Everything)
	}
	// main force-pushed with a rewritten history: every hub, and why.
	r.Rewrite("main", "rewritten")
	res = run(&Plan{Base: "main", Head: "feature"})
	if got := planned(res); len(got) != 5 || !strings.Contains(res.Everything, "share no history") {
		t.Errorf("force-push: %v, %q", got, res.Everything)
	}

	for _, tc := range []struct {
		p    *Plan
		want string
	}{
		{&Plan{}, `key "--base": give either --base (a git revision) or --changed-files (a list), one of them`},
		{&Plan{Base: "main", ChangedFiles: []string{}}, "give either --base"},
		{&Plan{Head: "feature", ChangedFiles: []string{}}, `key "--head": needs --base`},
		{&Plan{Base: "nope"}, `key "--base": nope: reference not found`},
		{&Plan{ChangedFiles: []string{}, Env: "dev"}, `no hub has an environment "dev"`},
	} {
		tc.p.Config = c
		if _, err := tc.p.Run(context.Background()); err == nil || !inputerr.Is(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.p, err, tc.want)
		}
	}
}

// Values files given on top of the repository's are read by every hub.
func TestPlanSharedValues(t *testing.T) {
	c := config(t, func(s *Settings) {
		s.PathBase = s.RepoDir
		s.ValueFiles = []string{"shared/values.yaml"}
	})
	res, err := (&Plan{Config: c, ChangedFiles: []string{"shared/values.yaml", "shared/other.yaml"}, Env: "staging"}).Run(context.Background())
	if err != nil || !slices.Equal(planned(res), []string{"datahub/staging", "stat20/staging"}) || len(res.Unaffected) != 1 {
		t.Errorf("%+v, %v", res, err)
	}
}

// --check-registry: an image is built if and only if the registry lacks the tag its
// folder makes, whatever the changed files say.
func TestPlanAsksTheRegistry(t *testing.T) {
	reg := registrytest.Serve(t, "", "")
	c := config(t, nil)
	rewrite(t, filepath.Join(c.Settings.RepoDir, "deployments/datahub/hubploy.yaml"), "registry.example.org", reg.Host)
	c = config(t, func(s *Settings) { s.RepoDir = c.Settings.RepoDir })
	h, err := c.hub("datahub")
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := images.ToBuild(h, "", "")
	if err != nil || len(imgs) != 1 {
		t.Fatalf("images: %v, %v", imgs, err)
	}
	run := func(changed ...string) *plan.Plan {
		t.Helper()
		res, err := (&Plan{Config: c, ChangedFiles: changed, Env: "staging", CheckRegistry: true}).Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := run("README.md")
	if len(res.Builds) != 1 || res.Builds[0].Tag != imgs[0].Tag || res.Builds[0].Why != "tag "+imgs[0].Tag+" is not in the registry" || len(res.Present) != 0 {
		t.Fatalf("absent tag, folder unchanged: %+v", res)
	}
	reg.Push(t, imgs[0].Ref())
	res = run("deployments/datahub/image/Dockerfile")
	if len(res.Builds) != 0 || len(res.Present) != 1 || !slices.Equal(res.Present[0].Files, []string{"deployments/datahub/image/Dockerfile"}) {
		t.Fatalf("present tag, folder changed: %+v", res)
	}
	var text strings.Builder
	res.WriteText(&text)
	if !strings.Contains(text.String(), "in the registry already (1):") || !strings.Contains(text.String(), imgs[0].Ref()) {
		t.Errorf("text:\n%s", text.String())
	}

	rewrite(t, filepath.Join(c.Settings.RepoDir, "deployments/datahub/hubploy.yaml"), reg.Host, "127.0.0.1:1")
	c = config(t, func(s *Settings) { s.RepoDir = c.Settings.RepoDir })
	if _, err := (&Plan{Config: c, ChangedFiles: []string{}, CheckRegistry: true}).Run(context.Background()); err == nil ||
		!strings.Contains(err.Error(), "cannot ask the registry about 127.0.0.1:1/datahub/user-image:") {
		t.Errorf("unreachable registry: %v", err)
	}
}
