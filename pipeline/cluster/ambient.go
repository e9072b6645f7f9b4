package cluster

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/homedir"

	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// Ambient is where kubectl and helm find a cluster when nothing names one, and so where
// hubploy finds the cluster of a hub without a cluster block (as hubploy v1.2 did, which
// left that to helm): the KUBECONFIG list, else ~/.kube/config, else, inside a pod, its
// service account. A zero field means there is none.
type Ambient struct {
	Getenv            func(string) string // KUBECONFIG, KUBERNETES_SERVICE_HOST and _PORT
	HomeDir           string
	ServiceAccountDir string // the pod's token and ca.crt
}

// ProcessAmbient is this process's environment, home folder and service account.
func ProcessAmbient() *Ambient {
	return &Ambient{Getenv: os.Getenv, HomeDir: homedir.HomeDir(), ServiceAccountDir: "/var/run/secrets/kubernetes.io/serviceaccount"}
}

const inClusterSource = "in-cluster service account"

func (a *Ambient) getenv(name string) string {
	if a.Getenv == nil {
		return ""
	}
	return a.Getenv(name)
}

// kubeconfig loads the ambient kubeconfig files into memory, merged as kubectl merges
// them, or else describes the pod's service account as a kubeconfig. hub h is named
// when there is neither.
func (a *Ambient) kubeconfig(h *repo.Hub) (*kubeconfig, error) {
	paths, source := a.kubeconfigPaths()
	var found, credentialStrings []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // kubectl skips them too
		}
		if err != nil {
			return nil, &inputerr.Error{File: source, Msg: "cannot be read: " + err.Error(), Err: err}
		}
		found = append(found, p)
		credentialStrings = append(credentialStrings, credentials(data)...)
	}
	if len(found) == 0 {
		return a.inCluster(h, source)
	}
	masker := mask.New(credentialStrings)
	// Not the default loading rules themselves: they read this process's environment,
	// and their migration rules would write ~/.kube/config.
	cfg, err := (&clientcmd.ClientConfigLoadingRules{Precedence: found}).Load()
	if err != nil {
		return nil, &inputerr.Error{File: source, Msg: "is not a valid kubeconfig: " + masker.Error(err).Error(), Hint: "check the file"}
	}
	return &kubeconfig{config: cfg, source: source, masker: masker}, nil
}

// kubeconfigPaths are the files kubectl would read, and how messages name them.
func (a *Ambient) kubeconfigPaths() (paths []string, source string) {
	if list := a.getenv(clientcmd.RecommendedConfigPathEnvVar); list != "" {
		return filepath.SplitList(list), "$KUBECONFIG (" + list + ")"
	}
	if a.HomeDir == "" {
		return nil, "~/.kube/config"
	}
	return []string{filepath.Join(a.HomeDir, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)}, "~/.kube/config"
}

// inCluster is the pod's service account as a kubeconfig, as client-go's in-cluster
// config has it: the token as a file, so that a rotated token is read again, and the CA
// if the pod has one. kubeconfigSource names the kubeconfig that was looked for first.
func (a *Ambient) inCluster(h *repo.Hub, kubeconfigSource string) (*kubeconfig, error) {
	host, port := a.getenv("KUBERNETES_SERVICE_HOST"), a.getenv("KUBERNETES_SERVICE_PORT")
	token := filepath.Join(a.ServiceAccountDir, "token")
	if host == "" || port == "" || a.ServiceAccountDir == "" || !isFile(token) {
		return nil, &inputerr.Error{File: h.Config.File, Key: "cluster",
			Msg:  "is missing, and neither " + kubeconfigSource + " nor an in-cluster service account exists to reach the cluster by",
			Hint: "add a cluster block, pass --kubeconfig, set KUBECONFIG, or run inside a cluster"}
	}
	const name = "in-cluster"
	cluster := &clientcmdapi.Cluster{Server: "https://" + net.JoinHostPort(host, port)}
	if ca := filepath.Join(a.ServiceAccountDir, "ca.crt"); isFile(ca) {
		cluster.CertificateAuthority = ca
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = cluster
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{TokenFile: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	return &kubeconfig{config: cfg, source: inClusterSource, masker: mask.New(nil)}, nil
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}
