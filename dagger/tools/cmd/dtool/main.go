// Command dtool holds the small steps of dagger/provision.sh that are easier in
// Go than in shell: turning a root filesystem into an OCI image layout, pushing
// a layout to a registry, and hiding types from an introspection schema.
//
//	dtool oci-image -rootfs DIR -out DIR [-env K=V]... [-workdir DIR] [-cmd ARG]...
//	dtool push DIR REF
//	dtool hide-types -in FILE -out FILE TYPE...
package main

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/dagger/dagger/cmd/codegen/introspection"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: dtool oci-image|push|hide-types ..."))
	}
	var err error
	switch os.Args[1] {
	case "oci-image":
		err = ociImage(os.Args[2:])
	case "push":
		err = push(os.Args[2:])
	case "hide-types":
		err = hideTypes(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dtool:", err)
	os.Exit(1)
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

// ociImage writes a one-layer linux/amd64 image of a root filesystem as an OCI
// layout and prints the manifest digest.
func ociImage(args []string) error {
	fs := flag.NewFlagSet("oci-image", flag.ExitOnError)
	rootfs := fs.String("rootfs", "", "root filesystem folder")
	out := fs.String("out", "", "OCI layout folder to write (must not exist)")
	workdir := fs.String("workdir", "/", "working directory")
	var env, cmd list
	fs.Var(&env, "env", "K=V environment variable (repeatable)")
	fs.Var(&cmd, "cmd", "command argument (repeatable)")
	fs.Parse(args)
	if *rootfs == "" || *out == "" {
		return fmt.Errorf("oci-image needs -rootfs and -out")
	}
	// tar keeps what a root filesystem needs (owners, modes, links, device
	// files) better than anything hand-written here would. The tar goes to a
	// file first: the layer is read twice (digest, then write).
	tmp, err := os.CreateTemp("", "dtool-layer-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	c := exec.Command("tar", "-C", *rootfs, "--numeric-owner", "--xattrs", "-cf", "-", ".")
	c.Stdout, c.Stderr = tmp, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("tar of %s: %w", *rootfs, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	layer, err := tarball.LayerFromFile(tmp.Name(), tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = env
	cf.Config.WorkingDir = *workdir
	cf.Config.Cmd = cmd
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	p, err := layout.Write(*out, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(d.String())
	return nil
}

// push pushes the one image of an OCI layout to a plain-HTTP or HTTPS registry.
func push(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: dtool push LAYOUT_DIR REF")
	}
	p, err := layout.FromPath(args[0])
	if err != nil {
		return err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) != 1 {
		return fmt.Errorf("%s holds %d images, want 1", args[0], len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(args[1], name.Insecure)
	if err != nil {
		return err
	}
	return remote.Write(ref, img)
}

// hideTypes scrubs types from an introspection result with the engine's own
// code (codegen's introspection.Schema.ScrubType), as the engine does before
// it hands the schema to a module's SDK: each named type and its ID type go,
// with every field and argument that refers to them.
func hideTypes(args []string) error {
	fs := flag.NewFlagSet("hide-types", flag.ExitOnError)
	in := fs.String("in", "", "introspection JSON, as introspect writes it")
	out := fs.String("out", "", "filtered introspection JSON")
	fs.Parse(args)
	data, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var resp introspection.Response
	if err := json.Unmarshal(data, &resp); err != nil {
		return err
	}
	if resp.Schema == nil {
		return fmt.Errorf("%s has no __schema", *in)
	}
	for _, t := range fs.Args() {
		resp.Schema.ScrubType(t)
		resp.Schema.ScrubType(t + "ID")
	}
	res, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, res, 0o644)
}
