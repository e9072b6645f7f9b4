package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/google"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/oauth2"

	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/cloud/registry"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// Keychain gives the credentials for the hub's registries, first match wins:
//
//  1. hubploy.yaml's images.registry block: a docker config file (dockerconfig), a
//     service account key (gcloud), AWS keys, an assumed role or the default AWS
//     credentials for ECR (aws: GetAuthorizationToken), a service principal or the
//     default Azure credential for ACR (azure: an Entra token exchanged at the
//     registry's /oauth2/exchange); files under the hub's secrets/ folder,
//     sops-encrypted or not, decrypted in memory only;
//  2. the docker config files (DOCKER_CONFIG, ~/.docker/config.json, podman's
//     auth.json), with their credential helpers;
//  3. Google's application default credentials, for gcr.io and *.pkg.dev.
//
// The clouds are asked only when a registry is, with the real clouds' APIs.
func Keychain(h *repo.Hub, dec *secrets.Decrypter) (authn.Keychain, error) {
	return KeychainWith(h, dec, nil)
}

// KeychainWith is Keychain reaching the clouds through clouds; nil: the real ones, as
// the environment points at them (cloud.FromEnvironment).
func KeychainWith(h *repo.Hub, dec *secrets.Decrypter, clouds *cloud.APIs) (authn.Keychain, error) {
	if dec == nil {
		dec = &secrets.Decrypter{}
	}
	if clouds == nil {
		clouds = cloud.FromEnvironment(os.Getenv)
	}
	var kcs []authn.Keychain
	if h.Config.Images != nil && h.Config.Images.Registry != nil {
		kc, err := registryKeychain(h, dec, clouds)
		if err != nil {
			return nil, err
		}
		if kc != nil {
			kcs = append(kcs, kc)
		}
	}
	return authn.NewMultiKeychain(append(kcs, authn.DefaultKeychain, &googleKeychain{clouds: clouds})...), nil
}

func registryKeychain(h *repo.Hub, dec *secrets.Decrypter, clouds *cloud.APIs) (authn.Keychain, error) {
	r := h.Config.Images.Registry
	read := func(file string) ([]byte, string, error) {
		path := h.Path("secrets", file)
		display := h.Repo.Rel(path)
		data, _, err := dec.ReadFile(path, display)
		return data, display, err
	}
	switch r.Provider {
	case "dockerconfig":
		data, display, err := read(r.DockerConfig.Filename)
		if err != nil {
			return nil, err
		}
		cf, err := config.LoadFromReader(bytes.NewReader(data))
		if err != nil {
			// The parser's message can quote the content: leave it out.
			return nil, &inputerr.Error{File: display, Msg: "is not a docker config.json", Hint: "check it with `hubploy decrypt " + display + "`"}
		}
		return configKeychain{cf}, nil
	case "gcloud":
		if r.Gcloud.ServiceKey == "" {
			return nil, nil // application default credentials, below
		}
		data, _, err := read(r.Gcloud.ServiceKey)
		if err != nil {
			return nil, err
		}
		return hostKeychain{match: isGoogle, auth: google.NewJSONKeyAuthenticator(string(data))}, nil
	case "aws":
		const key = "images.registry.aws"
		a := r.AWS
		k := &ecrKeychain{clouds: clouds, roleARN: a.RoleARN, byRegion: map[string]*registry.ECR{},
			site: cloud.Site{File: h.Config.File, Key: key, Who: "the default AWS credentials", Masker: mask.New(nil)}}
		switch {
		case a.ServiceKey != "":
			data, display, err := read(a.ServiceKey)
			if err != nil {
				return nil, err
			}
			keys, secrets, ok := cloud.AWSKeys(data)
			if !ok {
				return nil, &inputerr.Error{File: display, Msg: "holds no AWS access key",
					Hint: fmt.Sprintf("key %q in %s names it; %s", key+".service_key", h.Config.File, cloud.AWSKeysHint)}
			}
			k.keys, k.site.Who, k.site.Masker = keys, "the keys of "+display, mask.New(secrets)
		case a.RoleARN != "":
			k.site.Who, k.site.AssumesRole = "the role "+a.RoleARN, true
		}
		return k, nil
	case "azure":
		const key = "images.registry.azure"
		a := r.Azure
		if a.Registry == "" {
			return nil, &inputerr.Error{File: h.Config.File, Key: key + ".registry", Msg: "is missing",
				Hint: "name the container registry (myregistry for myregistry.azurecr.io)"}
		}
		site := cloud.Site{File: h.Config.File, Key: key, Who: "the default Azure credential", Masker: mask.New(nil)}
		var credential azcore.TokenCredential
		if a.AuthFile == "" {
			var err error
			credential, err = clouds.AzureDefault()
			if given := cloud.Given(err, h.Config.File, key); given != nil {
				return nil, given
			}
			if err != nil {
				return nil, &inputerr.Error{File: h.Config.File, Key: key, Msg: "has no auth_file, and no default Azure credential was found: " + err.Error(), Hint: cloud.AzureDefaultHint}
			}
		} else {
			data, display, err := read(a.AuthFile)
			if err != nil {
				return nil, err
			}
			site.Who, site.Masker = "the service principal of "+display, mask.New([]string{cloud.AzurePrincipalSecret(data)})
			var ok bool
			credential, _, ok, err = clouds.AzurePrincipal(data)
			if !ok {
				return nil, &inputerr.Error{File: display, Msg: "holds no service principal (appId, tenant and password)",
					Hint: fmt.Sprintf("key %q in %s names it; %s", key+".auth_file", h.Config.File, cloud.AzurePrincipalHint)}
			}
			if err != nil {
				return nil, &inputerr.Error{File: display, Msg: "is not a usable service principal: " + site.Masker.Error(err).Error()}
			}
		}
		return &acrKeychain{clouds: clouds, site: site, credential: credential, registry: a.Registry, byHost: map[string]*registry.ACR{}}, nil
	}
	return nil, nil
}

// CredentialSource says where the credentials for the hub's registries come from,
// without reading them: the images.registry block's, else the ambient ones.
func CredentialSource(h *repo.Hub) string {
	const ambient = "the docker config files (DOCKER_CONFIG, ~/.docker/config.json), then Google's application default credentials"
	if h.Config.Images == nil || h.Config.Images.Registry == nil {
		return ambient
	}
	file := func(name string) string { return h.Repo.Rel(h.Path("secrets", name)) }
	switch r := h.Config.Images.Registry; r.Provider {
	case "dockerconfig":
		return "the docker config " + file(r.DockerConfig.Filename)
	case "gcloud":
		if r.Gcloud.ServiceKey != "" {
			return "the service key " + file(r.Gcloud.ServiceKey) + " (Google's registries)"
		}
		return "Google's application default credentials"
	case "aws":
		switch {
		case r.AWS.ServiceKey != "":
			return "the keys of " + file(r.AWS.ServiceKey) + " (ECR)"
		case r.AWS.RoleARN != "":
			return "the role " + r.AWS.RoleARN + " assumed with the default AWS credentials (ECR)"
		}
		return "the default AWS credentials (ECR)"
	case "azure":
		if r.Azure.AuthFile != "" {
			return "the service principal of " + file(r.Azure.AuthFile) + " (ACR " + r.Azure.Registry + ")"
		}
		return "the default Azure credential (ACR " + r.Azure.Registry + ")"
	}
	return ambient
}

// ecrHost matches the hosts of ECR registries (as amazon-ecr-credential-helper does):
// account, region, and the partition's domain.
var ecrHost = regexp.MustCompile(`^[0-9]{12}\.dkr[.-]ecr(?:-fips)?\.([a-z0-9][a-z0-9-]*)\.(?:amazonaws\.com(?:\.cn)?|sc2s\.sgov\.gov|c2s\.ic\.gov)$`)

// ecrKeychain logs in to the ECR registries of any account and region with a hub's
// AWS credentials: an ECR password opens every registry the identity may read in its
// region, so there is one login per region, made when a registry is first asked.
type ecrKeychain struct {
	clouds  *cloud.APIs
	site    cloud.Site
	keys    aws.CredentialsProvider // nil: the default chain, roleARN assumed with it if set
	roleARN string

	mu       sync.Mutex
	byRegion map[string]*registry.ECR
}

func (k *ecrKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	m := ecrHost.FindStringSubmatch(target.RegistryStr())
	if m == nil {
		return authn.Anonymous, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byRegion[m[1]] == nil {
		k.byRegion[m[1]] = registry.NewECR(k.clouds, k.site, m[1], k.keys, k.roleARN)
	}
	return k.byRegion[m[1]], nil
}

// acrKeychain logs in to one Azure container registry, under its login server in any
// Azure cloud (myregistry.azurecr.io, .azurecr.cn, .azurecr.us).
type acrKeychain struct {
	clouds     *cloud.APIs
	site       cloud.Site
	credential azcore.TokenCredential
	registry   string

	mu     sync.Mutex
	byHost map[string]*registry.ACR // by login server
}

func (k *acrKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := target.RegistryStr()
	name, domain, _ := strings.Cut(host, ".")
	if !strings.EqualFold(name, k.registry) || !slices.Contains([]string{"azurecr.io", "azurecr.cn", "azurecr.us"}, domain) {
		return authn.Anonymous, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byHost[host] == nil {
		k.byHost[host] = registry.NewACR(k.clouds, k.site, host, k.credential)
	}
	return k.byHost[host], nil
}

// configKeychain finds credentials in a docker config file, as authn.DefaultKeychain
// does in the files it reads itself.
type configKeychain struct{ cf *configfile.ConfigFile }

func (k configKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		cfg, err := k.cf.GetAuthConfig(key)
		if err != nil {
			return nil, err
		}
		if cfg.Username != "" || cfg.Password != "" || cfg.Auth != "" || cfg.IdentityToken != "" || cfg.RegistryToken != "" {
			return authn.FromConfig(authn.AuthConfig{Username: cfg.Username, Password: cfg.Password, Auth: cfg.Auth,
				IdentityToken: cfg.IdentityToken, RegistryToken: cfg.RegistryToken}), nil
		}
	}
	return authn.Anonymous, nil
}

// hostKeychain gives one authenticator to the registries match accepts.
type hostKeychain struct {
	match func(host string) bool
	auth  authn.Authenticator
}

func (k hostKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if k.match(target.RegistryStr()) {
		return k.auth, nil
	}
	return authn.Anonymous, nil
}

// googleKeychain is google.Keychain without its fallback to running the gcloud command:
// application default credentials only (GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC
// file, workload identity, the metadata server), asked with the clouds' token URI.
type googleKeychain struct {
	clouds *cloud.APIs

	once sync.Once
	auth authn.Authenticator
}

func (k *googleKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if !isGoogle(target.RegistryStr()) {
		return authn.Anonymous, nil
	}
	k.once.Do(func() {
		k.auth = authn.Anonymous // the registry's refusal then says what is missing
		creds, err := k.clouds.GoogleDefaultCredentials("https://www.googleapis.com/auth/cloud-platform")
		if err != nil {
			return
		}
		// A first token now, as google.NewEnvAuthenticator takes one: credentials
		// that give none are no credentials.
		if tok, err := creds.TokenSource.Token(); err == nil {
			k.auth = google.NewTokenSourceAuthenticator(oauth2.ReuseTokenSource(tok, creds.TokenSource))
		}
	})
	return k.auth, nil
}

func isGoogle(host string) bool {
	return host == "gcr.io" || strings.HasSuffix(host, ".gcr.io") || strings.HasSuffix(host, ".pkg.dev")
}

// Status is what the registry says about an image.
type Status struct {
	Image
	Exists bool
	// Err is why the registry could not say: it is unreachable, or refused the
	// credentials.
	Err error
}

// Check asks the registry, with a HEAD request on the manifest, whether it has each
// image, several at a time. Each image gets its own error, so that one unreachable
// registry does not hide the others. opts are added to the registry calls' options
// (a transport, retries).
func Check(ctx context.Context, imgs []Image, kc authn.Keychain, opts ...remote.Option) []Status {
	out := make([]Status, len(imgs))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, img := range imgs {
		out[i].Image = img
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i].Exists, out[i].Err = exists(ctx, img, kc, opts)
		})
	}
	wg.Wait()
	return out
}

func exists(ctx context.Context, img Image, kc authn.Keychain, opts []remote.Option) (bool, error) {
	ref, err := name.NewTag(img.Ref())
	if err != nil {
		return false, &inputerr.Error{File: img.ConfigFile, Key: img.Config.KeyOf("name"), Msg: fmt.Sprintf("invalid image reference %q: %v", img.Ref(), err)}
	}
	opts = append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithUserAgent("hubploy")}, opts...)
	_, err = remote.Head(ref, opts...)
	if err == nil {
		return true, nil
	}
	host := ref.RegistryStr()
	var already *inputerr.Error
	if errors.As(err, &already) {
		return false, already // a cloud registry's login, which names the block
	}
	var terr *transport.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
		return false, nil
	case errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden):
		return false, &inputerr.Error{File: img.ConfigFile, Key: "images.registry",
			Msg:  fmt.Sprintf("registry %s refused access to %s (HTTP %d): the credentials are missing or wrong", host, img.Name, terr.StatusCode),
			Hint: "check images.registry in hubploy.yaml and the docker config (DOCKER_CONFIG, ~/.docker/config.json)", Err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return false, fmt.Errorf("registry %s did not answer for %s in time: %w", host, img.Ref(), err)
	case errors.As(err, &dnsErr), errors.As(err, &opErr):
		// The innermost network error: go-containerregistry's own tells each URL it tried.
		cause := error(dnsErr)
		if dnsErr == nil {
			cause = opErr
		}
		// A failure of the work, not of the input: the name may be right and the
		// network down.
		return false, &unreachableError{msg: fmt.Sprintf("%s: key %q: registry %s is unreachable: %s (check the network, and the registry host in the image's name)",
			img.ConfigFile, img.Config.KeyOf("name"), host, oneLine(cause.Error())), err: err}
	}
	return false, fmt.Errorf("registry %s, %s: %s", host, img.Ref(), oneLine(err.Error()))
}

// CheckBuild reports why the image could not be built from its folder with its
// Dockerfile; nil for an image that is not Buildable. hubploy builds Dockerfiles only,
// where hubploy 0.3 could run repo2docker: the error says how to get one.
func (i Image) CheckBuild() error {
	if !i.Buildable() {
		return nil
	}
	if info, err := os.Stat(i.Dockerfile); err != nil || !info.Mode().IsRegular() {
		return &inputerr.Error{File: i.ConfigFile, Key: i.Config.KeyOf("path"),
			Msg: fmt.Sprintf("image %s is built from %s, which has no Dockerfile: hubploy builds images from Dockerfiles only", i.Name, i.ContextDisplay),
			Hint: fmt.Sprintf("write one; `repo2docker --no-build --debug %s` prints the Dockerfile repo2docker would use; "+
				"or put a prebuilt image's tag in its name", i.ContextDisplay),
			Err: err}
	}
	return nil
}

// Auth returns the credentials kc gives for the image's registry, for builders that
// take a username and password (an empty AuthConfig is anonymous access).
func Auth(ctx context.Context, kc authn.Keychain, img Image) (*authn.AuthConfig, error) {
	repo, err := name.NewRepository(img.Name)
	if err != nil {
		return nil, err
	}
	a, err := authn.Resolve(ctx, kc, repo)
	if err != nil {
		return nil, err
	}
	return authn.Authorization(ctx, a)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// unreachableError says which registry could not be reached, from which file and key.
type unreachableError struct {
	msg string
	err error
}

func (e *unreachableError) Error() string { return e.msg }
func (e *unreachableError) Unwrap() error { return e.err }

// StaticKeychain gives the same credentials for every registry (a registry user and
// token handed over on the command line).
func StaticKeychain(username, password string) authn.Keychain {
	return staticKeychain{authn.AuthConfig{Username: username, Password: password}}
}

type staticKeychain struct{ auth authn.AuthConfig }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(k.auth), nil
}

// Tunnel is a transport that reaches registry (host or host:port) at endpoint
// instead, for a registry that only a tunnel reaches (a Dagger service).
func Tunnel(registry, endpoint string) http.RoundTripper {
	target := registry
	if _, _, err := net.SplitHostPort(registry); err != nil {
		target = net.JoinHostPort(registry, "443")
	}
	d := &net.Dialer{}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == target {
			addr = endpoint
		}
		return d.DialContext(ctx, network, addr)
	}
	return tr
}
