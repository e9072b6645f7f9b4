package registry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/cloud/registry"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
)

// acrFixture is a registry that takes ACR's exchanged token user with the refresh
// token the exchange hands out, holding one image, and the fake Azure.
func acrFixture(t *testing.T) (*fakecloud.Cloud, *cloud.APIs, name.Reference) {
	t.Helper()
	fake, ref := cloudRegistry(t, "00000000-0000-0000-0000-000000000000", "eyJhbGciOiJSUzI1NiJ9.acr-refresh-token")
	return fake, &cloud.APIs{HTTPClient: fake.Client(), Azure: cloud.AzureAPI{Cloud: fake.AzureCloud(), ACREndpoint: fake.ACREndpoint()}}, ref
}

// A service principal file's credential opens the registry; its refresh token is
// exchanged once while the Entra token lasts.
func TestACRServicePrincipal(t *testing.T) {
	fake, apis, ref := acrFixture(t)
	authFile, _ := fake.AzureServicePrincipal("pusher", "72f988bf-86f1-41af-91ab-2d7cd011db47")
	credential, _, ok, err := apis.AzurePrincipal(authFile)
	if !ok || err != nil {
		t.Fatalf("the service principal file was not read: %v", err)
	}
	acr := registry.NewACR(apis, cloud.Site{File: "h.yaml", Key: "images.registry.azure", Who: "sp", Masker: mask.New(nil)}, "hubs.azurecr.io", credential)
	for range 2 {
		if _, err := remote.Head(ref, remote.WithAuth(acr)); err != nil {
			t.Fatal(err)
		}
	}
	if fake.Minted() != 2 { // an Entra token, a refresh token
		t.Errorf("%d tokens were handed out", fake.Minted())
	}
}

// tokenCredential is an ambient credential holding one token.
type tokenCredential string

func (c tokenCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(c), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// A token the registry refuses is said in one line, without it.
func TestACRRefusedToken(t *testing.T) {
	_, apis, _ := acrFixture(t)
	const token = "eyJ0eXAiOiJKV1Qi.not-handed-out"
	_, err := registry.NewACR(apis, cloud.Site{File: "deployments/h/hubploy.yaml", Key: "images.registry.azure", Who: "the default Azure credential", Masker: mask.New(nil)},
		"hubs.azurecr.io", tokenCredential(token)).Authorization()
	want := `deployments/h/hubploy.yaml: key "images.registry.azure": Azure refused the token of the default Azure credential as expired or invalid (UNAUTHORIZED: authentication required`
	if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}
