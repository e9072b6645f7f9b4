// Package cluster builds a hub's access to its Kubernetes cluster in memory, from a
// given kubeconfig or the hubploy.yaml cluster block: the kubeconfig is read (and
// sops-decrypted) into memory, never written out, and neither KUBECONFIG nor ~/.kube is
// read. Only a hub without a cluster block, given no kubeconfig, reaches its cluster as
// kubectl would (see Ambient), and then too no file is changed. Each hub gets its own
// client, so hubs on different clusters deploy side by side.
package cluster

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// Options override what hubploy.yaml says.
type Options struct {
	// Kubeconfig, if set, is used instead of the hub's kubeconfig file (a laptop's
	// cluster, or a kubeconfig handed over as a secret).
	Kubeconfig []byte
	// KubeconfigSource names Kubeconfig in messages (the file it was read from); empty:
	// "the given kubeconfig".
	KubeconfigSource string
	// Context, if set, is the context used; otherwise the hub's context template
	// (cluster.kubeconfig.context), if it has one, else the kubeconfig's current context.
	// The template applies to a given Kubeconfig too: a hub's context names the cluster
	// it belongs on, whichever file holds the credentials.
	Context string
	// Server, if set, replaces the API server address of the chosen cluster (a tunnel
	// to the same API server under another name).
	Server string
	// Ambient is where a hub without a cluster block, given no Kubeconfig, finds its
	// cluster; nil: ProcessAmbient.
	Ambient *Ambient
	// Clouds are the APIs and ambient credentials of the gcloud, aws and azure
	// providers; nil: the real ones, as the environment points at them
	// (cloud.FromEnvironment).
	Clouds *cloud.APIs
}

// Access is one hub's way to its cluster.
type Access struct {
	Getter  genericclioptions.RESTClientGetter
	Context string // the context used; "" when the kubeconfig's current one
	Server  string // the API server URL without credentials, for messages
	Source  string // where the kubeconfig came from (a file, $KUBECONFIG, the service account), for messages
	// HelmLog receives helm's debug log (hubploy --helm-debug); nil drops it.
	HelmLog func(format string, args ...any)
	// Login, for a cloud's cluster, are the shell lines that log in to it by hand with
	// the cloud's CLI, into a kubeconfig of their own, the hub's credential file
	// decrypted by sops; nil for a kubeconfig.
	Login []string
	// Identity is the same for accesses to one API server with the same credentials,
	// so that hubs deployed together share what they learn of the server (its schemas);
	// "" shares nothing.
	Identity string
}

// ForHub builds the access of hub h to the cluster for namespace. It does not contact
// the cluster, nor a cloud provider's API (asked on first use), so it also checks a
// hub's access offline.
func ForHub(h *repo.Hub, namespace string, dec *secrets.Decrypter, opts Options) (*Access, error) {
	if cl := h.Config.Cluster; opts.Kubeconfig == nil && cl != nil && cl.Provider != "kubeconfig" {
		return cloudAccess(h, namespace, dec, opts)
	}
	kc, err := loadKubeconfig(h, dec, opts)
	if err != nil {
		return nil, err
	}
	context, fix := opts.Context, "fix --kube-context"
	if context == "" {
		if context = Context(h, namespace); context != "" {
			fix = fmt.Sprintf("fix key %q in %s, or pass --kube-context", "cluster.kubeconfig.context", h.Config.File)
		}
	}
	if context != "" {
		if _, ok := kc.config.Contexts[context]; !ok {
			return nil, &inputerr.Error{File: kc.source, Msg: fmt.Sprintf("has no context %q", context),
				Hint: "it has: " + strings.Join(contextNames(kc.config), ", ") + "; " + fix}
		}
	} else if kc.config.CurrentContext == "" || kc.config.Contexts[kc.config.CurrentContext] == nil {
		hint := "set its current-context, or pass --kube-context"
		if _, templated := KubeconfigFile(h); templated {
			hint = fmt.Sprintf("set its current-context, or key %q in %s, or pass --kube-context", "cluster.kubeconfig.context", h.Config.File)
		}
		return nil, &inputerr.Error{File: kc.source, Msg: "sets no current context", Hint: hint}
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context, Context: clientcmdapi.Context{Namespace: namespace}}
	if opts.Server != "" {
		overrides.ClusterInfo.Server = opts.Server
	}
	cc := clientcmd.NewNonInteractiveClientConfig(*kc.config, context, overrides, nil)
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, &inputerr.Error{File: kc.source, Msg: "cannot be used: " + kc.masker.Error(err).Error(), Hint: "check its clusters, users and contexts"}
	}
	server, err := url.Parse(rc.Host)
	if err != nil || rc.Host == "" {
		return nil, &inputerr.Error{File: kc.source, Msg: fmt.Sprintf("has no usable server address (%s)", kc.masker.String(fmt.Sprintf("%q", rc.Host)))}
	}
	server.User = nil
	return &Access{Getter: newGetter(cc), Context: context, Server: server.String(), Source: kc.source, Identity: identity(rc)}, nil
}

// identity hashes the server and the credentials of a client config; "" when they
// cannot be written out.
func identity(rc *rest.Config) string {
	data, err := json.Marshal([]any{rc.Host, rc.APIPath, rc.Username, rc.Password, rc.BearerToken, rc.BearerTokenFile,
		rc.Impersonate, rc.TLSClientConfig, rc.AuthProvider, rc.ExecProvider})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// kubeconfig is a hub's kubeconfig in memory, where it came from, and a masker for the
// credentials in it, which its parser's and client-go's messages may quote.
type kubeconfig struct {
	config *clientcmdapi.Config
	source string
	masker *mask.Masker
}

// loadKubeconfig loads the kubeconfig hub h uses: the given one, else the one its
// cluster block names, else the ambient one.
func loadKubeconfig(h *repo.Hub, dec *secrets.Decrypter, opts Options) (*kubeconfig, error) {
	switch {
	case opts.Kubeconfig != nil:
		return parseKubeconfig(opts.Kubeconfig, cmp.Or(opts.KubeconfigSource, "the given kubeconfig"))
	case h.Config.Cluster != nil:
		data, source, err := readHubKubeconfig(h, dec)
		if err != nil {
			return nil, err
		}
		return parseKubeconfig(data, source)
	default:
		return cmp.Or(opts.Ambient, ProcessAmbient()).kubeconfig(h)
	}
}

func parseKubeconfig(data []byte, source string) (*kubeconfig, error) {
	masker := mask.New(credentials(data))
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, &inputerr.Error{File: source, Msg: "is not a valid kubeconfig: " + masker.Error(err).Error(), Hint: "check the file (hubploy decrypt shows an encrypted one)"}
	}
	return &kubeconfig{config: cfg, source: source, masker: masker}, nil
}

// credentials are the strings of a kubeconfig that could be secret: every scalar value
// (tokens, passwords, keys, exec arguments; over-masking a message costs nothing), and
// the user name and password of every server URL.
func credentials(kubeconfig []byte) []string {
	var doc any
	if yaml.Unmarshal(kubeconfig, &doc) != nil {
		return nil // no YAML: its parser's message quotes no value
	}
	var out []string
	var collect func(v any)
	collect = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for _, c := range t {
				collect(c)
			}
		case []any:
			for _, c := range t {
				collect(c)
			}
		case string:
			out = append(out, t)
			if u, err := url.Parse(t); err == nil && u.User != nil {
				password, _ := u.User.Password()
				out = append(out, u.User.Username(), password)
			}
		}
	}
	collect(doc)
	return out
}

// readHubKubeconfig reads (and decrypts) the kubeconfig file hub h's cluster block
// names, and says where it came from.
func readHubKubeconfig(h *repo.Hub, dec *secrets.Decrypter) (data []byte, source string, err error) {
	return readHubSecret(h, dec, "cluster.kubeconfig.filename", h.Config.Cluster.Kubeconfig.Filename, "the kubeconfig", "pass --kubeconfig")
}

// KubeconfigFile is the kubeconfig file hubploy.yaml names for hub h, relative to the
// repository root, for commands people run by hand; ok is false when the hub names
// none (no cluster block, or a cloud provider). The file may not exist.
func KubeconfigFile(h *repo.Hub) (path string, ok bool) {
	cl := h.Config.Cluster
	if cl == nil || cl.Provider != "kubeconfig" || cl.Kubeconfig == nil {
		return "", false
	}
	return h.Repo.Rel(h.Path("secrets", cl.Kubeconfig.Filename)), true
}

// Context is hub h's kubeconfig context for namespace, from its template
// (cluster.kubeconfig.context, "{namespace}" filled in); "" when it has none.
func Context(h *repo.Hub, namespace string) string {
	if _, ok := KubeconfigFile(h); !ok {
		return ""
	}
	return h.Config.Cluster.Kubeconfig.KubeContext(namespace)
}

func contextNames(cfg *clientcmdapi.Config) []string {
	names := make([]string, 0, len(cfg.Contexts))
	for n := range cfg.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// getter is a RESTClientGetter over an in-memory client config.
type getter struct {
	mu        sync.Mutex // helm calls it from several goroutines
	config    clientcmd.ClientConfig
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
}

func newGetter(cc clientcmd.ClientConfig) *getter { return &getter{config: cc} }

func (g *getter) ToRESTConfig() (*rest.Config, error) {
	rc, err := g.config.ClientConfig()
	if err != nil {
		return nil, err
	}
	// Several hubs upgrading at once against one API server must not queue behind
	// client-go's default rate limit of 5 requests a second (2i2c-org/infrastructure#5436).
	rc.QPS, rc.Burst = 50, 100
	moveUserinfo(rc)
	return rc, nil
}

// moveUserinfo takes the credentials out of a server URL (https://user:pass@host), where
// client-go's request URLs, and so its errors, would carry them, into basic auth, which
// is what Go's HTTP client made of them, unless other credentials are set (then the
// client sent those).
func moveUserinfo(rc *rest.Config) {
	u, err := url.Parse(rc.Host)
	if err != nil || u.User == nil {
		return
	}
	if rc.Username == "" && rc.Password == "" && rc.BearerToken == "" && rc.BearerTokenFile == "" && rc.AuthProvider == nil && rc.ExecProvider == nil {
		rc.Username = u.User.Username()
		rc.Password, _ = u.User.Password()
	}
	u.User = nil
	rc.Host = u.String()
}

func (g *getter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return g.config }

func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.discoveryLocked()
}

func (g *getter) discoveryLocked() (discovery.CachedDiscoveryInterface, error) {
	if g.discovery == nil {
		rc, err := g.ToRESTConfig()
		if err != nil {
			return nil, err
		}
		dc, err := discovery.NewDiscoveryClientForConfig(rc)
		if err != nil {
			return nil, err
		}
		g.discovery = memory.NewMemCacheClient(dc)
	}
	return g.discovery, nil
}

func (g *getter) ToRESTMapper() (meta.RESTMapper, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mapper == nil {
		dc, err := g.discoveryLocked()
		if err != nil {
			return nil, err
		}
		m := restmapper.NewDeferredDiscoveryRESTMapper(dc)
		g.mapper = restmapper.NewShortcutExpander(m, dc, nil)
	}
	return g.mapper, nil
}
