package daggere2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// When the hubploy image cannot be pulled, the module builds hubploy from its source
// in the Go image and runs that. The source here is a stand-in hubploy whose
// module-call answers with the function's name (hubploy's own source would take
// minutes to compile in an empty engine; the image a release builds from it is what
// the other tests run), and the Go image is Debian with this machine's Go, pushed into
// the local registry as Docker Hub's golang image.
func TestBuildsFromSourceWhenTheImageCannotBePulled(t *testing.T) {
	setup(t)
	t.Parallel()
	if err := pushGoImage(context.Background()); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for file, content := range map[string]string{
		"go.mod": "module github.com/hubploy/hubploy\n\ngo 1.26\n",
		// A file the module's source filter leaves out: the build must not need it.
		"README.md": "not built\n",
		"cmd/hubploy/main.go": `package main

import (
	"encoding/json"
	"os"
)

// A stand-in hubploy: module-call answers with the function the module called.
func main() {
	var call struct{ Function string }
	if len(os.Args) != 2 || os.Args[1] != "module-call" || json.Unmarshal([]byte(os.Getenv("HUBPLOY_MODULE_CALL")), &call) != nil {
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]string{"output": "hubploy built from source answered " + call.Function + "\n"})
}
`,
	} {
		p := filepath.Join(src, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	missing := "127.0.0.1:5000/hubploy-e2e/missing:v0"
	r := mustCall(t, "--hubploy-image="+missing, "--source="+src, "validate")
	if want := "hubploy built from source answered validate"; !strings.Contains(r.stdout, want) {
		t.Errorf("stdout: want %q, got:\n%s", want, r.stdout)
	}
	if want := "cannot pull " + missing; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, tail(r.stderr, 30))
	}

	// With a source that does not build, the error says which image failed, and why.
	r = call(t, "--hubploy-image="+missing, "--source="+t.TempDir(), "validate")
	if r.err == nil {
		t.Fatalf("an empty source built a hubploy:\n%s", r.stdout)
	}
	if want := "cannot pull the hubploy image " + missing; !strings.Contains(r.stderr, want) {
		t.Errorf("the error does not say %q:\n%s", want, tail(r.stderr, 30))
	}
}

// pushGoImage pushes Debian with this machine's Go toolchain (GOROOT without its tests)
// as the local registry's golang:1.26-bookworm, which the module's goImage names.
func pushGoImage(ctx context.Context) error {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	goroot := strings.TrimSpace(string(out))
	base, err := remote.Image(mustRef("127.0.0.1:5000/library/debian:bookworm"), remote.WithContext(ctx))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = filepath.WalkDir(goroot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(goroot, p)
		top, _, _ := strings.Cut(rel, string(filepath.Separator))
		switch {
		case d.IsDir() && (d.Name() == "testdata" || top == "test" || top == "api" || top == "doc" || top == "misc"):
			return filepath.SkipDir
		case strings.HasSuffix(p, "_test.go"):
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(filepath.Join("usr/local/go", rel))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Config.Env = []string{"PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GOPATH=/go", "GOTOOLCHAIN=local"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	return remote.Write(mustRef("127.0.0.1:5000/library/golang:1.26-bookworm"), img, remote.WithContext(ctx))
}

func mustRef(s string) name.Reference {
	ref, err := name.ParseReference(s)
	if err != nil {
		panic(err)
	}
	return ref
}
