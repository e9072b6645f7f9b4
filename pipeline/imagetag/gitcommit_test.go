package imagetag

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo is a real git repository made with the git command, which is also the oracle
// for what `git log -n 1 -- image` says.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (path → content) and commits them.
func (r *gitRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// lastChange is git's own answer, cut as hubploy 0.3 cut it.
func (r *gitRepo) lastChange(path string) string {
	return withLetter(r.git("log", "-n", "1", "--format=%H", "--", path), GitMinLength)
}

func commitTag(t *testing.T, dir string) string {
	t.Helper()
	got, err := CommitTag(dir, "image")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCommitTagLinear(t *testing.T) {
	r := newGitRepo(t)
	c1 := r.commit("image", map[string]string{"deployments/hub/image/Dockerfile": "FROM a\n", "README": "1"})
	r.commit("other", map[string]string{"README": "2"})
	image := filepath.Join(r.dir, "deployments/hub/image")
	if got := commitTag(t, image); got != withLetter(c1, GitMinLength) || got != r.lastChange("deployments/hub/image") {
		t.Errorf("tag %s, want %s (c1)", got, c1)
	}
	c3 := r.commit("image again", map[string]string{"deployments/hub/image/env.yml": "x"})
	r.commit("other again", map[string]string{"deployments/hub/config.yaml": "y"})
	got := commitTag(t, image)
	if got != withLetter(c3, GitMinLength) || got != r.lastChange("deployments/hub/image") {
		t.Errorf("tag %s, want %s (c3)", got, c3)
	}
	if len(got) < GitMinLength || !strings.ContainsAny(got, "abcdef") {
		t.Errorf("tag %q breaks 0.3's rule", got)
	}
	// Uncommitted changes do not count, as in 0.3.
	os.WriteFile(filepath.Join(image, "Dockerfile"), []byte("FROM b\n"), 0o644)
	if again := commitTag(t, image); again != got {
		t.Errorf("an uncommitted change moved the tag to %s", again)
	}
	// From a subfolder of the repository root the answer is the same.
	if sub := commitTag(t, filepath.Join(r.dir, "deployments", "hub", "image", ".")); sub != got {
		t.Errorf("got %s", sub)
	}
}

// Through merges the walk follows history the way git log simplifies it for a path.
func TestCommitTagMerges(t *testing.T) {
	r := newGitRepo(t)
	r.commit("start", map[string]string{"image/Dockerfile": "FROM a\n", "other": "0"})
	r.git("checkout", "-q", "-b", "feature")
	r.commit("feature: image", map[string]string{"image/Dockerfile": "FROM b\n"})
	r.commit("feature: other", map[string]string{"other2": "x"})
	r.git("checkout", "-q", "main")
	r.commit("main: other", map[string]string{"other": "1"})
	r.git("merge", "-q", "--no-ff", "--no-edit", "feature")
	r.commit("main: other again", map[string]string{"other": "2"})
	want := r.lastChange("image")
	if got := commitTag(t, filepath.Join(r.dir, "image")); got != want {
		t.Errorf("after a merge: tag %s, git says %s", got, want)
	}
	// A merge that changes the folder against both sides is the last change itself.
	r.git("checkout", "-q", "-b", "side", "HEAD~1")
	r.commit("side: image", map[string]string{"image/extra": "s"})
	r.git("checkout", "-q", "main")
	r.commit("main: image", map[string]string{"image/Dockerfile": "FROM c\n"})
	r.git("merge", "-q", "--no-ff", "--no-edit", "side")
	want = r.lastChange("image")
	if want != withLetter(r.git("rev-parse", "HEAD"), GitMinLength) {
		t.Fatalf("the test's history is not as intended: git says %s", want)
	}
	if got := commitTag(t, filepath.Join(r.dir, "image")); got != want {
		t.Errorf("after an evil merge: tag %s, git says %s", got, want)
	}
}

// A shallow clone has the same content tag; the git-commit tag works while the last
// change is inside the fetched history and says why it cannot otherwise.
func TestShallowClone(t *testing.T) {
	r := newGitRepo(t)
	r.commit("c1", map[string]string{"image/Dockerfile": "FROM a\n", "image/bin/start": "#!/bin/sh\n"})
	os.Chmod(filepath.Join(r.dir, "image/bin/start"), 0o755)
	c2 := r.commit("c2", map[string]string{"image/Dockerfile": "FROM b\n"})
	r.commit("c3", map[string]string{"other": "x"})
	r.commit("c4", map[string]string{"other": "y"})
	clone := func(depth string) string {
		dst := filepath.Join(t.TempDir(), "clone")
		r.git("clone", "-q", "--depth", depth, "file://"+r.dir, dst)
		return filepath.Join(dst, "image")
	}
	shallow := clone("1")
	if got, want := tag(t, shallow), tag(t, filepath.Join(r.dir, "image")); got != want {
		t.Errorf("shallow clone: content tag %s, working copy %s", got, want)
	}
	if _, err := CommitTag(shallow, "image"); err == nil || !strings.Contains(err.Error(), "the git clone is shallow") {
		t.Errorf("git-commit tag in a depth-1 clone: %v", err)
	}
	if got := commitTag(t, clone("4")); got != withLetter(c2, GitMinLength) {
		t.Errorf("depth-4 clone: tag %s, want c2 %s", got, c2)
	}
}

func TestCommitTagErrors(t *testing.T) {
	plain := t.TempDir()
	if _, err := CommitTag(plain, "d/image"); err == nil || !strings.HasPrefix(err.Error(), "d/image: is not in a git repository, which tag_strategy git-commit needs") {
		t.Errorf("outside git: %v", err)
	}
	r := newGitRepo(t)
	os.MkdirAll(filepath.Join(r.dir, "image"), 0o755)
	if _, err := CommitTag(filepath.Join(r.dir, "image"), "d/image"); err == nil || !strings.HasPrefix(err.Error(), "d/image: the git repository has no commit") {
		t.Errorf("no commit: %v", err)
	}
	r.commit("other", map[string]string{"README": "x"})
	os.WriteFile(filepath.Join(r.dir, "image", "Dockerfile"), nil, 0o644)
	if _, err := CommitTag(filepath.Join(r.dir, "image"), "d/image"); err == nil || !strings.HasPrefix(err.Error(), "d/image: is not committed to git") {
		t.Errorf("uncommitted folder: %v", err)
	}
}
