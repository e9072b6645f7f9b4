// Package compat runs the built hubploy, with the command lines of the Python hubploy's
// CI scripts, on a repository shaped like Berkeley DataHub's (testdata/datahub-shaped):
// used as it is, with no edit, against a real chart repository and the test cluster.
package compat

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hubploy/hubploy/internal/chartrepo"
	"github.com/hubploy/hubploy/internal/clitest"
	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
	"github.com/hubploy/hubploy/pipeline/charts"
)

var (
	kube    *kubeenv.Cluster
	hubploy string // the built binary
)

func TestMain(m *testing.M) {
	clitest.Main(m, func(c *kubeenv.Cluster, bin string) { kube, hubploy = c, bin })
}

// newEnv is a copy of the DataHub-shaped repository, its chart repository served with
// several z2jh versions (the one its requirements.yaml names among them), and the
// example's age key, which its secrets are encrypted for.
func newEnv(t *testing.T) *clitest.Env {
	t.Helper()
	e := clitest.New(t, kube, hubploy)
	e.Repo = t.TempDir()
	if err := os.CopyFS(e.Repo, os.DirFS(example.DataHubShaped())); err != nil {
		t.Fatal(err)
	}
	var versions []string
	charts := t.TempDir()
	for _, v := range []string{"3.3.7", "3.3.8", "4.3.3"} {
		dir, err := example.StandInAt(charts, v)
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, dir)
	}
	repo := chartrepo.Serve(t, versions...)
	e.Vars = append(e.Vars, chartMirror(example.DataHubChartRepository, repo.URL), "XDG_CACHE_HOME="+t.TempDir())
	return e
}

func chartMirror(from, to string) string { return charts.MirrorsEnv + "=" + from + "=" + to }

// files lists a folder's files with their contents.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// validate and render work on the repository as it is, lock file or not: the chart's
// dependency is resolved in memory as `helm dep up` would, once per run, and nothing
// is written into the repository.
func TestValidateAndRenderAsIs(t *testing.T) {
	e := newEnv(t)
	before := files(t, e.Repo)
	code, out, errOut := e.Run("validate")
	if code != 0 || !strings.Contains(out, "validated 6 hub environment(s): 6 ok, 0 failed") {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}
	notes := regexp.MustCompile(`(?m)^hubploy: hub/requirements.yaml: no requirements.lock pins .*: jupyterhub 3\.3\.8; run .hubploy lock hub.`).FindAllString(errOut, -1)
	if len(notes) != 1 {
		t.Errorf("want one note naming the version resolved and hubploy lock, got:\n%s", errOut)
	}
	for _, hub := range []string{"datahub", "data100", "stat20"} {
		for _, env := range []string{"staging", "prod"} {
			e.MustRun("render", hub, env)
		}
	}
	// The images 0.3's blocks name, with their content tags, are in the manifests.
	manifests := e.MustRun("render", "datahub", "staging")
	_, list, _ := e.Run("images", "list", "datahub", "data100", "--output", "json") // the registries are fictional: exit 1
	var rows struct {
		Images []struct{ Hub, Name, Tag string }
	}
	if err := json.Unmarshal([]byte(list), &rows); err != nil || len(rows.Images) != 3 {
		t.Fatalf("images list: %v\n%s", err, list)
	}
	for _, r := range rows.Images {
		if r.Hub == "datahub" && (!strings.Contains(manifests, r.Name) || !strings.Contains(manifests, r.Tag)) {
			t.Errorf("render datahub staging lacks %s:%s", r.Name, r.Tag)
		}
	}
	if diff := cmp.Diff(before, files(t, e.Repo)); diff != "" {
		t.Errorf("validate and render changed the repository (-before +after):\n%s", diff)
	}

	// CI that wants reproducible deploys makes the missing lock an error.
	code, out, errOut = e.Run("validate", "--strict")
	if code != 1 || !strings.Contains(out+errOut, "hub/") || !strings.Contains(out+errOut, "hubploy lock") {
		t.Errorf("validate --strict: exit %d\n%s%s", code, out, errOut)
	}
}

// DataHub's CI deploy line, `hubploy --verbose deploy --timeout 30m <hub> hub <env>`,
// deploys each hub to the test cluster. The registries are fictional and the
// kubeconfigs name fictional API servers: the test points at its cluster with
// --kubeconfig (the v1.2 hub's context template applies to it) and skips the image check.
func TestDataHubDeployLine(t *testing.T) {
	e := newEnv(t)
	for _, hub := range []string{"datahub", "data100", "stat20"} {
		t.Run(hub, func(t *testing.T) {
			ns := e.Namespace(hub)
			kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
			// stat20's context template is nautilus-{namespace}; the others use the current context.
			data := strings.ReplaceAll(string(kube.Kubeconfig()), "kubeenv", "nautilus-"+ns)
			if err := os.WriteFile(kubeconfig, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			line := []string{"--verbose", "deploy", "--timeout", "30m", hub, "hub", "staging", "--namespace", ns, "--kubeconfig", kubeconfig}
			if hub != "stat20" { // v1.2's form sets its image in config/, which hubploy does not check
				// Without the flag, the unreachable registry stops the deploy before the cluster.
				code, out, errOut := e.Run(line...)
				if code != 1 || !strings.Contains(errOut, "registry us-central1-docker.pkg.dev is unreachable") || !strings.Contains(errOut, "--skip-image-check") {
					t.Fatalf("with the image check: exit %d\n%s%s", code, out, errOut)
				}
				if code, _, _ := e.Run("status", hub, "staging", "--namespace", ns, "--kubeconfig", kubeconfig); code == 0 {
					t.Fatal("a release exists after the image check failed")
				}
			}
			code, out, errOut := e.Run(append(line, "--skip-image-check")...)
			if code != 0 || !regexp.MustCompile(hub+`\s+staging\s+deployed\s+1\s`).MatchString(out) {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			if hub == "stat20" && !strings.Contains(errOut, `context "nautilus-`+ns+`"`) {
				t.Errorf("--verbose does not say the templated context was used:\n%s", errOut)
			}
			status := e.MustRun("status", hub, "staging", "--namespace", ns, "--kubeconfig", kubeconfig)
			if !strings.Contains(status, "deployed, revision 1") || !strings.Contains(status, "Deployment/hub") {
				t.Errorf("status:\n%s", status)
			}
			clitest.AssertNoStackTrace(t, out+errOut)
		})
	}
}
