package cliimage

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func TestModuleVersion(t *testing.T) {
	v, err := ModuleVersion(repoRoot())
	if err != nil {
		t.Fatal(err)
	}
	if len(v) < 2 || v[0] != 'v' {
		t.Errorf("cliVersion %q is not a release tag", v)
	}
	if _, err := ModuleVersion(t.TempDir()); err == nil {
		t.Error("a folder without .dagger/call.go gave a version")
	}
}

// The image a release pushes: one layer with the CLI, executable, the CA certificates
// and /tmp; the CLI as entrypoint, at the version given.
func TestBuild(t *testing.T) {
	img, err := Build(context.Background(), repoRoot(), "v9.9.9-test", HostPlatform())
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != runtime.GOARCH || cf.OS != "linux" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/"+CLIPath ||
		cf.Config.Labels["org.opencontainers.image.version"] != "v9.9.9-test" {
		t.Errorf("config: %s/%s, entrypoint %v, labels %v", cf.OS, cf.Architecture, cf.Config.Entrypoint, cf.Config.Labels)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	size, err := layers[0].Size()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the layer: %.1f MB compressed", float64(size)/1e6)
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dir := t.TempDir()
	found := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found[h.Name] = h.Mode
		if h.Name == CLIPath {
			f, err := os.OpenFile(filepath.Join(dir, "hubploy"), os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	for name, mode := range map[string]int64{CLIPath: 0o755, "etc/ssl/certs/ca-certificates.crt": 0o644, "tmp/": 0o1777} {
		if got, ok := found[name]; !ok || got != mode {
			t.Errorf("%s: mode %o, present %v; want %o", name, got, ok, mode)
		}
	}
	// The CLI in it runs, and says the version it was built with.
	out, err := exec.Command(filepath.Join(dir, "hubploy"), "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "hubploy v9.9.9-test\n") {
		t.Errorf("hubploy version: %v\n%s", err, out)
	}
}
