package imagetag

import (
	"path/filepath"
	"strings"
	"testing"
)

// ChangedIn agrees with `git diff --name-only R -- image` for every form of range.
func TestChangedIn(t *testing.T) {
	r := newGitRepo(t)
	c1 := r.commit("image", map[string]string{"image/Dockerfile": "FROM a\n", "config/x.yaml": "a: 1\n"})
	c2 := r.commit("config only", map[string]string{"config/x.yaml": "a: 2\n"})
	r.git("checkout", "-q", "-b", "feature")
	c3 := r.commit("image changes on a branch", map[string]string{"image/Dockerfile": "FROM b\n"})
	r.git("checkout", "-q", "main")
	c4 := r.commit("config on main", map[string]string{"config/x.yaml": "a: 3\n"})
	r.git("checkout", "-q", "feature")
	image := filepath.Join(r.dir, "image")
	for _, rng := range []string{
		c1 + ".." + c2, c2 + ".." + c3, c1 + ".." + c3, c3 + ".." + c4, c4 + ".." + c3,
		c4 + "..." + c3, c3 + "..." + c4, "main...feature", "main..feature", c2, c3, c1 + "..", "main...",
	} {
		want := r.git("diff", "--name-only", rng, "--", "image") != ""
		got, err := ChangedIn(image, "image", rng)
		if err != nil || got != want {
			t.Errorf("%s: ChangedIn = %v, %v; git diff says %v", rng, got, err, want)
		}
	}
	for _, tc := range []struct{ rng, want string }{
		{"nope..HEAD", `key "--commit-range": "nope..HEAD": nope: reference not found`},
		{"..HEAD", "names no first commit"},
	} {
		if _, err := ChangedIn(image, "image", tc.rng); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.rng, err, tc.want)
		}
	}
	if _, err := ChangedIn(t.TempDir(), "elsewhere", "HEAD~1..HEAD"); err == nil || !strings.Contains(err.Error(), "elsewhere: is not in a git repository, which --commit-range needs") {
		t.Errorf("outside git: %v", err)
	}
}
