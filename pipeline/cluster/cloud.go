package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// resolveTimeout bounds the calls that find a cloud cluster's endpoint.
const resolveTimeout = time.Minute

// cloudProvider is a hub's cloud cluster, its credentials read but nothing asked yet.
type cloudProvider interface {
	// resolve asks the cloud for the cluster's endpoint and CA, and gives a client
	// config whose credentials renew themselves.
	resolve(ctx context.Context) (*rest.Config, error)
	// describe names the cluster, for messages (Access.Server), and where the
	// credentials come from (Access.Source).
	describe() (cluster, source string)
	// login is how a person logs in to the cluster by hand (Access.Login).
	login() []string
}

// cloudAccess is hub h's access to a cluster of a cloud provider. Only the
// credentials are read here (ForHub works offline): the cloud is asked on first use.
func cloudAccess(h *repo.Hub, namespace string, dec *secrets.Decrypter, opts Options) (*Access, error) {
	cl := h.Config.Cluster
	if opts.Context != "" {
		return nil, &inputerr.Error{File: h.Config.File, Key: "cluster.provider",
			Msg: fmt.Sprintf("is %q, which has no kubeconfig contexts", cl.Provider), Hint: "drop --kube-context, or pass --kubeconfig too"}
	}
	clouds := opts.Clouds
	if clouds == nil {
		clouds = cloud.FromEnvironment(os.Getenv)
	}
	var (
		p          cloudProvider
		credential []byte
		err        error
	)
	switch cl.Provider {
	case "gcloud":
		p, credential, err = newGKE(h, dec, clouds)
	case "aws":
		p, credential, err = newEKS(h, dec, clouds)
	case "azure":
		p, credential, err = newAKS(h, dec, clouds)
	default:
		return nil, &inputerr.Error{File: h.Config.File, Key: "cluster.provider", Msg: fmt.Sprintf("unknown provider %q", cl.Provider)}
	}
	if err != nil {
		return nil, err
	}
	name, source := p.describe()
	sum := sha256.Sum256(append([]byte(cl.Provider+"\x00"+name+"\x00"+opts.Server+"\x00"), credential...))
	return &Access{
		Getter:   newGetter(&cloudConfig{namespace: namespace, server: opts.Server, provider: p}),
		Server:   name,
		Source:   source,
		Login:    append([]string{privateKubeconfig}, p.login()...),
		Identity: hex.EncodeToString(sum[:]),
	}, nil
}

// privateKubeconfig starts the login commands of a cloud cluster: the cloud's CLI then
// writes a kubeconfig of its own, not the person's.
const privateKubeconfig = `export KUBECONFIG="$(mktemp)"`

// sopsExtract is the shell word that decrypts one value of a sops file (path: sops'
// --extract form, ["a"]["b"]), quoted for a shell.
func sopsExtract(file, path string) string {
	return `"$(sops --decrypt --extract '` + path + `' ` + shellQuote(file) + `)"`
}

// shellQuote quotes s for a POSIX shell, if it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// requireFields refuses a cluster block (key) that lacks one of fields, each a name
// and its value; hint says which fields name the cluster.
func requireFields(h *repo.Hub, key, hint string, fields ...[2]string) error {
	for _, f := range fields {
		if f[1] == "" {
			return &inputerr.Error{File: h.Config.File, Key: key + "." + f[0], Msg: "is missing", Hint: hint}
		}
	}
	return nil
}

// readHubSecret reads (and decrypts) the file under hub h's secrets/ folder that key
// of its cluster block names. A missing file's hint calls it what, and says orElse,
// another way to fix it, if there is one.
func readHubSecret(h *repo.Hub, dec *secrets.Decrypter, key, file, what, orElse string) (data []byte, display string, err error) {
	display = h.Repo.Rel(h.Path("secrets", file))
	data, _, err = dec.ReadFile(filepath.Join(h.Repo.Root, filepath.FromSlash(display)), display)
	if errors.Is(err, fs.ErrNotExist) {
		// Name the key that points there: the file name may be what is wrong.
		fixes := fmt.Sprintf("add %s there (sops-encrypted) or fix the name", what)
		if orElse != "" {
			fixes = fmt.Sprintf("add %s there (sops-encrypted), fix the name, or %s", what, orElse)
		}
		return nil, "", &inputerr.Error{File: display, Msg: "cannot read: it does not exist",
			Hint: fmt.Sprintf("key %q in %s names it; %s", key, h.Config.File, fixes), Err: err}
	}
	return data, display, err
}

// cloudConfig is a client config for a cloud cluster, resolved on first use and kept;
// a failure is not kept, so a later call asks again.
type cloudConfig struct {
	namespace string
	server    string // Options.Server
	provider  cloudProvider

	mu     sync.Mutex
	config *rest.Config
}

func (c *cloudConfig) ClientConfig() (*rest.Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.config == nil {
		ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
		defer cancel()
		rc, err := c.provider.resolve(ctx)
		if err != nil {
			return nil, err
		}
		if c.server != "" {
			rc.Host = c.server
		}
		c.config = rc
	}
	return rest.CopyConfig(c.config), nil
}

// RawConfig is empty: a cloud cluster's access is no kubeconfig (helm reads only the
// namespace).
func (c *cloudConfig) RawConfig() (clientcmdapi.Config, error) { return *clientcmdapi.NewConfig(), nil }

func (c *cloudConfig) Namespace() (string, bool, error) { return c.namespace, true, nil }

func (c *cloudConfig) ConfigAccess() clientcmd.ConfigAccess { return nil }

// withTokens makes rc's requests carry ts's bearer token, renewed as ts renews it.
func withTokens(rc *rest.Config, ts oauth2.TokenSource) *rest.Config {
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &oauth2.Transport{Source: ts, Base: rt} })
	return rc
}
