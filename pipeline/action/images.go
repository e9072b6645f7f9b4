package action

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/imagetag"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// RegistryTimeout bounds one job's registry checks, so that a registry that does not
// answer fails the job rather than hanging it.
const RegistryTimeout = 2 * time.Minute

// Registry is how jobs reach image registries, over what hubploy.yaml says.
type Registry struct {
	// Keychain, if set, replaces the credentials hubploy.yaml and the docker config give.
	Keychain authn.Keychain
	// Options are added to every registry call (a transport through a tunnel).
	Options []remote.Option
}

func (c *Config) keychain(h *repo.Hub, reg Registry) (authn.Keychain, error) {
	if reg.Keychain != nil {
		return reg.Keychain, nil
	}
	return images.KeychainWith(h, c.Decrypter, c.clouds)
}

// check asks the registry about imgs, every image failing alike without credentials.
func (c *Config) check(ctx context.Context, h *repo.Hub, imgs []images.Image, reg Registry) []images.Status {
	kc, err := c.keychain(h, reg)
	if err != nil {
		out := make([]images.Status, len(imgs))
		for i, img := range imgs {
			out[i] = images.Status{Image: img, Err: err}
		}
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, RegistryTimeout)
	defer cancel()
	return images.Check(ctx, imgs, kc, reg.Options...)
}

// ListImages lists every image of the hubs with its tag and whether the registry has it.
type ListImages struct {
	*Config
	Hubs     []string // empty: every hub
	Env      string   // empty: the tags the folders give; else that environment's, pins applied
	Registry Registry
}

// ImageRow is one image; a row without a name is a problem of the whole hub.
type ImageRow struct {
	Hub        string `json:"hub"`
	Env        string `json:"env,omitempty"`
	OK         bool   `json:"ok"`
	Name       string `json:"name,omitempty"`
	Tag        string `json:"tag,omitempty"`
	Source     string `json:"source,omitempty"`
	HelmPath   string `json:"helm_substitution_path,omitempty"`
	Context    string `json:"context,omitempty"`
	Dockerfile string `json:"dockerfile,omitempty"`
	Exists     *bool  `json:"exists"` // null when the registry could not say
	Error      string `json:"error,omitempty"`
}

// RegistryState says in words what the registry has.
func (r ImageRow) RegistryState() string {
	switch {
	case r.Exists == nil:
		return "unknown (see the error)"
	case *r.Exists:
		return "present"
	case r.Context != "":
		return "missing: build needed"
	}
	return "missing: nothing here builds it"
}

// Run lists the images; a registry that cannot be asked is reported in its rows.
func (l *ListImages) Run(ctx context.Context) ([]ImageRow, error) {
	names, err := l.HubNames(l.Hubs)
	if err != nil {
		return nil, err
	}
	rows := []ImageRow{}
	for _, name := range names {
		rows = append(rows, l.listHub(ctx, name)...)
	}
	return rows, nil
}

func (l *ListImages) listHub(ctx context.Context, name string) []ImageRow {
	hubError := func(err error) []ImageRow { return []ImageRow{{Hub: name, Env: l.Env, Error: err.Error()}} }
	h, err := l.hub(name)
	if err != nil {
		return hubError(err)
	}
	imgs, err := images.Resolve(h, l.Env)
	if err != nil {
		return hubError(err)
	}
	var rows []ImageRow
	for _, st := range l.check(ctx, h, imgs, l.Registry) {
		row := ImageRow{Hub: name, Env: l.Env, Name: st.Name, Tag: st.Tag, Source: string(st.Source), HelmPath: st.HelmPath, Context: st.ContextDisplay}
		if st.Buildable() {
			row.Dockerfile = h.Repo.Rel(st.Dockerfile)
		}
		if st.Err != nil {
			row.Error = st.Err.Error()
		} else {
			row.Exists = &st.Exists
			if err := st.CheckBuild(); err != nil && !st.Exists { // a build is needed, and would fail
				row.Error = err.Error()
			}
		}
		row.OK = row.Error == ""
		rows = append(rows, row)
	}
	return rows
}

// Promote pins the images of one environment to the tags another deploys, in the
// hub's image-pins.yaml, after checking that the registry has them.
type Promote struct {
	*Config
	Hub, From, To   string
	NoRegistryCheck bool
	Registry        Registry
}

// PromoteResult is each image's pin, and the file written (empty when nothing changed).
type PromoteResult struct {
	Changes []images.Change `json:"changes"`
	Written string          `json:"written,omitempty"`
}

// Run promotes.
func (p *Promote) Run(ctx context.Context) (*PromoteResult, error) {
	if p.From == "" || p.To == "" {
		return nil, &inputerr.Error{Msg: "both environments are needed: from and to"}
	}
	h, err := p.hub(p.Hub)
	if err != nil {
		return nil, err
	}
	if !p.NoRegistryCheck {
		if err := p.checkPromoted(ctx, h); err != nil {
			return nil, err
		}
	}
	changes, err := images.Promote(h, p.From, p.To)
	if err != nil {
		return nil, err
	}
	res := &PromoteResult{Changes: changes}
	for _, c := range changes {
		if c.Written {
			res.Written = h.Repo.Rel(h.Path(images.PinsFile))
		}
	}
	return res, nil
}

// checkPromoted fails unless the registry has every image From deploys: a pin to an
// image that was never pushed would fail the next deploy.
func (p *Promote) checkPromoted(ctx context.Context, h *repo.Hub) error {
	imgs, err := images.Resolve(h, p.From)
	if err != nil {
		return err
	}
	for _, st := range p.check(ctx, h, imgs, p.Registry) {
		switch {
		case st.Err != nil:
			return st.Err
		case !st.Exists:
			return &inputerr.Error{File: st.ConfigFile, Key: st.Config.KeyOf("name"), Msg: fmt.Sprintf("the registry has no %s, which %s deploys", st.Ref(), p.From),
				Hint: "build and push it first, or pass --no-registry-check"}
		}
	}
	return nil
}

// BuildOptions are a Dockerfile build's options.
type BuildOptions struct {
	Args       []string // NAME=VALUE
	Dockerfile string   // in the image folder; empty: Dockerfile
	Target     string   // the stage; empty: the last
}

// BuildArg is one parsed build argument.
type BuildArg struct{ Name, Value string }

// ParseArgs reads the NAME=VALUE build arguments.
func (o BuildOptions) ParseArgs() ([]BuildArg, error) {
	var out []BuildArg
	for _, a := range o.Args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, &inputerr.Error{Key: "build-arg", Msg: fmt.Sprintf("%q is not NAME=VALUE", a)}
		}
		out = append(out, BuildArg{k, v})
	}
	return out, nil
}

// ImageBuilder builds images on an engine: the CLI's and the module's Dagger clients.
type ImageBuilder interface {
	// Build builds img from its folder and waits until it is built.
	Build(ctx context.Context, img images.Image, opts BuildOptions, args []BuildArg) error
	// Publish builds img and pushes it as img.Ref() with auth (anonymous when empty),
	// returning the reference pushed, with its digest.
	Publish(ctx context.Context, img images.Image, opts BuildOptions, args []BuildArg, auth *authn.AuthConfig) (string, error)
}

// Build builds a hub's images (each one built from a folder, or the ones named) and,
// with Push, pushes them: hubploy's build and publish, and hubploy 0.3's
// `build [--commit-range R] [--check-registry] [--push]`.
type Build struct {
	*Config
	Hub    string
	Env    string   // take the tags this environment deploys (its pins); empty: the folders'
	Images []string // names without tag; empty: every image built from a folder
	// CommitRange, if set, builds only the images whose folder changed in it (A..B,
	// A...B), as hubploy 0.3's --commit-range.
	CommitRange string
	// SkipPresent builds only the images whose tag the registry lacks (0.3's
	// --check-registry); Push implies it: a tag is one content, never pushed twice.
	SkipPresent bool
	Push        bool
	Registry    Registry
	BuildOptions
}

// Built is one image of a build.
type Built struct {
	Ref    string `json:"ref"` // with its digest when pushed
	Built  bool   `json:"built"`
	Pushed bool   `json:"pushed"`
	// Skipped says why it was not built: "present" in the registry, or "unchanged" in
	// the commit range.
	Skipped string `json:"skipped,omitempty"`
}

// Selected are the images the build is about, with the tags they are deployed as.
func (b *Build) Selected() ([]images.Image, error) {
	h, err := b.hub(b.Hub)
	if err != nil {
		return nil, err
	}
	var imgs []images.Image
	if len(b.Images) == 0 {
		imgs, err = images.ToBuild(h, b.Env, "")
	}
	for _, name := range b.Images {
		var one []images.Image
		if one, err = images.ToBuild(h, b.Env, name); err != nil {
			break
		}
		imgs = append(imgs, one...)
	}
	if err != nil {
		return nil, err
	}
	for _, img := range imgs {
		if err := img.CheckBuild(); err != nil {
			return nil, err
		}
	}
	return imgs, nil
}

// One is the single image of the build, for a caller that returns one image: with
// several, Images must name one.
func (b *Build) One() (images.Image, error) {
	imgs, err := b.Selected()
	if err != nil {
		return images.Image{}, err
	}
	if len(imgs) > 1 {
		var names []string
		for _, img := range imgs {
			names = append(names, img.Name)
		}
		return images.Image{}, &inputerr.Error{Key: "image", Msg: fmt.Sprintf("hub %q builds %d images", b.Hub, len(imgs)), Hint: "name one: " + strings.Join(names, ", ")}
	}
	return imgs[0], nil
}

// Run builds (and pushes) on builder, image by image, each step logged.
func (b *Build) Run(ctx context.Context, builder ImageBuilder) ([]Built, error) {
	imgs, err := b.Selected()
	if err != nil {
		return nil, err
	}
	args, err := b.ParseArgs()
	if err != nil {
		return nil, err
	}
	var out []Built
	var todo []images.Image
	for _, img := range imgs {
		if b.CommitRange != "" {
			changed, err := imagetag.ChangedIn(img.Context, img.ContextDisplay, b.CommitRange)
			if err != nil {
				return nil, err
			}
			if !changed {
				b.log("%s did not change in %s: not building %s", img.ContextDisplay, b.CommitRange, img.Ref())
				out = append(out, Built{Ref: img.Ref(), Skipped: "unchanged"})
				continue
			}
		}
		todo = append(todo, img)
	}
	var kc authn.Keychain
	if b.SkipPresent || b.Push {
		h, err := b.hub(b.Hub)
		if err != nil {
			return nil, err
		}
		if kc, err = b.keychain(h, b.Registry); err != nil {
			return nil, err
		}
		var absent []images.Image
		for _, st := range b.check(ctx, h, todo, Registry{Keychain: kc, Options: b.Registry.Options}) {
			switch {
			case st.Err != nil:
				return out, st.Err
			case st.Exists:
				b.log("%s is already in the registry: not building it", st.Ref())
				out = append(out, Built{Ref: st.Ref(), Skipped: "present"})
			default:
				absent = append(absent, st.Image)
			}
		}
		todo = absent
	}
	for _, img := range todo {
		res, err := b.buildOne(ctx, builder, img, args, kc)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

func (b *Build) buildOne(ctx context.Context, builder ImageBuilder, img images.Image, args []BuildArg, kc authn.Keychain) (Built, error) {
	if !b.Push {
		b.log("building %s from %s", img.Ref(), img.ContextDisplay)
		if err := builder.Build(ctx, img, b.BuildOptions, args); err != nil {
			return Built{}, fmt.Errorf("building %s from %s: %w", img.Ref(), img.ContextDisplay, err)
		}
		return Built{Ref: img.Ref(), Built: true}, nil
	}
	auth, err := images.Auth(ctx, kc, img)
	if err != nil {
		return Built{}, err
	}
	b.log("building and pushing %s", img.Ref())
	ref, err := builder.Publish(ctx, img, b.BuildOptions, args, auth)
	if err != nil {
		return Built{}, fmt.Errorf("publishing %s: %w", img.Ref(), err)
	}
	return Built{Ref: ref, Built: true, Pushed: true}, nil
}
