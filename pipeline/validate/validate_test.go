package validate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/validate"
)

func exampleKey(t *testing.T) string {
	t.Helper()
	key, err := os.ReadFile(example.AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	return string(key)
}

func start(t *testing.T, root string, v validate.Check) ([]validate.Result, error) {
	t.Helper()
	r, err := repo.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	v.Repo = r
	v.Release = release.Options{
		Decrypter: &secrets.Decrypter{AgeIdentities: []string{exampleKey(t)}},
		Charts:    &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{example.Z2JHRepository: example.MirrorFolder()}},
	}
	return v.Run(context.Background())
}

func run(t *testing.T, root string, v validate.Check) []validate.Result {
	t.Helper()
	res, err := start(t, root, v)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// kubeconfig reaches a cluster by the contexts given; the first is the current one.
func kubeconfig(contexts ...string) string {
	kc := "apiVersion: v1\nkind: Config\ncurrent-context: " + contexts[0] + "\nclusters:\n- name: c\n  cluster: {server: \"https://kube.example.org:6443\"}\n" +
		"users:\n- name: u\n  user: {token: kube-s3cr3t-token}\ncontexts:\n"
	for _, c := range contexts {
		kc += "- name: " + c + "\n  context: {cluster: c, user: u}\n"
	}
	return kc
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeEncrypted(t *testing.T, path, plain, recipient string) {
	t.Helper()
	writeFile(t, path, sopstest.MustEncrypt(t, path, []byte(plain), recipient))
}

// exampleWithKubeconfigs is a copy of hubs-example with the sops-encrypted kubeconfigs
// its hubploy.yaml files name, which the example does not ship: datahub's uses its
// current context, stat20's has the contexts of its template.
func exampleWithKubeconfigs(t *testing.T) string {
	t.Helper()
	root := example.Copy(t)
	writeEncrypted(t, filepath.Join(root, "deployments/datahub/secrets/kubeconfig.yaml"), kubeconfig("datahub"), example.Recipient(t))
	writeEncrypted(t, filepath.Join(root, "deployments/stat20/secrets/kubeconfig.yaml"),
		kubeconfig("stat20-stat20-prod", "stat20-stat20-staging"), example.Recipient(t))
	return root
}

func TestExampleIsValid(t *testing.T) {
	var progress int
	res := run(t, exampleWithKubeconfigs(t), validate.Check{Progress: func(validate.Result) { progress++ }})
	if len(res) != 4 || progress != 4 {
		t.Fatalf("%d results, %d progress calls", len(res), progress)
	}
	for _, r := range res {
		if !r.OK() || len(r.Warnings) > 0 {
			t.Errorf("%s/%s: problems %q, warnings %q", r.Hub, r.Env, r.Problems, r.Warnings)
		}
	}
}

// A chart that no lock pins is valid (its dependencies are resolved), but not with
// Strict, which CI uses to keep deploys reproducible: there it is a problem of every
// hub and environment, and the other checks still run.
func TestStrictWantsALock(t *testing.T) {
	root := exampleWithKubeconfigs(t)
	if err := os.Remove(filepath.Join(root, "hub", "Chart.lock")); err != nil {
		t.Fatal(err)
	}
	for _, r := range run(t, root, validate.Check{Env: "prod"}) {
		if !r.OK() {
			t.Errorf("%s/%s without --strict: %q", r.Hub, r.Env, r.Problems)
		}
	}
	writeFile(t, filepath.Join(root, "deployments/stat20/config/prod.yaml"), []byte("jupyterhub: {hub: {nope: 1}}\n"))
	res := run(t, root, validate.Check{Env: "prod", Strict: true})
	const want = "hub/Chart.yaml: has dependencies that no Chart.lock pins (run `hubploy lock hub` and commit hub/Chart.lock)"
	for _, r := range res {
		if !slices.Contains(r.Problems, want) {
			t.Errorf("%s/%s: %q", r.Hub, r.Env, r.Problems)
		}
		if r.Hub == "stat20" && len(r.Problems) < 2 {
			t.Errorf("stat20's schema problem went unreported: %q", r.Problems)
		}
	}
}

// Each check of a hub × environment runs and reports, whatever the others found.
func TestFindings(t *testing.T) {
	const datahubHubploy = "deployments/datahub/hubploy.yaml"
	for _, tc := range []struct {
		name     string
		change   func(t *testing.T, root string)
		hub, env string
		problems []string // each a prefix of one problem, in order
		warnings []string // the same for warnings
	}{
		{
			name: "every problem of one environment",
			change: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "deployments/datahub/config/common.yaml"), []byte("jupyterhub: [\n"))
				writeEncrypted(t, filepath.Join(root, "deployments/datahub/secrets/prod.yaml"), "a: b\n", sopstest.NewKey(t).Recipient)
				os.Remove(filepath.Join(root, "deployments/datahub/image/Dockerfile"))
			},
			hub: "datahub", env: "prod",
			problems: []string{
				datahubHubploy + `: key "images.images[0].path": image registry.example.org/datahub/user-image is built from deployments/datahub/image, which has no Dockerfile`,
				"deployments/datahub/config/common.yaml:",
				"deployments/datahub/secrets/prod.yaml: no available key can decrypt it",
			},
		},
		{
			name: "missing kubeconfig file",
			change: func(t *testing.T, root string) {
				os.Remove(filepath.Join(root, "deployments/datahub/secrets/kubeconfig.yaml"))
			},
			hub: "datahub", env: "staging",
			problems: []string{`deployments/datahub/secrets/kubeconfig.yaml: cannot read: it does not exist (key "cluster.kubeconfig.filename" in deployments/datahub/hubploy.yaml names it;`},
		},
		{
			name: "kubeconfig nobody can decrypt",
			change: func(t *testing.T, root string) {
				writeEncrypted(t, filepath.Join(root, "deployments/datahub/secrets/kubeconfig.yaml"), kubeconfig("datahub"), sopstest.NewKey(t).Recipient)
			},
			hub: "datahub", env: "staging",
			problems: []string{"deployments/datahub/secrets/kubeconfig.yaml: no available key can decrypt it"},
		},
		{
			name: "kubeconfig without the context of the template",
			change: func(t *testing.T, root string) {
				writeEncrypted(t, filepath.Join(root, "deployments/stat20/secrets/kubeconfig.yaml"), kubeconfig("stat20-stat20-staging"), example.Recipient(t))
			},
			hub: "stat20", env: "prod",
			problems: []string{`deployments/stat20/secrets/kubeconfig.yaml: has no context "stat20-stat20-prod" (it has: stat20-stat20-staging; fix key "cluster.kubeconfig.context" in deployments/stat20/hubploy.yaml, or pass --kube-context)`},
		},
		{
			name: "cloud provider without its service key",
			change: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "deployments/stat20/hubploy.yaml"), []byte("cluster:\n  provider: gcloud\n  gcloud: {project: p, cluster: c, zone: z, service_key: gke-key.json}\n"))
			},
			hub: "stat20", env: "prod",
			problems: []string{`deployments/stat20/secrets/gke-key.json: cannot read: it does not exist (key "cluster.gcloud.service_key" in deployments/stat20/hubploy.yaml names it`},
		},
		{
			name: "no cluster block",
			change: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "deployments/stat20/hubploy.yaml"), []byte("# no cluster: deployed with --kubeconfig\n"))
				// Nor a kubeconfig or service account around it, whatever the machine has.
				t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "absent"))
				t.Setenv("KUBERNETES_SERVICE_HOST", "")
			},
			hub: "stat20", env: "prod",
			warnings: []string{`deployments/stat20/hubploy.yaml: key "cluster": is missing, and neither $KUBECONFIG (`},
		},
		{
			name: "no cluster block, KUBECONFIG set",
			change: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "deployments/stat20/hubploy.yaml"), []byte("# no cluster: KUBECONFIG says where\n"))
				kc := filepath.Join(t.TempDir(), "kubeconfig")
				writeFile(t, kc, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: https://k.example.org}}]\n"+
					"users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"))
				t.Setenv("KUBECONFIG", kc)
			},
			hub: "stat20", env: "prod",
		},
		{
			name: "image folder without Dockerfile",
			change: func(t *testing.T, root string) {
				os.Remove(filepath.Join(root, "deployments/datahub/image/Dockerfile"))
			},
			hub: "datahub", env: "staging",
			problems: []string{datahubHubploy + `: key "images.images[0].path": image registry.example.org/datahub/user-image is built from deployments/datahub/image, ` +
				"which has no Dockerfile: hubploy builds images from Dockerfiles only (write one; `repo2docker --no-build --debug deployments/datahub/image` " +
				"prints the Dockerfile repo2docker would use; or put a prebuilt image's tag in its name)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := exampleWithKubeconfigs(t)
			tc.change(t, root)
			res := run(t, root, validate.Check{Hubs: []string{tc.hub}, Env: tc.env})
			if len(res) != 1 {
				t.Fatalf("got %+v", res)
			}
			matchPrefixes(t, "problems", res[0].Problems, tc.problems)
			matchPrefixes(t, "warnings", res[0].Warnings, tc.warnings)
			if res[0].OK() != (len(tc.problems) == 0) {
				t.Errorf("OK() = %v", res[0].OK())
			}
			if all := strings.Join(append(res[0].Problems, res[0].Warnings...), "\n"); strings.Contains(all, "kube-s3cr3t") {
				t.Error("a finding quotes the kubeconfig's token")
			}
		})
	}
}

func matchPrefixes(t *testing.T, what string, got, want []string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i]) && !strings.Contains(got[i], "\n")
	}
	if !ok {
		t.Errorf("%s:\n got  %q\n want prefixes %q", what, got, want)
	}
}

// A secret value quoted in lint and render errors is masked.
func TestProblemsAreMasked(t *testing.T) {
	root := exampleWithKubeconfigs(t)
	path := filepath.Join(root, "deployments/stat20/secrets/prod.yaml")
	plain, _, err := (&secrets.Decrypter{AgeIdentities: []string{exampleKey(t)}}).ReadFile(path, "prod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeEncrypted(t, path, string(plain)+"leakme: sup3r-s3cret-value\n", example.Recipient(t))
	writeFile(t, filepath.Join(root, "hub/templates/leak.yaml"), []byte("{{ include .Values.leakme . }}\n"))
	res := run(t, root, validate.Check{Hubs: []string{"stat20"}, Env: "prod"})
	all := strings.Join(res[0].Problems, "\n")
	if len(res[0].Problems) != 2 || strings.Contains(all, "sup3r-s3cret") || strings.Count(all, `no template <masked>`) != 2 {
		t.Errorf("want a masked lint and render problem, got:\n%s", all)
	}
}

func TestProblemsAreCollected(t *testing.T) {
	root := exampleWithKubeconfigs(t)
	f, _ := os.OpenFile(filepath.Join(root, "hub/templates/user-etc-jupyter.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("  broken: {{ .Values.etcJupyter | nosuchfunc }}\n")
	f.Close()
	res := run(t, root, validate.Check{Hubs: []string{"stat20"}, Env: "prod"})
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
	root := exampleWithKubeconfigs(t)
	hubploy := filepath.Join(root, "deployments/datahub/hubploy.yaml")
	data, _ := os.ReadFile(hubploy)
	os.WriteFile(hubploy, []byte(strings.Replace(string(data), "helm_substitution_path: jupyterhub.singleuser.image", "helm_substitution_path: jupyterhub.singleuser.imag", 1)), 0o644)
	res := run(t, root, validate.Check{Hubs: []string{"datahub"}})
	want := `deployments/datahub/hubploy.yaml: key "images.images[0].helm_substitution_path": "jupyterhub.singleuser.imag" is not a mapping in the values of the chart hub or its dependencies (did you mean "jupyterhub.singleuser.image"?)`
	if len(res) != 2 || res[0].OK() || res[0].Problems[0] != want || res[1].OK() {
		t.Fatalf("got %+v", res)
	}
	os.WriteFile(hubploy, data, 0o644)
	os.WriteFile(filepath.Join(root, "deployments/datahub/image-pins.yaml"), []byte("production:\n  registry.example.org/datahub/user-image: abc1234\n"), 0o644)
	res = run(t, root, validate.Check{Hubs: []string{"datahub"}, Env: "staging"})
	if len(res) != 1 || res[0].OK() || !strings.HasPrefix(res[0].Problems[0], `deployments/datahub/image-pins.yaml:1: key "production": hub "datahub" has no environment "production"`) {
		t.Fatalf("got %+v", res)
	}
}

// A name that is no hub is bad input, found before anything is checked; a hub whose
// hubploy.yaml is broken is a finding.
func TestHubNames(t *testing.T) {
	root := exampleWithKubeconfigs(t)
	progress := 0
	res, err := start(t, root, validate.Check{Hubs: []string{"datahub", "stat2O"}, Progress: func(validate.Result) { progress++ }})
	var ie *inputerr.Error
	if !errors.As(err, &ie) || res != nil || progress != 0 || !strings.HasPrefix(err.Error(), `hub "stat2O" not found`) || !strings.Contains(err.Error(), `did you mean "stat20"?`) {
		t.Fatalf("got %v, %d results, %d progress calls", err, len(res), progress)
	}
	writeFile(t, filepath.Join(root, "deployments/stat20/hubploy.yaml"), []byte("clustre: {}\n"))
	res = run(t, root, validate.Check{Hubs: []string{"stat20"}})
	if len(res) != 1 || res[0].Env != "" || len(res[0].Problems) != 1 || !strings.HasPrefix(res[0].Problems[0], "deployments/stat20/hubploy.yaml:1: ") {
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
