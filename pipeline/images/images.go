// Package images says, for a hub and an environment, which image each of the hub's
// images is: its name and tag (computed from its folder, written in hubploy.yaml, or
// pinned for the environment in image-pins.yaml), its build context and Dockerfile,
// and whether the registry already has it. It also gives the credentials to reach the
// registry, as a go-containerregistry keychain, and checks that the chart reads the
// places the images are written to. Builders (the Dagger build and publish) call:
//
//	imgs, err := images.Resolve(hub, env)         // what to deploy, and what to build
//	kc, err := images.Keychain(hub, decrypter)    // registry credentials, in memory
//	statuses := images.Check(ctx, imgs, kc)       // which ones the registry has
//
// and build and push each image that is Buildable and does not exist.
package images

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/hubploy/hubploy/pipeline/hubconfig"
	"github.com/hubploy/hubploy/pipeline/imagetag"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// Source says where an image's tag came from.
type Source string

const (
	SourceContent   Source = hubconfig.TagContent   // a hash of the image folder
	SourceGitCommit Source = hubconfig.TagGitCommit // the folder's last git commit
	SourceName      Source = "name"                 // written in the image's name in hubploy.yaml
	SourcePin       Source = "pin"                  // pinned for the environment in image-pins.yaml
)

// Image is one image of a hub, as one environment deploys it.
type Image struct {
	Name     string // repository without tag, e.g. registry.example.org/datahub/user-image
	Tag      string
	HelmPath string // helm_substitution_path: where name and tag go in the values
	Source   Source
	// Context is the image's build folder and Dockerfile the Dockerfile in it, both
	// absolute; they are empty when the tag does not come from the folder (SourceName,
	// SourcePin), as such an image is deployed, never built.
	Context    string
	Dockerfile string

	// Config is the image's entry in hubploy.yaml and ConfigFile that file, relative to
	// the repository, for messages.
	Config     hubconfig.Image
	ConfigFile string
	// ContextDisplay is Context relative to the repository, for messages.
	ContextDisplay string
}

// Ref is the image's name:tag.
func (i Image) Ref() string { return i.Name + ":" + i.Tag }

// Registry is the host of the image's registry (index.docker.io for Docker Hub names).
func (i Image) Registry() string {
	r, err := name.NewRepository(i.Name)
	if err != nil {
		return ""
	}
	return r.RegistryStr()
}

// Buildable reports whether the image is built from a folder of the repository.
func (i Image) Buildable() bool { return i.Context != "" }

// Resolve returns the hub's images as env deploys them: pinned in image-pins.yaml, else
// tagged in their name, else tagged from their folder by their tag strategy. An empty
// env ignores the pins: the images as the folders give them now.
func Resolve(h *repo.Hub, env string) ([]Image, error) {
	if env != "" {
		if err := h.CheckEnv(env); err != nil {
			return nil, err
		}
	}
	pins, err := readPins(h)
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, c := range h.Config.ImageList() {
		repoName, tag := hubconfig.SplitTag(c.Name)
		img := Image{Name: repoName, Tag: tag, HelmPath: c.HelmSubstitutionPath, Source: SourceName, Config: c, ConfigFile: h.Config.File}
		if pin := pins.tag(env, repoName); pin != "" {
			img.Tag, img.Source = pin, SourcePin
		} else if tag == "" {
			img.Context = h.Path(c.Path)
			img.ContextDisplay = h.Repo.Rel(img.Context)
			img.Dockerfile = filepath.Join(img.Context, "Dockerfile")
			img.Source = Source(c.TagStrategy)
			tagOf := imagetag.ContentTag
			if img.Source == SourceGitCommit {
				tagOf = imagetag.CommitTag
			}
			if img.Tag, err = tagOf(img.Context, img.ContextDisplay); err != nil {
				return nil, err
			}
		}
		out = append(out, img)
	}
	return out, nil
}

// ToBuild returns the hub's images that the builders make: the one named (its name
// without tag), or, when name is empty, every one built from a folder of the repo.
func ToBuild(h *repo.Hub, env, name string) ([]Image, error) {
	all, err := Resolve(h, env)
	if err != nil {
		return nil, err
	}
	var names []string
	var picked []Image
	for _, img := range all {
		names = append(names, img.Name)
		if name == "" && img.Buildable() || name == img.Name {
			picked = append(picked, img)
		}
	}
	switch {
	case len(all) == 0:
		return nil, &inputerr.Error{File: h.Config.File, Key: "images", Msg: fmt.Sprintf("hub %q has no images to build", h.Name),
			Hint: "add an images block with the image's name and path"}
	case name != "" && len(picked) == 0:
		return nil, &inputerr.Error{File: h.Config.File, Key: "images", Msg: fmt.Sprintf("hub %q has no image %q", h.Name, name),
			Hint: "it has: " + strings.Join(names, ", ")}
	case len(picked) == 0:
		return nil, &inputerr.Error{File: h.Config.File, Key: "images", Msg: fmt.Sprintf("hub %q has no image built from a folder: each is deployed with the tag in its name or pinned", h.Name)}
	}
	for _, img := range picked {
		if !img.Buildable() {
			return nil, &inputerr.Error{File: img.ConfigFile, Key: img.Config.KeyOf("name"),
				Msg:  fmt.Sprintf("image %s is deployed with tag %s (%s), so it is not built by hubploy", img.Name, img.Tag, img.Source),
				Hint: "drop the tag from its name (or its pin) to have hubploy build it from its folder"}
		}
	}
	return picked, nil
}
