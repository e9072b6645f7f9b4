package imagetag

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func makeTree(t *testing.T, files map[string]string, order []string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range order {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func tag(t *testing.T, dir string) string {
	t.Helper()
	got, err := ContentTag(dir, "image")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestContentTagStability(t *testing.T) {
	files := map[string]string{"Dockerfile": "FROM debian\n", "environment.yml": "deps: []\n", "sub/start": "#!/bin/sh\n"}
	a := makeTree(t, files, []string{"Dockerfile", "environment.yml", "sub/start"})
	b := makeTree(t, files, []string{"sub/start", "environment.yml", "Dockerfile"})
	base := tag(t, a)
	if len(base) < MinLength {
		t.Fatalf("tag %q too short", base)
	}
	if got := tag(t, b); got != base {
		t.Errorf("file order changed the tag: %s vs %s", got, base)
	}
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(b, "Dockerfile"), old, old)
	if got := tag(t, b); got != base {
		t.Errorf("mtime changed the tag")
	}
	os.Chmod(filepath.Join(b, "sub/start"), 0o755)
	exec := tag(t, b)
	if exec == base {
		t.Errorf("executable bit did not change the tag")
	}
	os.WriteFile(filepath.Join(a, "Dockerfile"), []byte("FROM debiaN\n"), 0o644)
	if got := tag(t, a); got == base {
		t.Errorf("one changed byte kept the tag")
	}
}

func TestWithLetter(t *testing.T) {
	for in, want := range map[string]string{
		"0123456789abcdef":  "0123456789ab",
		"1234567890123a45f": "1234567890123a",
		"abc":               "abc",
		"123":               "123",
	} {
		if got := withLetter(in, MinLength); got != want {
			t.Errorf("withLetter(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMissingFolder(t *testing.T) {
	_, err := ContentTag(filepath.Join(t.TempDir(), "nope"), "deployments/x/image")
	if err == nil || err.Error() != "deployments/x/image: image folder does not exist (create it, or fix the image's path in hubploy.yaml)" {
		t.Fatalf("got %v", err)
	}
}
