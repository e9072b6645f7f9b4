package action

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// config is the application layer on a copy of hubs-example, with the stand-in z2jh
// chart from the example's mirror folder and the example's age key.
func config(t *testing.T, edit func(s *Settings)) *Config {
	t.Helper()
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	key, err := os.ReadFile(example.AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	s := Settings{RepoDir: example.Copy(t), ChartMirrors: []string{example.Z2JHRepository + "=" + example.MirrorFolder()},
		ChartCache: t.TempDir(), AgeKeys: []string{string(key)}}
	if edit != nil {
		edit(&s)
	}
	c, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRenderObjectsAndFiles(t *testing.T) {
	c := config(t, nil)
	res, err := (&Render{Config: c, Hub: "datahub", Env: "prod"}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Release != "datahub-prod" || res.Namespace != "datahub-prod" || len(res.Objects) < 6 {
		t.Fatalf("release %s/%s, %d objects", res.Namespace, res.Release, len(res.Objects))
	}
	kinds := map[string]bool{}
	for _, o := range res.Objects {
		kinds[o.Kind+"/"+o.Name] = true
		if o.Source == "" || o.APIVersion == "" || o.Object["kind"] != o.Kind {
			t.Errorf("object %+v lacks its source or head", o)
		}
		if o.Kind == "Secret" {
			for _, section := range []string{"data", "stringData"} {
				data, _ := o.Object[section].(map[string]any)
				for k, v := range data {
					if v != "<masked>" {
						t.Errorf("Secret %s %s.%s holds %v, not <masked>", o.Name, section, k, v)
					}
				}
			}
		}
	}
	for _, want := range []string{"Deployment/hub", "Service/proxy-public", "Secret/hub"} {
		if !kinds[want] {
			t.Errorf("no %s among %v", want, kinds)
		}
	}
	files := res.Files()
	total := 0
	for name, content := range files {
		if strings.HasPrefix(name, "/") || strings.HasPrefix(name, "..") {
			t.Errorf("file %s leaves the folder", name)
		}
		total += strings.Count(content, "---\n")
	}
	if total != len(res.Objects) {
		t.Errorf("files hold %d documents, want %d", total, len(res.Objects))
	}
}

func TestTargets(t *testing.T) {
	c := config(t, nil)
	for _, tc := range []struct {
		t    Targets
		want string // hubs, or the error
	}{
		{Targets{Env: "staging", All: true}, "datahub stat20"},
		{Targets{Env: "staging", Hubs: []string{"stat20"}}, "stat20"},
		{Targets{Env: "staging"}, "name the hubs, or ask for all of them"},
		{Targets{Env: "staging", Hubs: []string{"stat20"}, All: true}, "name the hubs, or ask for all of them"},
		{Targets{Hubs: []string{"stat20"}}, "no environment given"},
	} {
		hubs, err := c.hubs(tc.t)
		got := strings.Join(hubs, " ")
		if err != nil {
			got = err.Error()
			if !inputerr.Is(err) {
				t.Errorf("%+v: %v is not an input error", tc.t, err)
			}
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%+v: got %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestHubAndEnvNames(t *testing.T) {
	c := config(t, nil)
	if names, err := c.HubNames(nil); err != nil || strings.Join(names, " ") != "datahub stat20" {
		t.Errorf("HubNames: %v %v", names, err)
	}
	if _, err := c.HubNames([]string{"datahb"}); err == nil || !strings.Contains(err.Error(), `did you mean "datahub"`) || !inputerr.Is(err) {
		t.Errorf("unknown hub: %v", err)
	}
	if envs, err := c.EnvNames(nil); err != nil || strings.Join(envs, " ") != "prod staging" {
		t.Errorf("EnvNames: %v %v", envs, err)
	}
}

// Paths given to the module stay inside the repository.
func TestConfineToRepo(t *testing.T) {
	repo := example.Copy(t)
	_, err := New(Settings{RepoDir: repo, PathBase: repo, ConfineToRepo: true, ValueFiles: []string{"../outside.yaml"}})
	if err == nil || !strings.Contains(err.Error(), "is outside the repository") {
		t.Errorf("value file outside: %v", err)
	}
	c, err := New(Settings{RepoDir: repo, PathBase: repo, ConfineToRepo: true, ChartMirrors: []string{example.Z2JHRepository + "=hubs-mirror"}})
	if err != nil || c.Release.Charts.Mirrors[strings.TrimSuffix(example.Z2JHRepository, "/")] != filepath.Join(repo, "hubs-mirror") {
		t.Errorf("mirror folder inside: %v %v", err, c.Release.Charts.Mirrors)
	}
	for _, file := range []string{"../../etc/passwd", "/etc/passwd"} {
		if _, err := (&Decrypt{Config: c, File: file}).Run(); err == nil || !strings.Contains(err.Error(), "is outside the repository") {
			t.Errorf("decrypt %s: %v", file, err)
		}
	}
}

// One hub whose preparation fails is the error; with several, each gets its row and
// the others are not stopped (here no hub reaches a cluster: both fail to prepare).
func TestDeployPreparationFailures(t *testing.T) {
	c := config(t, nil)
	broken := filepath.Join(c.Settings.RepoDir, "deployments/stat20/config/staging.yaml")
	if err := os.WriteFile(broken, []byte("jupyterhub: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := (&Deploy{Config: c, Targets: Targets{Env: "staging", Hubs: []string{"stat20"}}}).Run(context.Background())
	if err == nil || !inputerr.Is(err) || !strings.Contains(err.Error(), "deployments/stat20/config/staging.yaml") {
		t.Fatalf("one hub: %v", err)
	}
	unreachable := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(unreachable, []byte("apiVersion: v1\nkind: Config\n"), 0o600)
	rep, err := (&Deploy{Config: c, Targets: Targets{Env: "staging", All: true}, Cluster: ClusterOptions{KubeconfigFile: unreachable}}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Failed != 2 || len(rep.Results) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	for i, hub := range []string{"datahub", "stat20"} {
		r := rep.Results[i]
		if r.Hub != hub || r.Env != "staging" || r.OK() || r.Release != hub+"-staging" || r.Error == "" {
			t.Errorf("row %d: %+v", i, r)
		}
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "2 of 2 deploy(s) failed") {
		t.Errorf("Err: %v", err)
	}
}
