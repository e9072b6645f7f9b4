package daggere2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"gopkg.in/yaml.v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/imagetag"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// secretValues are the cleartext values of an encrypted file of the fixture, the ones
// long enough to be masked (4 characters or more).
func secretValues(t *testing.T, file string) []string {
	t.Helper()
	key, err := os.ReadFile(example.AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	dec := &secrets.Decrypter{AgeIdentities: []string{string(key)}}
	data, encrypted, err := dec.ReadFile(filepath.Join(fixture, file), file)
	if err != nil || !encrypted {
		t.Fatalf("%s: encrypted=%v err=%v", file, encrypted, err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		case string:
			if len(v) >= 4 {
				out = append(out, v)
			}
		}
	}
	walk(doc)
	if len(out) == 0 {
		t.Fatalf("%s holds no secret value to look for", file)
	}
	return out
}

func assertNoSecrets(t *testing.T, what, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows the secret value %q", what, s)
		}
	}
}

func assertNoStackTrace(t *testing.T, r result) {
	t.Helper()
	for _, s := range []string{"goroutine ", "panic:", ".go:"} {
		if strings.Contains(r.output(), s) {
			t.Errorf("output has %q (a stack trace?):\n%s", s, tail(r.output(), 30))
		}
	}
}

// The core's checks, through Dagger; and the latency of a first and a repeated call.
func TestValidate(t *testing.T) {
	setup(t)
	t.Parallel()
	first := mustCall(t, "validate")
	if !strings.Contains(first.stdout, "validated 4 hub environment(s): 4 ok, 0 failed") {
		t.Fatalf("validate:\n%s", first.stdout)
	}
	again := mustCall(t, "validate", "--hub=datahub", "--env=prod")
	if !strings.Contains(again.stdout, "validated 1 hub environment(s): 1 ok") {
		t.Fatalf("validate datahub prod:\n%s", again.stdout)
	}
	t.Logf("timing: first validate %.1fs, next %.1fs", first.took.Seconds(), again.took.Seconds())
}

// render returns a Directory of manifests, one file per template, secrets masked.
func TestRender(t *testing.T) {
	setup(t)
	t.Parallel()
	out := t.TempDir()
	mustCall(t, "render", "--hub=datahub", "--env=staging", "export", "--path="+out)
	text, files := readTree(t, out)
	if files < 2 || !strings.Contains(text, "kind: Deployment") || !strings.Contains(text, "<masked>") {
		t.Fatalf("render exported %d file(s):\n%s", files, text)
	}
	assertNoSecrets(t, "render", text, secretValues(t, "deployments/datahub/secrets/staging.yaml"))
}

// decrypt returns a Secret: its cleartext shows up in no output.
func TestDecrypt(t *testing.T) {
	setup(t)
	t.Parallel()
	const file = "deployments/datahub/secrets/staging.yaml"
	values := secretValues(t, file)
	r := mustCall(t, "decrypt", "--file="+file)
	if !strings.HasPrefix(strings.TrimSpace(r.stdout), "Secret@") {
		t.Errorf("decrypt printed %q, want a Secret", r.stdout)
	}
	assertNoSecrets(t, "decrypt", r.output(), values)
	// A Secret has a name; a string or a File would not.
	named := mustCall(t, "decrypt", "--file="+file, "name")
	if !strings.HasPrefix(strings.TrimSpace(named.stdout), "hubploy-decrypt-") {
		t.Errorf("decrypt … name printed %q", named.stdout)
	}
	assertNoSecrets(t, "decrypt … name", named.output(), values)
}

var pushedRef = regexp.MustCompile(regexp.QuoteMeta(registryImage) + `:([a-z0-9]+)@sha256:[0-9a-f]{64}`)

// build gives the hub's image as a Container; publish pushes it once, then skips.
func TestBuildAndPublish(t *testing.T) {
	setup(t)
	built := mustCall(t, "build", "--hub=datahub", "with-exec", "--args=cat,/etc/hubploy-e2e", "stdout")
	if !strings.Contains(built.stdout, "built by hubploy's e2e test") {
		t.Fatalf("the built image lacks the file its Dockerfile writes:\n%s", built.stdout)
	}
	// A Dockerfile stage (target) that mounts a build secret given by with-build-secret.
	t.Setenv("HUBPLOY_E2E_TOKEN", "t0ken-for-the-build")
	staged := mustCall(t, "with-build-secret", "--id=build-token", "--value=env:HUBPLOY_E2E_TOKEN",
		"build", "--hub=datahub", "--target=with-secret", "with-exec", "--args=cat,/etc/hubploy-secret", "stdout")
	if !strings.Contains(staged.stdout, "had the build secret") || strings.Contains(staged.stdout+staged.stderr, "t0ken-for-the-build") {
		t.Fatalf("build --target=with-secret with a build secret:\n%s", staged.stdout)
	}
	if r := call(t, "build", "--hub=datahub", "--target=with-secret", "sync"); r.err == nil {
		t.Fatal("the with-secret stage built without its secret: the target or the secret was ignored")
	}
	first := mustCall(t, "publish", "--hub=datahub", "--registry=tcp://localhost:5000")
	m := pushedRef.FindStringSubmatch(first.stdout)
	if m == nil {
		t.Fatalf("publish printed %q, want %s:TAG@sha256:…", first.stdout, registryImage)
	}
	ref, err := name.ParseReference(registryImage + ":" + m[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(ref); err != nil {
		t.Fatalf("%s is not in the registry after publish: %v", ref, err)
	}
	second := mustCall(t, "publish", "--hub=datahub", "--registry=tcp://localhost:5000")
	if strings.TrimSpace(second.stdout) != ref.String() || !strings.Contains(second.stderr, "is already in the registry") {
		t.Fatalf("a second publish did not skip: stdout %q\n%s", second.stdout, tail(second.stderr, 20))
	}
	if strings.Contains(second.stderr, "building and pushing") {
		t.Errorf("the second publish pushed again")
	}
}

// deploy reaches the cluster, which listens on the host's loopback only, through a
// host-service tunnel; a diff afterwards shows no change.
func TestDeployThenDiff(t *testing.T) {
	setup(t)
	t.Parallel()
	ns := kube.NewNamespace(t)
	access := tunnelKubeconfig(t)
	args := append([]string{"deploy", "--env=staging", "--hub=datahub", "--skip-image-check", "--namespace=" + ns, "--timeout=120s"}, access...)
	r := mustCall(t, args...)
	if !regexp.MustCompile(`datahub\s+staging\s+deployed\s+1\s`).MatchString(r.stdout) {
		t.Fatalf("deploy summary:\n%s", r.stdout)
	}
	if _, err := kube.Client().CoreV1().Secrets(ns).Get(context.Background(), "sh.helm.release.v1.datahub-staging.v1", metav1.GetOptions{}); err != nil {
		t.Fatalf("no helm release in the cluster after deploy: %v", err)
	}
	diff := mustCall(t, append([]string{"diff", "--hub=datahub", "--env=staging", "--namespace=" + ns}, access...)...)
	if !strings.Contains(diff.stdout, "datahub-staging: 0 object(s) would change (live revision 1)") {
		t.Fatalf("diff after deploy:\n%s", diff.stdout)
	}
	again := mustCall(t, args...)
	if !regexp.MustCompile(`datahub\s+staging\s+unchanged\s+1\s`).MatchString(again.stdout) {
		t.Fatalf("a second deploy changed something:\n%s", again.stdout)
	}
}

// Bad input gives the CLI's one-line errors, not a stack trace.
func TestBadInput(t *testing.T) {
	setup(t)
	t.Parallel()
	r, err := repo.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("missing hub", func(t *testing.T) {
		_, want := r.Hub("nope")
		res := call(t, "validate", "--hub=nope")
		if res.err == nil || want == nil || !strings.Contains(res.output(), want.Error()) {
			t.Fatalf("want %q, got:\n%s", want, tail(res.output(), 20))
		}
		assertNoStackTrace(t, res)
	})

	t.Run("wrong key", func(t *testing.T) {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		keyFile := filepath.Join(t.TempDir(), "other-key.txt")
		if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		h, _ := r.Hub("datahub")
		_, want := release.Prepare(context.Background(), h, "staging", release.Options{
			Decrypter: &secrets.Decrypter{AgeIdentities: []string{id.String()}},
			Charts:    &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{example.Z2JHRepository: filepath.Join(fixture, "offline-charts")}},
		})
		if want == nil {
			t.Fatal("the pipeline decrypted with a wrong key")
		}
		res := callModule(t, ".", "--repo="+fixture, "--age-key=file:"+keyFile,
			"--chart-mirror="+example.Z2JHRepository+"=offline-charts", "render", "--hub=datahub", "--env=staging", "entries")
		msg := strings.ReplaceAll(want.Error(), fixture+"/", "")
		if res.err == nil || !strings.Contains(res.output(), firstLine(msg)) {
			t.Fatalf("want %q, got:\n%s", msg, tail(res.output(), 20))
		}
		assertNoStackTrace(t, res)
	})

	t.Run("unreachable cluster", func(t *testing.T) {
		kc, err := kube.KubeconfigFor("https://127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "kubeconfig")
		os.WriteFile(path, kc, 0o600)
		res := call(t, "deploy", "--env=staging", "--hub=datahub", "--skip-image-check", "--kubeconfig=file:"+path, "--timeout=20s")
		if res.err == nil || !strings.Contains(res.output(), "cannot reach the cluster at https://127.0.0.1:1") {
			t.Fatalf("got:\n%s", tail(res.output(), 20))
		}
		assertNoStackTrace(t, res)
	})
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// Another module installs hubploy's and chains dag.Hubploy(…): the example under
// dagger/examples/deployer.
func TestComposedExample(t *testing.T) {
	setup(t)
	t.Parallel()
	res := callModule(t, "dagger/examples/deployer", "preview",
		"--repo="+fixture, "--age-key=file:"+example.AgeKeyFile(), "--hub=stat20", "--env=prod",
		"--chart-mirror="+example.Z2JHRepository+"=offline-charts")
	if res.err != nil {
		t.Fatalf("the example module failed: %v\n%s", res.err, tail(res.stderr, 40))
	}
	for _, want := range []string{"validated 4 hub environment(s): 4 ok, 0 failed", "stat20/prod renders", "file(s)"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("the example's output lacks %q:\n%s", want, res.stdout)
		}
	}

	// ship chains dag.Hubploy(…).Deploy(…), through the same tunnel.
	ns := kube.NewNamespace(t)
	args := append([]string{"ship", "--repo=" + fixture, "--age-key=file:" + example.AgeKeyFile(),
		"--chart-mirror=" + example.Z2JHRepository + "=offline-charts", "--env=prod", "--hub=stat20", "--namespace=" + ns,
		"--kube-context=kubeenv"}, // stat20's context template names contexts the test kubeconfig lacks
		tunnelKubeconfig(t)...)
	shipped := callModule(t, "dagger/examples/deployer", args...)
	if shipped.err != nil || !regexp.MustCompile(`stat20\s+prod\s+deployed\s+1\s`).MatchString(shipped.stdout) {
		t.Fatalf("the example's ship: %v\n%s\n%s", shipped.err, shipped.stdout, tail(shipped.stderr, 40))
	}
}

// with-cluster sets the cluster once for the functions on live releases: status,
// history and rollback through the same application layer as the CLI's.
func TestLiveReleaseFunctions(t *testing.T) {
	setup(t)
	t.Parallel()
	ns := kube.NewNamespace(t)
	access := tunnelKubeconfig(t)
	withCluster := append([]string{"with-cluster", "--namespace=" + ns}, access...)
	mustCall(t, append(append([]string{}, withCluster...), "deploy", "--env=staging", "--hub=datahub", "--skip-image-check", "--timeout=120s")...)
	changed := append(append(repoArgs(), "--set=jupyterhub.cull.timeout=7200"), withCluster...)
	if r := callModule(t, ".", append(changed, "deploy", "--env=staging", "--hub=datahub", "--skip-image-check", "--timeout=120s")...); r.err != nil {
		t.Fatalf("second deploy: %v\n%s", r.err, tail(r.stderr, 30))
	}
	rb := mustCall(t, append(append([]string{}, withCluster...), "rollback", "--hub=datahub", "--env=staging", "--revision=1")...)
	if !strings.Contains(rb.stdout, "rolled back datahub-staging: now at revision 3") {
		t.Fatalf("rollback:\n%s", rb.stdout)
	}
	hist := mustCall(t, append(append([]string{}, withCluster...), "history", "--hub=datahub", "--env=staging")...)
	for _, want := range []string{`(?m)^1\s+\S+\s+superseded`, `(?m)^2\s+\S+\s+superseded`, `(?m)^3\s+\S+\s+deployed.*Rollback to 1`} {
		if !regexp.MustCompile(want).MatchString(hist.stdout) {
			t.Errorf("history lacks %s:\n%s", want, hist.stdout)
		}
	}
	st := mustCall(t, append(append([]string{}, withCluster...), "status", "--hub=datahub", "--env=staging")...)
	if !strings.Contains(st.stdout, "release datahub-staging in "+ns+": deployed, revision 3") || !strings.Contains(st.stdout, "Deployment/hub") {
		t.Errorf("status:\n%s", st.stdout)
	}
}

// deploy --all through the module: a hub that cannot be prepared (here: its context
// template names a context the kubeconfig lacks) fails alone; every hub has its row.
func TestDeployAllKeepsGoing(t *testing.T) {
	setup(t)
	for _, ns := range []string{"datahub-staging", "stat20-staging"} {
		t.Cleanup(func() { kube.Client().CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	}
	r := call(t, append([]string{"deploy", "--env=staging", "--all", "--skip-image-check", "--timeout=120s"}, tunnelKubeconfig(t)...)...)
	if r.err == nil {
		t.Fatalf("deploy --all succeeded with a hub that cannot reach its context:\n%s", r.stdout)
	}
	for _, want := range []string{`datahub\s+staging\s+deployed\s+1\s`, `stat20\s+staging\s+failed\s+-\s`, `1 of 2 deploy\(s\) failed: .*has no context "stat20-stat20-staging"`} {
		if !regexp.MustCompile(want).MatchString(r.output()) {
			t.Errorf("output lacks %s:\n%s", want, tail(r.output(), 30))
		}
	}
	assertNoStackTrace(t, r)
}

// tag_strategy: git-commit through the module: the repository's .git, which the
// default path leaves out, comes in with --git-dir, and the tag is the folder's last
// commit.
func TestGitCommitTags(t *testing.T) {
	setup(t)
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "deployments/datahub/hubploy.yaml")
	data, _ := os.ReadFile(cfg)
	if !strings.Contains(string(data), "images:\n  images:\n") {
		t.Fatalf("%s changed shape: update the test", cfg)
	}
	os.WriteFile(cfg, []byte(strings.Replace(string(data), "images:\n  images:\n", "images:\n  tag_strategy: git-commit\n  images:\n", 1)), 0o644)
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-qm", "hubs"}} {
		c := exec.Command("git", args...)
		c.Dir = dir
		c.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	want, err := imagetag.CommitTag(filepath.Join(dir, "deployments/datahub/image"), "image")
	if err != nil {
		t.Fatal(err)
	}
	// The repository as the default path gives it: without its .git.
	bare := t.TempDir()
	if err := os.CopyFS(bare, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(bare, ".git"))
	flags := []string{"--repo=" + bare, "--age-key=file:" + example.AgeKeyFile(), "--chart-mirror=" + example.Z2JHRepository + "=offline-charts"}
	out := t.TempDir()
	r := callModule(t, ".", append(flags, "--git-dir="+filepath.Join(dir, ".git"), "render", "--hub=datahub", "--env=staging", "export", "--path="+out)...)
	if r.err != nil {
		t.Fatalf("render with --git-dir: %v\n%s", r.err, tail(r.stderr, 30))
	}
	if rendered, _ := readTree(t, out); !strings.Contains(rendered, want) {
		t.Errorf("the rendered manifests lack the git-commit tag %s", want)
	}
	without := callModule(t, ".", append(flags, "render", "--hub=datahub", "--env=staging", "entries")...)
	if without.err == nil || !strings.Contains(without.output(), "pass --git-dir=.git") {
		t.Errorf("without --git-dir: %v\n%s", without.err, tail(without.output(), 20))
	}
}
