package fakecloud

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"

	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// azurePrincipal is a service principal's secret, or the OIDC token its federated
// credential trusts, in its tenant.
type azurePrincipal struct{ tenant, secret, assertion string }

func (c *Cloud) serveAzure(mux *http.ServeMux) {
	// MSAL keeps only the authority's host: the tenants are at the root.
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", c.entraDiscovery)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", c.entraToken)
	mux.HandleFunc("GET /arm/subscriptions", c.armSubscriptions)
	mux.HandleFunc("POST /acr/oauth2/exchange", c.acrExchange)
	mux.HandleFunc("POST /arm/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.ContainerService/managedClusters/{name}/listClusterUserCredential", c.aksUserCredential)
}

// AzureCloud is the Entra ID authority and Resource Manager here.
func (c *Cloud) AzureCloud() azcloud.Configuration {
	return azcloud.Configuration{
		ActiveDirectoryAuthorityHost: c.URL() + "/",
		Services: map[azcloud.ServiceName]azcloud.ServiceConfiguration{
			azcloud.ResourceManager: {Endpoint: c.URL() + "/arm", Audience: "https://management.core.windows.net/"},
		},
	}
}

// AzureServicePrincipal makes a service principal and returns its auth file, as
// `az ad sp create-for-rbac` prints it (0.3's auth_file).
func (c *Cloud) AzureServicePrincipal(name, tenant string) (authFile []byte, appID string) {
	appID, secret := randomUUID(), "Q~"+randomHex(18)
	c.mu.Lock()
	c.azure[appID] = azurePrincipal{tenant: tenant, secret: secret}
	c.mu.Unlock()
	return []byte(`{"appId": "` + appID + `", "displayName": "` + name + `", "password": "` + secret + `", "tenant": "` + tenant + `"}`), appID
}

// AzureFederatedPrincipal makes a service principal whose federated credential trusts
// token, an OIDC token (OIDCToken) of a CI job (workload identity federation), and
// returns its app id.
func (c *Cloud) AzureFederatedPrincipal(tenant, token string) (appID string) {
	appID = randomUUID()
	c.mu.Lock()
	c.azure[appID] = azurePrincipal{tenant: tenant, assertion: token}
	c.mu.Unlock()
	return appID
}

// AzureSubscription makes a subscription visible to every principal.
func (c *Cloud) AzureSubscription() string {
	id := randomUUID()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.azureSubscriptions = append(c.azureSubscriptions, id)
	return id
}

// AKSName is the name under which AddCluster makes an AKS cluster known.
func AKSName(subscription, group, cluster string) string {
	return "aks:" + subscription + ":" + strings.ToLower(group) + ":" + cluster
}

// AKSEntraServer is the Entra application of AKS API servers.
const AKSEntraServer = "6dae42f8-4368-4678-94ff-3960e28e3630"

// AKSUser is who the token of an AKS cluster's user kubeconfig stands for.
func AKSUser(group, cluster string) string { return "clusterUser_" + group + "_" + cluster }

func randomUUID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// entraDiscovery is the tenant's OpenID configuration, which MSAL reads for the
// token endpoint.
func (c *Cloud) entraDiscovery(w http.ResponseWriter, r *http.Request) {
	base := c.URL() + "/" + r.PathValue("tenant")
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":         base + "/oauth2/v2.0/token",
		"authorization_endpoint": base + "/oauth2/v2.0/authorize",
		"issuer":                 base + "/v2.0",
		"tenant_region_scope":    "NA",
	})
}

// entraToken is Entra ID's client credentials grant
// (learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow), with
// its errors for a wrong secret and for an assertion no federated credential trusts.
func (c *Cloud) entraToken(w http.ResponseWriter, r *http.Request) {
	id, secret := r.FormValue("client_id"), r.FormValue("client_secret")
	c.mu.Lock()
	p, ok := c.azure[id]
	c.mu.Unlock()
	switch {
	case r.FormValue("grant_type") != "client_credentials":
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type", "error_description": "AADSTS70003: The app requested an unsupported grant type."})
	case !ok || p.tenant != r.PathValue("tenant"):
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unauthorized_client", "error_description": "AADSTS700016: Application with identifier '" + id + "' was not found in the directory.\r\nTrace ID: 0", "error_codes": []int{700016}})
	case r.FormValue("client_assertion") != "" && (p.assertion == "" || p.assertion != r.FormValue("client_assertion")):
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client", "error_description": "AADSTS700213: No matching federated identity record found for presented assertion subject.\r\nTrace ID: 0", "error_codes": []int{700213}})
	case r.FormValue("client_assertion") == "" && (p.secret == "" || p.secret != secret):
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '" + id + "'.\r\nTrace ID: 0", "error_codes": []int{7000215}})
	case !slices.Contains(strings.Fields(r.FormValue("scope")), "https://management.core.windows.net//.default") && !slices.Contains(strings.Fields(r.FormValue("scope")), AKSEntraServer+"/.default"):
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_resource", "error_description": "AADSTS500011: The resource principal named " + r.FormValue("scope") + " was not found in the tenant.\r\nTrace ID: 0"})
	default:
		tok, lifetime := c.mint("eyJ0eXAiOiJKV1Qi.", id)
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(lifetime.Seconds()), "ext_expires_in": int(lifetime.Seconds()), "access_token": tok})
	}
}

// armPrincipal is who a Resource Manager request's token stands for; "" after writing
// Resource Manager's error for a token it refuses.
func (c *Cloud) armPrincipal(w http.ResponseWriter, r *http.Request) string {
	principal := c.principal(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if principal == "" {
		armError(w, http.StatusUnauthorized, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.")
	}
	return principal
}

// armSubscriptions is Resource Manager's Subscriptions - List.
func (c *Cloud) armSubscriptions(w http.ResponseWriter, r *http.Request) {
	if c.armPrincipal(w, r) == "" {
		return
	}
	var value []map[string]string
	c.mu.Lock()
	for _, id := range c.azureSubscriptions {
		value = append(value, map[string]string{"id": "/subscriptions/" + id, "subscriptionId": id, "displayName": "hubploy test", "state": "Enabled"})
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"value": value})
}

// aksUserCredential is AKS's Managed Clusters - List Cluster User Credentials
// (learn.microsoft.com/rest/api/aks/managed-clusters/list-cluster-user-credentials): the
// cluster user's kubeconfig, base64, with a token the API server takes.
func (c *Cloud) aksUserCredential(w http.ResponseWriter, r *http.Request) {
	principal := c.armPrincipal(w, r)
	if principal == "" {
		return
	}
	sub, group, name := r.PathValue("sub"), r.PathValue("group"), r.PathValue("name")
	cl, found, allowed := c.lookup(principal, AKSName(sub, group, name))
	scope := "/subscriptions/" + sub + "/resourceGroups/" + group + "/providers/Microsoft.ContainerService/managedClusters/" + name
	switch {
	case !allowed:
		armError(w, http.StatusForbidden, "AuthorizationFailed", "The client '"+principal+"' with object id '"+principal+"' does not have authorization to perform action 'Microsoft.ContainerService/managedClusters/listClusterUserCredential/action' over scope '"+scope+"' or the scope is invalid.")
	case !found:
		armError(w, http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.ContainerService/managedClusters/"+name+"' under resource group '"+group+"' was not found.")
	default:
		user := AKSUser(group, name)
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: cl.Endpoint, CertificateAuthorityData: cl.CA}
		switch cl.EntraID {
		case EntraExec:
			cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
				APIVersion: "client.authentication.k8s.io/v1beta1", Command: "kubelogin", InteractiveMode: clientcmdapi.IfAvailableExecInteractiveMode,
				Args: []string{"get-token", "--environment", "AzurePublicCloud", "--server-id", AKSEntraServer, "--client-id", "80faf920-1908-4b52-b5ef-a8e7bedfc67a", "--tenant-id", "t", "--login", "devicecode"},
			}}
		case EntraAuthProvider:
			cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{AuthProvider: &clientcmdapi.AuthProviderConfig{Name: "azure", Config: map[string]string{
				"apiserver-id": AKSEntraServer, "client-id": "80faf920-1908-4b52-b5ef-a8e7bedfc67a", "config-mode": "1", "environment": "AzurePublicCloud", "tenant-id": "t",
			}}}
		default:
			token, _ := c.mint("", user)
			cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
		}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user}
		cfg.CurrentContext = name
		kubeconfig, err := clientcmd.Write(*cfg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"kubeconfigs": []map[string]string{{"name": "clusterUser", "value": base64.StdEncoding.EncodeToString(kubeconfig)}}})
	}
}

func armError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("x-ms-error-code", code)
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// AzureSubscriptions are the subscriptions made so far.
func (c *Cloud) AzureSubscriptions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.azureSubscriptions...)
}

// ACREndpoint is where registries exchange Entra tokens here.
func (c *Cloud) ACREndpoint() string { return c.URL() + "/acr" }

// acrExchange is a registry's token exchange (github.com/Azure/acr/blob/main/docs/AAD-OAuth.md):
// a live Entra token becomes a refresh token, here the registry's password.
func (c *Cloud) acrExchange(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("grant_type") != "access_token" || c.principal(r.FormValue("access_token")) == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": "authentication required, visit https://aka.ms/acr/authorization for more information."}}})
		return
	}
	c.mu.Lock()
	password := c.registryPassword
	c.minted++
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"refresh_token": password})
}
