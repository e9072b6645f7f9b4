package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"golang.org/x/oauth2"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

const aksKey = "cluster.azure"

// aksCluster is an AKS cluster reached with the service principal of 0.3's auth_file
// (as `az ad sp create-for-rbac` writes it, or its --sdk-auth form) or the default
// credential; the cluster's user kubeconfig comes from listClusterUserCredential.
type aksCluster struct {
	group, cluster string
	authFile       string // "" with the default credential
	authKeys       cloud.AzurePrincipalKeys
	subscription   string // "" until found
	credential     azcore.TokenCredential
	site           cloud.Site
	clouds         *cloud.APIs
}

func newAKS(h *repo.Hub, dec *secrets.Decrypter, clouds *cloud.APIs) (cloudProvider, []byte, error) {
	b := h.Config.Cluster.Azure
	if err := requireFields(h, aksKey, "name the AKS cluster by resource_group and cluster", [2]string{"resource_group", b.ResourceGroup}, [2]string{"cluster", b.Cluster}); err != nil {
		return nil, nil, err
	}
	a := &aksCluster{group: b.ResourceGroup, cluster: b.Cluster, clouds: clouds,
		site: cloud.Site{File: h.Config.File, Key: aksKey, Who: "the default Azure credential", Masker: mask.New(nil)}}
	if b.AuthFile == "" {
		return a, nil, nil
	}
	data, display, err := readHubSecret(h, dec, aksKey+".auth_file", b.AuthFile, "the service principal file", "")
	if err != nil {
		return nil, nil, err
	}
	a.authFile, a.site.Who, a.site.Masker = display, "the service principal of "+display, mask.New(credentials(data))
	credential, subscription, ok, err := clouds.AzurePrincipal(data)
	if !ok {
		return nil, nil, &inputerr.Error{File: display, Msg: "holds no service principal (appId, tenant and password)",
			Hint: fmt.Sprintf("key %q in %s names it; %s", aksKey+".auth_file", h.Config.File, cloud.AzurePrincipalHint)}
	}
	if err != nil {
		return nil, nil, &inputerr.Error{File: display, Msg: "is not a usable service principal: " + a.site.Masker.Error(err).Error()}
	}
	a.credential, a.subscription, a.authKeys = credential, subscription, cloud.AzurePrincipalKeysOf(data)
	return a, data, nil
}

func (a *aksCluster) login() []string {
	lines := []string{"# with your own az login"}
	if a.authFile != "" {
		// An az configuration of its own too: logging in would change the person's.
		lines = []string{`export AZURE_CONFIG_DIR="$(mktemp -d)"`, "az login --service-principal --username " + sopsExtract(a.authFile, `["`+a.authKeys.ClientID+`"]`) +
			" --password " + sopsExtract(a.authFile, `["`+a.authKeys.Secret+`"]`) + " --tenant " + sopsExtract(a.authFile, `["`+a.authKeys.Tenant+`"]`)}
	}
	get := "az aks get-credentials --resource-group " + shellQuote(a.group) + " --name " + shellQuote(a.cluster) + ` --file "$KUBECONFIG"`
	return append(lines, get, "# a cluster with Entra ID authentication also needs: kubelogin convert-kubeconfig -l azurecli")
}

func (a *aksCluster) describe() (string, string) {
	name := "AKS cluster " + a.cluster + " in resource group " + a.group
	if a.authFile != "" {
		return name, a.authFile
	}
	return name, "the default Azure credential (environment, workload or managed identity)"
}

func (a *aksCluster) resolve(ctx context.Context) (*rest.Config, error) {
	if a.credential == nil {
		if err := a.defaultCredential(); err != nil {
			return nil, err
		}
	}
	options := &arm.ClientOptions{ClientOptions: a.clouds.AzureOptions()}
	subscriptions := []string{a.subscription}
	if a.subscription == "" {
		var err error
		if subscriptions, err = a.subscriptions(ctx, options); err != nil {
			return nil, err
		}
	}
	for _, sub := range subscriptions {
		client, err := armcontainerservice.NewManagedClustersClient(sub, a.credential, options)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: the AKS client: %v", a.site.File, aksKey, a.site.Masker.Error(err))
		}
		resp, err := client.ListClusterUserCredentials(ctx, a.group, a.cluster, nil)
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && len(subscriptions) > 1 {
			continue // in another subscription
		}
		if err != nil {
			return nil, a.apiError(err)
		}
		if len(resp.Kubeconfigs) == 0 {
			break
		}
		return a.restConfig(resp.Kubeconfigs[0].Value)
	}
	return nil, &inputerr.Error{File: a.site.File, Key: aksKey, Msg: fmt.Sprintf("AKS has no cluster %s in resource group %s of subscription(s) %s", a.cluster, a.group, strings.Join(subscriptions, ", ")),
		Hint: "fix resource_group or cluster, or give the principal access to the cluster's subscription"}
}

// defaultCredential is the environment's credential (cloud.APIs.AzureDefault).
func (a *aksCluster) defaultCredential() error {
	credential, err := a.clouds.AzureDefault()
	if given := cloud.Given(err, a.site.File, aksKey); given != nil {
		return given
	}
	if err != nil {
		return &inputerr.Error{File: a.site.File, Key: aksKey, Msg: "has no auth_file, and no default Azure credential was found: " + a.site.Masker.Error(err).Error(), Hint: cloud.AzureDefaultHint}
	}
	a.credential = credential
	return nil
}

// subscriptions lists the enabled subscriptions the credential sees, where az login
// would look for the cluster.
func (a *aksCluster) subscriptions(ctx context.Context, options *arm.ClientOptions) ([]string, error) {
	client, err := arm.NewClient("hubploy", "v1.0.0", a.credential, options)
	if err != nil {
		return nil, fmt.Errorf("%s: key %q: the Resource Manager client: %v", a.site.File, aksKey, a.site.Masker.Error(err))
	}
	endpoint := cmp.Or(options.Cloud.Services[azcloud.ResourceManager].Endpoint, azcloud.AzurePublic.Services[azcloud.ResourceManager].Endpoint)
	req, err := runtime.NewRequest(ctx, http.MethodGet, runtime.JoinPaths(endpoint, "subscriptions")+"?api-version=2022-12-01")
	if err != nil {
		return nil, err
	}
	resp, err := client.Pipeline().Do(req)
	if err == nil && !runtime.HasStatusCode(resp, http.StatusOK) {
		err = runtime.NewResponseError(resp)
	}
	if err != nil {
		return nil, a.apiError(err)
	}
	var list struct {
		Value []struct{ SubscriptionID, State string }
	}
	if err := runtime.UnmarshalAsJSON(resp, &list); err != nil {
		return nil, fmt.Errorf("%s: key %q: listing subscriptions: %v", a.site.File, aksKey, err)
	}
	var ids []string
	for _, s := range list.Value {
		if s.State == "Enabled" {
			ids = append(ids, s.SubscriptionID)
		}
	}
	if len(ids) == 0 {
		return nil, &inputerr.Error{File: a.site.File, Key: aksKey, Msg: "the Azure principal sees no enabled subscription",
			Hint: "give it a role on the cluster's subscription, or add subscriptionId to the auth_file"}
	}
	return ids, nil
}

// aadServer is the Entra application of the API servers of AKS clusters with
// AKS-managed Entra ID, which kubelogin asks tokens for.
const aadServer = "6dae42f8-4368-4678-94ff-3960e28e3630"

// restConfig is the client config of the cluster's user kubeconfig, its credentials
// masked in every message. A cluster with Entra ID authentication gives a kubeconfig
// that runs kubelogin (or, in the older format, names the azure auth provider): the
// principal's own Entra tokens stand in for it.
func (a *aksCluster) restConfig(kubeconfig []byte) (*rest.Config, error) {
	kc, err := parseKubeconfig(kubeconfig, "the kubeconfig AKS gave for "+a.cluster)
	if err != nil {
		return nil, err
	}
	var entra *entraTokens
	if ctx := kc.config.Contexts[kc.config.CurrentContext]; ctx != nil {
		switch user := kc.config.AuthInfos[ctx.AuthInfo]; {
		case user == nil:
		case user.Exec != nil:
			entra = &entraTokens{a: a, scope: argAfter(user.Exec.Args, "--server-id", aadServer) + "/.default"}
			user.Exec = nil
		case user.AuthProvider != nil && user.AuthProvider.Name == "azure": // the format before kubelogin, which client-go no longer has
			entra = &entraTokens{a: a, scope: cmp.Or(user.AuthProvider.Config["apiserver-id"], aadServer) + "/.default"}
			user.AuthProvider = nil
		}
	}
	rc, err := clientcmd.NewNonInteractiveClientConfig(*kc.config, kc.config.CurrentContext, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: key %q: the kubeconfig AKS gave cannot be used: %v", a.site.File, aksKey, kc.masker.Error(err))
	}
	if entra != nil {
		return withTokens(rc, oauth2.ReuseTokenSourceWithExpiry(nil, entra, time.Minute)), nil
	}
	return rc, nil
}

// argAfter is the value of flag in args ("--flag value" or "--flag=value"), else def.
func argAfter(args []string, flag, def string) string {
	for i, arg := range args {
		if v, ok := strings.CutPrefix(arg, flag+"="); ok {
			return v
		}
		if arg == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return def
}

// entraTokens are the principal's Entra ID tokens for scope.
type entraTokens struct {
	a     *aksCluster
	scope string
}

func (t *entraTokens) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	tok, err := t.a.credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{t.scope}})
	if err != nil {
		return nil, t.a.apiError(err)
	}
	return &oauth2.Token{AccessToken: tok.Token, TokenType: "Bearer", Expiry: tok.ExpiresOn}, nil
}

// apiError says what went wrong asking Azure about the cluster.
func (a *aksCluster) apiError(err error) error {
	return cloud.AzureError(a.site, err, "AKS cluster "+a.cluster+" in resource group "+a.group,
		"the Azure Kubernetes Service Cluster User Role on the cluster")
}
