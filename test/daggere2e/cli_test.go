package daggere2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hubploy/hubploy/internal/clitest"
)

// hubploy builds the CLI once per test.
func hubploy(t *testing.T) func(env []string, args ...string) result {
	t.Helper()
	bin, err := clitest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return func(env []string, args ...string) result {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		t.Logf("hubploy %s: err=%v", strings.Join(args, " "), err)
		return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
	}
}

// hubploy build and publish do the module's graph through dagger.Connect, and say in
// one line when no engine is reachable.
func TestCLIBuildAndPublish(t *testing.T) {
	setup(t)
	run := hubploy(t)
	// A repository of its own, whose image folder differs from the module tests': a
	// tag of its own that the registry does not have yet.
	repoDir := t.TempDir()
	if err := os.CopyFS(repoDir, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	dockerfile := filepath.Join(repoDir, "deployments", "datahub", "image", "Dockerfile")
	if err := os.WriteFile(dockerfile, []byte(testDockerfile+"# built by the CLI test\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	built := run(nil, "--repo", repoDir, "build", "datahub")
	// stdout is the data: the reference built, one a line.
	if built.err != nil || !regexp.MustCompile(`^`+regexp.QuoteMeta(registryImage)+`:[0-9a-z]+\n$`).MatchString(built.stdout) {
		t.Fatalf("hubploy build: %v\n%s\n%s", built.err, built.stdout, tail(built.stderr, 30))
	}
	// --target picks a stage; --secret hands a build secret over, read in memory.
	withSecret := run([]string{"HUBPLOY_E2E_TOKEN=t0ken"}, "--repo", repoDir, "build", "datahub", "--target", "with-secret", "--secret", "build-token=env:HUBPLOY_E2E_TOKEN")
	if withSecret.err != nil {
		t.Fatalf("hubploy build --target --secret: %v\n%s", withSecret.err, tail(withSecret.stderr, 30))
	}
	noSecret := run(nil, "--repo", repoDir, "build", "datahub", "--target", "with-secret")
	if noSecret.err == nil {
		t.Fatal("the with-secret stage built without its secret: --target was not applied")
	}
	if strings.Contains(withSecret.stdout+withSecret.stderr, "t0ken") {
		t.Error("the build secret's value was printed")
	}
	first := run(nil, "--repo", repoDir, "publish", "datahub")
	m := regexp.MustCompile(regexp.QuoteMeta(registryImage) + `:([a-z0-9]+)@sha256:[0-9a-f]{64}`).FindStringSubmatch(first.stdout)
	if first.err != nil || m == nil {
		t.Fatalf("hubploy publish: %v\n%s\n%s", first.err, first.stdout, tail(first.stderr, 30))
	}
	ref, _ := name.ParseReference(registryImage + ":" + m[1])
	if _, err := remote.Head(ref); err != nil {
		t.Fatalf("%s is not in the registry after hubploy publish: %v", ref, err)
	}
	second := run(nil, "--repo", repoDir, "publish", "datahub")
	if second.err != nil || strings.TrimSpace(second.stdout) != ref.String() || !strings.Contains(second.stderr, "is already in the registry") {
		t.Fatalf("a second hubploy publish did not skip: %v\n%s\n%s", second.err, second.stdout, second.stderr)
	}

	// hubploy 0.3's command lines: a tag the registry has is not built again, and
	// neither is a folder that did not change in the commit range.
	again := run(nil, "--repo", repoDir, "build", "datahub", "--check-registry", "--push")
	if again.err != nil || strings.TrimSpace(again.stdout) != ref.String() || !strings.Contains(again.stderr, "is already in the registry") || strings.Contains(again.stderr, "building and pushing") {
		t.Fatalf("build --check-registry --push of a pushed tag: %v\n%s\n%s", again.err, again.stdout, tail(again.stderr, 20))
	}
	git := func(args ...string) {
		t.Helper()
		c := exec.Command("git", args...)
		c.Dir = repoDir
		c.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-qm", "repo")
	os.WriteFile(filepath.Join(repoDir, "deployments/datahub/config/common.yaml"), []byte("jupyterhub: {}\n"), 0o644)
	git("commit", "-qam", "config only")
	unchanged := run(nil, "--repo", repoDir, "build", "datahub", "--commit-range", "HEAD~1..HEAD")
	if unchanged.err != nil || !strings.Contains(unchanged.stderr, "did not change in HEAD~1..HEAD: not building") || strings.Contains(unchanged.stderr, "Engine") {
		t.Fatalf("build --commit-range of an unchanged folder: %v\n%s", unchanged.err, tail(unchanged.stderr, 20))
	}
	os.WriteFile(dockerfile, []byte(testDockerfile+"# changed in the range\n"), 0o644)
	git("commit", "-qam", "image")
	changed := run(nil, "--repo", repoDir, "build", "datahub", "--commit-range", "HEAD~1..HEAD", "--no-cache")
	if changed.err != nil || !strings.Contains(changed.stderr, "building "+registryImage) || strings.TrimSpace(changed.stdout) == ref.String() {
		t.Fatalf("build --commit-range of a changed folder: %v\n%s\n%s", changed.err, changed.stdout, tail(changed.stderr, 20))
	}

	noEngine := run([]string{"_EXPERIMENTAL_DAGGER_RUNNER_HOST=unix:///nonexistent/engine.sock"}, "--repo", repoDir, "build", "datahub")
	// Progress lines may come first; the error is one line, the last.
	lines := strings.Split(strings.TrimSpace(noEngine.stderr), "\n")
	last := lines[len(lines)-1]
	if noEngine.err == nil || strings.Count(noEngine.stderr, "error:") != 1 || !strings.Contains(last, "no Dagger engine reachable at unix:///nonexistent/engine.sock") {
		t.Fatalf("without an engine: %v\n%s", noEngine.err, noEngine.stderr)
	}
}
