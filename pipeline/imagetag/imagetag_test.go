package imagetag

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func makeTree(t testing.TB, files map[string]string, order []string) string {
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

func tag(t testing.TB, dir string) string {
	t.Helper()
	got, err := ContentTag(dir, "image")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestContentTagStability(t *testing.T) {
	files := map[string]string{"Dockerfile": "FROM debian\n", "environment.yml": "deps: []\n", "sub/start": "#!/bin/sh\n", "a.b": "x", "a/b": "y"}
	a := makeTree(t, files, []string{"Dockerfile", "environment.yml", "sub/start", "a.b", "a/b"})
	b := makeTree(t, files, []string{"a/b", "sub/start", "a.b", "environment.yml", "Dockerfile"})
	base := tag(t, a)
	if len(base) < MinLength {
		t.Fatalf("tag %q too short", base)
	}
	if got := tag(t, b); got != base {
		t.Errorf("file order changed the tag: %s vs %s", got, base)
	}
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(b, "Dockerfile"), old, old)
	os.Chtimes(filepath.Join(b, "sub"), old, old)
	if got := tag(t, b); got != base {
		t.Errorf("mtime changed the tag")
	}
	os.Chmod(filepath.Join(b, "environment.yml"), 0o600)
	if got := tag(t, b); got != base {
		t.Errorf("a permission bit other than x changed the tag")
	}
	os.Mkdir(filepath.Join(b, "empty"), 0o755)
	if got := tag(t, b); got != base {
		t.Errorf("an empty folder, which git does not keep, changed the tag")
	}
	os.Chmod(filepath.Join(b, "sub/start"), 0o755)
	exec := tag(t, b)
	if exec == base {
		t.Errorf("executable bit did not change the tag")
	}
	os.Symlink("sub/start", filepath.Join(b, "link"))
	linked := tag(t, b)
	if linked == exec {
		t.Errorf("a symlink did not change the tag")
	}
	os.Remove(filepath.Join(b, "link"))
	os.Symlink("Dockerfile", filepath.Join(b, "link"))
	if got := tag(t, b); got == linked {
		t.Errorf("a symlink's target did not change the tag")
	}
	os.WriteFile(filepath.Join(a, "Dockerfile"), []byte("FROM debiaN\n"), 0o644)
	if got := tag(t, a); got == base {
		t.Errorf("one changed byte kept the tag")
	}
	os.Rename(filepath.Join(a, "a.b"), filepath.Join(a, "a.c"))
	if got := tag(t, a); got == base {
		t.Errorf("a renamed file kept the tag")
	}
}

// A symlink to the image folder is followed: its files count, not the link.
func TestContentTagFolderSymlink(t *testing.T) {
	dir := makeTree(t, map[string]string{"Dockerfile": "FROM x\n"}, []string{"Dockerfile"})
	link := filepath.Join(t.TempDir(), "image")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if tag(t, link) != tag(t, dir) {
		t.Error("a symlinked image folder has another tag")
	}
}

func TestWithLetter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		min  int
		want string
	}{
		{"0123456789abcdef", MinLength, "0123456789ab"},
		{"1234567890123a45f", MinLength, "1234567890123a"},
		{"abc", MinLength, "abc"},
		{"123", MinLength, "123"},
		{"3f2a9c1b4d5e", GitMinLength, "3f2a9c1"},
		{"12345678a", GitMinLength, "12345678a"},
	} {
		if got := withLetter(tc.in, tc.min); got != tc.want {
			t.Errorf("withLetter(%q, %d) = %q, want %q", tc.in, tc.min, got, tc.want)
		}
	}
}

func TestMissingFolder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	for _, dir := range []string{filepath.Join(t.TempDir(), "nope"), file} {
		for name, f := range map[string]func(string, string) (string, error){"content": ContentTag, "git-commit": CommitTag} {
			_, err := f(dir, "deployments/x/image")
			if err == nil || err.Error() != "deployments/x/image: image folder does not exist (create it, or fix the image's path in hubploy.yaml)" {
				t.Errorf("%s, %s: got %v", name, dir, err)
			}
		}
	}
}

func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	dir := makeTree(t, map[string]string{"secret": "x"}, []string{"secret"})
	os.Chmod(filepath.Join(dir, "secret"), 0)
	if _, err := ContentTag(dir, "d/image"); err == nil {
		t.Fatal("no error for an unreadable file")
	}
}

// BenchmarkContentTag10k is the tag of a 10,000-file folder (goal: under 200 ms).
func BenchmarkContentTag10k(b *testing.B) {
	dir := b.TempDir()
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 8<<10)
	for i := range 10_000 {
		p := filepath.Join(dir, fmt.Sprintf("d%02d/s%d/f%05d.py", i%100, i%7, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		rng.Read(buf)
		if err := os.WriteFile(p, buf[:512+i%(len(buf)-512)], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	benchTag(b, dir)
}

// BenchmarkContentTag1GB is the tag of a 1 GB folder: 64 files of 16 MB. It is only
// made when benchmarks run, never by `go test` alone.
func BenchmarkContentTag1GB(b *testing.B) {
	dir := b.TempDir()
	rng := rand.NewChaCha8([32]byte{2})
	buf := make([]byte, 16<<20)
	for i := range 64 {
		rng.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("layer%02d.bin", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	benchTag(b, dir)
}

func benchTag(b *testing.B, dir string) {
	first := tag(b, dir) // also warms the page cache, as a fresh CI checkout would be
	for b.Loop() {
		if got := tag(b, dir); got != first {
			b.Fatalf("tag changed: %s, %s", first, got)
		}
	}
}
