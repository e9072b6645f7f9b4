package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	cloudapi "github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

const aksTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

func azureClouds(cloud *fakecloud.Cloud) *cloudapi.APIs {
	return &cloudapi.APIs{HTTPClient: cloud.Client(), Azure: cloudapi.AzureAPI{Cloud: cloud.AzureCloud()}}
}

// staticCredential is an ambient credential holding one token.
type staticCredential string

func (c staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(c), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// aksHub is a hub whose cluster is AKS cluster c in resource group rg, with the auth
// file given (sops-encrypted), or none when it is nil.
func aksHub(t *testing.T, authFile []byte) func(clouds *cloudapi.APIs) (*cluster.Access, error) {
	t.Helper()
	age := sopstest.NewKey(t)
	block := "cluster:\n  provider: azure\n  azure: {resource_group: rg, cluster: c"
	files := map[string][]byte{}
	if authFile != nil {
		block += ", auth_file: azure-sp.json"
		files["deployments/h/secrets/azure-sp.json"] = sopstest.MustEncrypt(t, "azure-sp.json", authFile, age.Recipient)
	}
	h := hub(t, block+"}\n", files)
	return func(clouds *cloudapi.APIs) (*cluster.Access, error) {
		return cluster.ForHub(h, "ns", &secrets.Decrypter{AgeIdentities: []string{age.Identity}}, cluster.Options{Clouds: clouds})
	}
}

// 0.3's service principal: Entra ID gives a token, the subscriptions are searched for
// the cluster (it is in the second), and its user kubeconfig reaches the API server.
func TestAKSServicePrincipal(t *testing.T) {
	cloud := fakecloud.New(t)
	api := newAPIServer(t)
	cloud.AzureSubscription()
	sub := cloud.AzureSubscription()
	cloud.AddCluster(fakecloud.AKSName(sub, "rg", "c"), api.cluster())
	authFile, _ := cloud.AzureServicePrincipal("hubploy", aksTenant)
	a, err := aksHub(t, authFile)(azureClouds(cloud))
	if err != nil {
		t.Fatal(err)
	}
	if a.Server != "AKS cluster c in resource group rg" || a.Source != "deployments/h/secrets/azure-sp.json" {
		t.Errorf("got %+v", a)
	}
	rc, err := a.Getter.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != api.URL || string(rc.CAData) != string(certPEM(api.Server)) {
		t.Errorf("host %q", rc.Host)
	}
	if got := cloud.Principal(api.get(t, rc)); got != fakecloud.AKSUser("rg", "c") {
		t.Errorf("the API server's token stands for %q", got)
	}
	assertNoSecret(t, strings.Join([]string{a.Server, a.Source, a.Identity}, "\n"), authFile, nil)
}

// The default credential (a workload or managed identity), and --sdk-auth's form
// naming the subscription.
func TestAKSDefaultCredential(t *testing.T) {
	cloud := fakecloud.New(t)
	api := newAPIServer(t)
	cloud.AddCluster(fakecloud.AKSName(cloud.AzureSubscription(), "rg", "c"), api.cluster())
	clouds := azureClouds(cloud)
	clouds.Azure.DefaultCredential = func(azcore.ClientOptions) (azcore.TokenCredential, error) {
		return staticCredential(cloud.UserToken("workload-identity")), nil
	}
	a, err := aksHub(t, nil)(clouds)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := a.Getter.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if got := cloud.Principal(api.get(t, rc)); got != fakecloud.AKSUser("rg", "c") {
		t.Errorf("the API server's token stands for %q", got)
	}
}

// A cluster with Entra ID authentication: its kubeconfig's kubelogin (or azure auth
// provider) is not run; the principal's Entra token for the AKS server application is
// sent instead.
func TestAKSEntraID(t *testing.T) {
	for _, form := range []string{fakecloud.EntraExec, fakecloud.EntraAuthProvider} {
		t.Run(form, func(t *testing.T) {
			cloud := fakecloud.New(t)
			api := newAPIServer(t)
			cl := api.cluster()
			cl.EntraID = form
			cloud.AddCluster(fakecloud.AKSName(cloud.AzureSubscription(), "rg", "c"), cl)
			authFile, appID := cloud.AzureServicePrincipal("hubploy", aksTenant)
			a, err := aksHub(t, authFile)(azureClouds(cloud))
			if err != nil {
				t.Fatal(err)
			}
			rc, err := a.Getter.ToRESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			if rc.ExecProvider != nil || rc.AuthProvider != nil {
				t.Error("kubelogin would run")
			}
			if got := cloud.Principal(api.get(t, rc)); got != appID {
				t.Errorf("the API server's token stands for %q, want the principal %q", got, appID)
			}
		})
	}
}

func TestAKSErrors(t *testing.T) {
	const prefix = `deployments/h/hubploy.yaml: key "cluster.azure": `
	for _, tc := range []struct {
		name  string
		setup func(cloud *fakecloud.Cloud, clouds *cloudapi.APIs) (authFile []byte)
		want  string
	}{
		{"wrong secret", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) []byte {
			_, appID := cloud.AzureServicePrincipal("hubploy", aksTenant)
			return []byte(`{"appId": "` + appID + `", "password": "Q~s3cr3t-but-wrong", "tenant": "` + aksTenant + `"}`)
		}, prefix + "Microsoft Entra ID refused the service principal of deployments/h/secrets/azure-sp.json (AADSTS7000215: Invalid client secret provided."},
		{"expired token", func(cloud *fakecloud.Cloud, clouds *cloudapi.APIs) []byte {
			cloud.TokenLifetime = time.Nanosecond
			token := cloud.UserToken("workload-identity")
			clouds.Azure.DefaultCredential = func(azcore.ClientOptions) (azcore.TokenCredential, error) { return staticCredential(token), nil }
			return nil
		}, prefix + "Azure refused the token of the default Azure credential as expired or invalid (ExpiredAuthenticationToken: The access token expiry UTC time is earlier than current UTC time.)"},
		{"permission denied", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) []byte {
			authFile, appID := cloud.AzureServicePrincipal("hubploy", aksTenant)
			cloud.Deny(appID)
			return authFile
		}, prefix + "permission denied with the service principal of deployments/h/secrets/azure-sp.json (AuthorizationFailed: The client"},
		{"cluster not found", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) []byte {
			cloud.RemoveCluster(fakecloud.AKSName(cloud.AzureSubscriptions()[0], "rg", "c"))
			authFile, _ := cloud.AzureServicePrincipal("hubploy", aksTenant)
			return authFile
		}, prefix + "Azure has no AKS cluster c in resource group rg (ResourceNotFound: The Resource 'Microsoft.ContainerService/managedClusters/c' under resource group 'rg' was not found.) (fix its name or resource group)"},
		{"cluster in no subscription", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) []byte {
			cloud.RemoveCluster(fakecloud.AKSName(cloud.AzureSubscriptions()[0], "rg", "c"))
			cloud.AzureSubscription()
			authFile, _ := cloud.AzureServicePrincipal("hubploy", aksTenant)
			return authFile
		}, prefix + "AKS has no cluster c in resource group rg of subscription(s) "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cloud := fakecloud.New(t)
			cloud.AddCluster(fakecloud.AKSName(cloud.AzureSubscription(), "rg", "c"), newAPIServer(t).cluster())
			clouds := azureClouds(cloud)
			authFile := tc.setup(cloud, clouds)
			a, err := aksHub(t, authFile)(clouds)
			if err != nil {
				t.Fatal(err)
			}
			assertRefusedOnFirstUse(t, a, tc.want, authFile, cloud.Tokens())
		})
	}
}

func TestAKSBadInput(t *testing.T) {
	age := sopstest.NewKey(t)
	for _, tc := range []struct{ name, block, file, want string }{
		{"missing group", "{cluster: c}", "", `deployments/h/hubploy.yaml: key "cluster.azure.resource_group": is missing`},
		{"no principal in the file", "{resource_group: rg, cluster: c, auth_file: sp.json}", `{"appId": "a", "tenant": "t"}`,
			`deployments/h/secrets/sp.json: holds no service principal (appId, tenant and password) (key "cluster.azure.auth_file" in deployments/h/hubploy.yaml names it`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			if tc.file != "" {
				files["deployments/h/secrets/sp.json"] = sopstest.MustEncrypt(t, "sp.json", []byte(tc.file), age.Recipient)
			}
			_, err := cluster.ForHub(hub(t, "cluster:\n  provider: azure\n  azure: "+tc.block+"\n", files), "ns", &secrets.Decrypter{AgeIdentities: []string{age.Identity}}, cluster.Options{})
			if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
