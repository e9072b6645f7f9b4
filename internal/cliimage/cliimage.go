// Package cliimage makes the hubploy image, which hubploy's Dagger module runs its
// functions in: the CLI built static and stripped, with CA certificates, and
// nothing else. A release pushes it as ghcr.io/hubploy/hubploy:<version> (the
// module's cliVersion); the Dagger tests push it into their local registry the
// same way.
package cliimage

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// CLIPath is where the image has the CLI (the module's cliPath).
const CLIPath = "usr/local/bin/hubploy"

// Repository is where a release publishes the image (the module's cliRepository).
const Repository = "ghcr.io/hubploy/hubploy"

// ModuleVersion reads the release the module in root/.dagger runs: its cliVersion.
func ModuleVersion(root string) (string, error) {
	file := filepath.Join(root, ".dagger", "call.go")
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*cliVersion\s*=\s*"([^"]+)"`).FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("%s: no cliVersion constant", file)
	}
	return string(m[1]), nil
}

// Build compiles the CLI of the repository at root for the platform (GOOS/GOARCH),
// with version as its version, and makes the image.
func Build(ctx context.Context, root, version string, platform v1.Platform) (v1.Image, error) {
	dir, err := os.MkdirTemp("", "hubploy-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "hubploy")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin,
		"-ldflags", "-s -w -X github.com/hubploy/hubploy/pipeline/action.version="+version, "./cmd/hubploy")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+platform.OS, "GOARCH="+platform.Architecture)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/hubploy: %v\n%s", err, out)
	}
	cli, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		return nil, fmt.Errorf("the CA certificates the image carries: %w", err)
	}
	layer, err := tarLayer([]entry{
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs},
		{name: CLIPath, mode: 0o755, data: cli},
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	cf.Config.Entrypoint = []string{"/" + CLIPath}
	cf.Config.Env = []string{"PATH=/usr/local/bin", "HOME=/tmp"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   "hubploy",
		"org.opencontainers.image.version": version,
		"org.opencontainers.image.source":  "https://github.com/hubploy/hubploy",
	}
	return mutate.ConfigFile(img, cf)
}

// HostPlatform is the platform of this machine, for an image that runs here.
func HostPlatform() v1.Platform { return v1.Platform{OS: "linux", Architecture: runtime.GOARCH} }

// ForPlatform is the image of one platform.
type ForPlatform struct {
	Platform v1.Platform
	Image    v1.Image
}

// Push pushes the images under ref, as an index when there are several platforms.
func Push(ctx context.Context, ref string, imgs []ForPlatform, opts ...remote.Option) error {
	tag, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	opts = append(opts, remote.WithContext(ctx))
	if len(imgs) == 1 {
		return remote.Write(tag, imgs[0].Image, opts...)
	}
	var adds []mutate.IndexAddendum
	for _, p := range imgs {
		adds = append(adds, mutate.IndexAddendum{Add: p.Image, Descriptor: v1.Descriptor{Platform: &p.Platform}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	return remote.WriteIndex(tag, idx, opts...)
}

type entry struct {
	name string
	mode int64
	data []byte
}

// tarLayer is a layer of the files, their parent folders and /tmp, at a fixed time so
// that the same CLI makes the same layer.
func tarLayer(files []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	when := time.Unix(0, 0)
	dirs := map[string]int64{"tmp": 0o1777}
	for _, f := range files {
		for d := filepath.Dir(f.name); d != "."; d = filepath.Dir(d) {
			dirs[d] = cmp.Or(dirs[d], 0o755)
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: dirs[d], ModTime: when}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: when}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}
