// Package hubconfig reads a hub's hubploy.yaml in the forms the Python hubploy wrote:
// 0.3 (images with registry providers, cluster providers with service keys) and the
// berkeley-dsep-infra v1.2 fork (no images, kubeconfig context with {namespace}).
// Decoding is strict: a misspelled key is an error, never silently ignored.
package hubconfig

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/strictyaml"
)

// DefaultSubstitutionPath is where hubploy 0.3 put an image's name and tag in the values
// of the umbrella chart, whose z2jh dependency is called jupyterhub.
const DefaultSubstitutionPath = "jupyterhub.singleuser.image"

// DefaultImagePath is the image folder, relative to the hub's folder, that 0.3 assumed.
const DefaultImagePath = "image"

// Tag strategies: how the tag of an image built from a folder is chosen.
const (
	// TagContent is a hash of the folder's content: the same on every clone, shallow or
	// not. The default.
	TagContent = "content"
	// TagGitCommit is hubploy 0.3's tag: the last commit that changed the folder.
	TagGitCommit = "git-commit"
)

// Config is one hubploy.yaml.
type Config struct {
	Images  *Images  `yaml:"images,omitempty"`
	Cluster *Cluster `yaml:"cluster,omitempty"`
	// Deploy is this Go hubploy's own addition; the Python hubploy has no such key.
	Deploy *Deploy `yaml:"deploy,omitempty"`

	// File is where the config was read from, for error messages.
	File string `yaml:"-"`
}

// Images is 0.3's images block: either the legacy single image_name or a list.
type Images struct {
	ImageName       string    `yaml:"image_name,omitempty"`
	ImageConfigPath string    `yaml:"image_config_path,omitempty"`
	Images          []Image   `yaml:"images,omitempty"`
	Registry        *Registry `yaml:"registry,omitempty"`
	// TagStrategy is this Go hubploy's own key: the default of every image's.
	TagStrategy string `yaml:"tag_strategy,omitempty"`
}

// Image is one image built from a folder of the hub and injected into the values.
type Image struct {
	// Name is the image reference without a tag, or (datahub's 2024 form) with one.
	Name                 string       `yaml:"name"`
	Path                 string       `yaml:"path,omitempty"`
	HelmSubstitutionPath string       `yaml:"helm_substitution_path,omitempty"`
	Repo2Docker          *Repo2Docker `yaml:"repo2docker,omitempty"`
	// TagStrategy is this Go hubploy's own key: TagContent or TagGitCommit.
	TagStrategy string `yaml:"tag_strategy,omitempty"`
	// Tests are shell commands `hubploy test` runs in the built image, each of which
	// must exit 0 (this Go hubploy's own key).
	Tests []string `yaml:"tests,omitempty"`

	// Key is where the image is in hubploy.yaml ("images.images[1]", or "images" for
	// the single image_name form), for messages: see KeyOf.
	Key string `yaml:"-"`
}

// KeyOf names the key of one of the image's fields in hubploy.yaml, for messages.
func (i Image) KeyOf(field string) string {
	if i.Key != "images" {
		return i.Key + "." + field
	}
	switch field { // the single-image form's own names
	case "name", "path":
		return "images.image_name"
	case "helm_substitution_path":
		return "images.image_config_path"
	}
	return "images." + field
}

// Repo2Docker holds the berkeley fork's repo2docker options, accepted for compatibility.
type Repo2Docker struct {
	BaseImage string `yaml:"base_image,omitempty"`
}

// Registry says how to log in to the image registry.
type Registry struct {
	Provider     string             `yaml:"provider"`
	Gcloud       *GcloudRegistry    `yaml:"gcloud,omitempty"`
	AWS          *AWSRegistry       `yaml:"aws,omitempty"`
	Azure        *AzureRegistry     `yaml:"azure,omitempty"`
	DockerConfig *DockerConfigBlock `yaml:"dockerconfig,omitempty"`
}

type GcloudRegistry struct {
	Project    string `yaml:"project,omitempty"`
	ServiceKey string `yaml:"service_key,omitempty"`
}

type AWSRegistry struct {
	AccountID  string `yaml:"account_id,omitempty"`
	Region     string `yaml:"region,omitempty"`
	ServiceKey string `yaml:"service_key,omitempty"`
	RoleARN    string `yaml:"role_arn,omitempty"`
	// Project and Zone are 0.3's legacy names of AccountID and Region.
	Project string `yaml:"project,omitempty"`
	Zone    string `yaml:"zone,omitempty"`
}

type AzureRegistry struct {
	ResourceGroup string `yaml:"resource_group,omitempty"`
	Registry      string `yaml:"registry,omitempty"`
	AuthFile      string `yaml:"auth_file,omitempty"`
}

type DockerConfigBlock struct {
	Filename string `yaml:"filename"`
}

// Cluster says how to reach the Kubernetes cluster.
type Cluster struct {
	Provider   string           `yaml:"provider"`
	Gcloud     *GcloudCluster   `yaml:"gcloud,omitempty"`
	AWS        *AWSCluster      `yaml:"aws,omitempty"`
	Azure      *AzureCluster    `yaml:"azure,omitempty"`
	Kubeconfig *KubeconfigBlock `yaml:"kubeconfig,omitempty"`
}

type GcloudCluster struct {
	Project    string `yaml:"project,omitempty"`
	Cluster    string `yaml:"cluster,omitempty"`
	Zone       string `yaml:"zone,omitempty"`
	ServiceKey string `yaml:"service_key,omitempty"`
}

type AWSCluster struct {
	AccountID  string `yaml:"account_id,omitempty"`
	Cluster    string `yaml:"cluster,omitempty"`
	Region     string `yaml:"region,omitempty"`
	ServiceKey string `yaml:"service_key,omitempty"`
	RoleARN    string `yaml:"role_arn,omitempty"`
	Project    string `yaml:"project,omitempty"`
	Zone       string `yaml:"zone,omitempty"`
}

type AzureCluster struct {
	ResourceGroup string `yaml:"resource_group,omitempty"`
	Cluster       string `yaml:"cluster,omitempty"`
	AuthFile      string `yaml:"auth_file,omitempty"`
}

// KubeconfigBlock names a kubeconfig file under the hub's secrets/ folder, and
// optionally a context in it, in which "{namespace}" is replaced (v1.2, hubploy#121).
type KubeconfigBlock struct {
	Filename string `yaml:"filename"`
	Context  string `yaml:"context,omitempty"`
}

// Deploy names the helm release and namespace, with {hub} and {env} filled in. Both
// default to "{hub}-{env}", as in the Python hubploy.
type Deploy struct {
	Release   string `yaml:"release,omitempty"`
	Namespace string `yaml:"namespace,omitempty"`
	// Canary deploys and checks this hub before the others of a many-hub deploy, and
	// stops them if it fails.
	Canary bool `yaml:"canary,omitempty"`
	// Check says how to reach the hub for its health check.
	Check *Check `yaml:"check,omitempty"`
}

// Check is how hubploy's health check reaches a hub through its REST API.
type Check struct {
	// URL is the hub's public address, with {hub} and {env} filled in; by default it
	// is taken from the release's Ingress.
	URL string `yaml:"url,omitempty"`
	// Service is the hub.services entry whose apiToken the check uses.
	Service string `yaml:"service,omitempty"`
	// User is the user whose server the check starts and deletes.
	User string `yaml:"user,omitempty"`
}

// DefaultCheckService is the hub service whose token the check uses, named as 2i2c
// names its health-check service.
const DefaultCheckService = "hub-health"

// CheckURL returns deploy.check.url for env with {hub} and {env} filled in, or "".
func (c *Config) CheckURL(hub, env string) string {
	if c.Deploy == nil || c.Deploy.Check == nil {
		return ""
	}
	return strings.NewReplacer("{hub}", hub, "{env}", env).Replace(c.Deploy.Check.URL)
}

// CheckService returns deploy.check.service, or DefaultCheckService.
func (c *Config) CheckService() string {
	if c.Deploy == nil || c.Deploy.Check == nil {
		return DefaultCheckService
	}
	return firstNonEmpty(c.Deploy.Check.Service, DefaultCheckService)
}

// CheckUser returns deploy.check.user, or "" for the check's default user.
func (c *Config) CheckUser() string {
	if c.Deploy == nil || c.Deploy.Check == nil {
		return ""
	}
	return c.Deploy.Check.User
}

// IsCanary reports whether deploy.canary is set.
func (c *Config) IsCanary() bool { return c.Deploy != nil && c.Deploy.Canary }

// DefaultReleaseName is the Python hubploy's release name and namespace.
const DefaultReleaseName = "{hub}-{env}"

// NameTemplates returns the templates of the release name and the namespace, with
// {hub} and {env}.
func (c *Config) NameTemplates() (release, namespace string) {
	release, namespace = DefaultReleaseName, DefaultReleaseName
	if c.Deploy != nil {
		release = firstNonEmpty(c.Deploy.Release, release)
		namespace = firstNonEmpty(c.Deploy.Namespace, namespace)
	}
	return release, namespace
}

// ReleaseAndNamespace returns the release name and namespace of the hub in env,
// unchecked: repo.Hub.ReleaseAndNamespace checks them.
func (c *Config) ReleaseAndNamespace(hub, env string) (release, namespace string) {
	release, namespace = c.NameTemplates()
	r := strings.NewReplacer("{hub}", hub, "{env}", env)
	return r.Replace(release), r.Replace(namespace)
}

// Load reads and checks a hubploy.yaml. displayPath is how the file is named in errors.
func Load(path, displayPath string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &inputerr.Error{File: displayPath, Msg: "cannot read: " + err.Error(), Err: err}
	}
	return Parse(displayPath, data)
}

// Parse decodes and checks a hubploy.yaml's content.
func Parse(file string, data []byte) (*Config, error) {
	c := &Config{}
	if err := strictyaml.Decode(file, data, c); err != nil {
		return nil, err
	}
	c.File = file
	c.renameLegacyKeys()
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// renameLegacyKeys applies 0.3's auto-rename of aws project→account_id, zone→region.
func (c *Config) renameLegacyKeys() {
	if c.Images != nil && c.Images.Registry != nil && c.Images.Registry.AWS != nil {
		a := c.Images.Registry.AWS
		a.AccountID, a.Project = firstNonEmpty(a.AccountID, a.Project), ""
		a.Region, a.Zone = firstNonEmpty(a.Region, a.Zone), ""
	}
	if c.Cluster != nil && c.Cluster.AWS != nil {
		a := c.Cluster.AWS
		a.AccountID, a.Project = firstNonEmpty(a.AccountID, a.Project), ""
		a.Region, a.Zone = firstNonEmpty(a.Region, a.Zone), ""
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (c *Config) errorf(key, hint, format string, args ...any) error {
	// A value of hubploy.yaml, or a message that quotes one, may be megabytes.
	for i, a := range args {
		switch v := a.(type) {
		case string:
			args[i] = strictyaml.Clip(v)
		case error:
			args[i] = strictyaml.Clip(v.Error())
		}
	}
	return &inputerr.Error{File: c.File, Key: key, Msg: fmt.Sprintf(format, args...), Hint: hint}
}

func (c *Config) check() error {
	if im := c.Images; im != nil {
		if im.ImageName != "" && len(im.Images) > 0 {
			return c.errorf("images", "keep one of the two forms", "both images.image_name and images.images are set")
		}
		for i, img := range im.Images {
			key := fmt.Sprintf("images.images[%d]", i)
			if strings.TrimSpace(img.Name) == "" {
				return c.errorf(key+".name", "give the image's registry/repository name", "is empty")
			}
			if err := c.checkLocal(key+".path", img.Path, "the hub's folder"); err != nil {
				return err
			}
			if err := c.checkTagStrategy(key+".tag_strategy", img.TagStrategy); err != nil {
				return err
			}
			for j, test := range img.Tests {
				if strings.TrimSpace(test) == "" {
					return c.errorf(fmt.Sprintf("%s.tests[%d]", key, j), "write a shell command, e.g. python -c \"import numpy\"", "is empty")
				}
			}
			if _, tag := SplitTag(img.Name); tag != "" && img.TagStrategy != "" {
				return c.errorf(key+".tag_strategy", "remove it, or the tag from the name", "is set, but the image's name carries a tag, so no tag is computed")
			}
		}
		if err := c.checkTagStrategy("images.tag_strategy", im.TagStrategy); err != nil {
			return err
		}
		for _, img := range c.ImageList() {
			if err := c.checkImageName(img); err != nil {
				return err
			}
		}
		if r := im.Registry; r != nil {
			set := map[string]bool{"gcloud": r.Gcloud != nil, "aws": r.AWS != nil, "azure": r.Azure != nil, "dockerconfig": r.DockerConfig != nil}
			if err := c.checkProvider("images.registry", r.Provider, set); err != nil {
				return err
			}
			if r.AWS != nil && r.AWS.ServiceKey != "" && r.AWS.RoleARN != "" {
				return c.errorf("images.registry.aws", "keep one, or neither for the default AWS credentials", "both service_key and role_arn are set")
			}
			if r.DockerConfig != nil && r.DockerConfig.Filename == "" {
				return c.errorf("images.registry.dockerconfig.filename", "name the docker config file under the hub's secrets/ folder", "is empty")
			}
		}
	}
	for _, f := range c.secretFiles() {
		if err := c.checkLocal(f.key, f.path, "the hub's secrets/ folder"); err != nil {
			return err
		}
	}
	if cl := c.Cluster; cl != nil {
		set := map[string]bool{"gcloud": cl.Gcloud != nil, "aws": cl.AWS != nil, "azure": cl.Azure != nil, "kubeconfig": cl.Kubeconfig != nil}
		if err := c.checkProvider("cluster", cl.Provider, set); err != nil {
			return err
		}
		// Neither is the default credential chain (a web identity in CI).
		if a := cl.AWS; a != nil && a.ServiceKey != "" && a.RoleARN != "" {
			return c.errorf("cluster.aws", "keep one, or neither for the default AWS credentials", "both service_key and role_arn are set")
		}
		if k := cl.Kubeconfig; k != nil && k.Filename == "" {
			return c.errorf("cluster.kubeconfig.filename", "name the kubeconfig file under the hub's secrets/ folder", "is empty")
		}
	}
	if c.Deploy != nil && c.Deploy.Check != nil {
		return c.checkCheck(c.Deploy.Check)
	}
	return nil
}

// checkCheck checks the deploy.check block: an http(s) URL, and names the hub accepts.
func (c *Config) checkCheck(ch *Check) error {
	if ch.URL != "" {
		u, err := url.Parse(strings.NewReplacer("{hub}", "hub", "{env}", "env").Replace(ch.URL))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c.errorf("deploy.check.url", "write the hub's address, e.g. https://{env}.hub.example.org/", "%q is not an http(s) URL", ch.URL)
		}
		if u.User != nil {
			return c.errorf("deploy.check.url", "remove the user and password: the check authenticates with the service's API token", "%q carries credentials", u.Redacted())
		}
	}
	for key, name := range map[string]string{"deploy.check.service": ch.Service, "deploy.check.user": ch.User} {
		if name != "" && (strings.ContainsAny(name, "/ \t\n") || name != strings.TrimSpace(name)) {
			return c.errorf(key, "a JupyterHub name: no slash or space", "%q is not a name the hub accepts", name)
		}
	}
	if ch.User != "" && ch.User == firstNonEmpty(ch.Service, DefaultCheckService) {
		return c.errorf("deploy.check.user", "name the user apart from the service: the hub refuses to let a token delete the user named like its service", "is the service's name, %q", ch.User)
	}
	return nil
}

// keyedPath is a path hubploy.yaml gives, and its key.
type keyedPath struct{ key, path string }

// secretFiles are the files under the hub's secrets/ folder that hubploy.yaml names.
func (c *Config) secretFiles() []keyedPath {
	var files []keyedPath
	add := func(key, file string) {
		files = append(files, keyedPath{key, file})
	}
	if c.Images != nil && c.Images.Registry != nil {
		r := c.Images.Registry
		if r.Gcloud != nil {
			add("images.registry.gcloud.service_key", r.Gcloud.ServiceKey)
		}
		if r.AWS != nil {
			add("images.registry.aws.service_key", r.AWS.ServiceKey)
		}
		if r.Azure != nil {
			add("images.registry.azure.auth_file", r.Azure.AuthFile)
		}
		if r.DockerConfig != nil {
			add("images.registry.dockerconfig.filename", r.DockerConfig.Filename)
		}
	}
	if cl := c.Cluster; cl != nil {
		if cl.Gcloud != nil {
			add("cluster.gcloud.service_key", cl.Gcloud.ServiceKey)
		}
		if cl.AWS != nil {
			add("cluster.aws.service_key", cl.AWS.ServiceKey)
		}
		if cl.Azure != nil {
			add("cluster.azure.auth_file", cl.Azure.AuthFile)
		}
		if cl.Kubeconfig != nil {
			add("cluster.kubeconfig.filename", cl.Kubeconfig.Filename)
		}
	}
	return files
}

// checkLocal refuses a path that leads out of folder (absolute, or through ".."): a
// hubploy.yaml must not make hubploy read, decrypt or send files of the rest of the
// machine. An empty path is left to the caller (a default, or its own error).
func (c *Config) checkLocal(key, path, folder string) error {
	if path == "" || filepath.IsLocal(filepath.FromSlash(path)) {
		return nil
	}
	return c.errorf(key, "name a path relative to "+folder+", without \"..\"", "%q leads outside %s", path, folder)
}

func (c *Config) checkTagStrategy(key, s string) error {
	if s == "" || s == TagContent || s == TagGitCommit {
		return nil
	}
	hint := fmt.Sprintf("use %s or %s", TagContent, TagGitCommit)
	if n := strictyaml.Nearest(s, []string{TagContent, TagGitCommit}); n != "" {
		hint = fmt.Sprintf("did you mean %q? ", n) + hint
	}
	return c.errorf(key, hint, "unknown tag strategy %q", s)
}

// checkImageName checks an image's name the way registries do, so that a typo is found
// before any build or deploy.
func (c *Config) checkImageName(img Image) error {
	key := img.KeyOf("name")
	if strings.Contains(img.Name, "@") {
		return c.errorf(key, "write registry/repository, or registry/repository:tag", "%q is a digest, which cannot be set as a name and a tag", img.Name)
	}
	repoName, tag := SplitTag(img.Name)
	if _, err := name.NewRepository(repoName); err != nil {
		return c.errorf(key, "registry host, then lowercase path parts, e.g. registry.example.org/hub/user-image", "invalid image name %q: %v", repoName, err)
	}
	if tag != "" {
		if _, err := name.NewTag(img.Name); err != nil {
			return c.errorf(key, "a tag is letters, digits, '_', '.' and '-', at most 128", "invalid tag in %q: %v", img.Name, err)
		}
	}
	return nil
}

func (c *Config) checkProvider(key, provider string, blocks map[string]bool) error {
	names := make([]string, 0, len(blocks))
	for n := range blocks {
		names = append(names, n)
	}
	if _, ok := blocks[provider]; !ok {
		hint := "one of gcloud, aws, azure, " + map[bool]string{true: "kubeconfig", false: "dockerconfig"}[key == "cluster"]
		if s := strictyaml.Nearest(provider, names); s != "" && provider != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		}
		return c.errorf(key+".provider", hint, "unknown provider %q", provider)
	}
	if !blocks[provider] {
		return c.errorf(key+"."+provider, "add the provider's block", "provider is %q but there is no %s block", provider, provider)
	}
	return nil
}

// ImageList returns the hub's images in the list form, with the defaults applied: the
// legacy image_name is the single image built from "image/" (0.3), and the tag strategy
// is the image's, else the images block's, else TagContent.
func (c *Config) ImageList() []Image {
	if c.Images == nil {
		return nil
	}
	var list []Image
	if c.Images.ImageName != "" {
		list = []Image{{Name: c.Images.ImageName, HelmSubstitutionPath: c.Images.ImageConfigPath, Key: "images"}}
	} else {
		list = append(list, c.Images.Images...)
		for i := range list {
			list[i].Key = fmt.Sprintf("images.images[%d]", i)
		}
	}
	for i := range list {
		if list[i].Path == "" {
			list[i].Path = DefaultImagePath
		}
		if list[i].HelmSubstitutionPath == "" {
			list[i].HelmSubstitutionPath = DefaultSubstitutionPath
		}
		list[i].TagStrategy = firstNonEmpty(list[i].TagStrategy, firstNonEmpty(c.Images.TagStrategy, TagContent))
	}
	return list
}

// SplitTag splits "registry/repo:tag" into name and tag; a port in the registry host is
// not a tag. Digests ("@sha256:…") are kept in the name with an empty tag.
func SplitTag(ref string) (name, tag string) {
	if strings.Contains(ref, "@") {
		return ref, ""
	}
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

// KubeContext returns the kubeconfig context with {namespace} filled in, or "".
func (k *KubeconfigBlock) KubeContext(namespace string) string {
	return strings.ReplaceAll(k.Context, "{namespace}", namespace)
}
