package registry

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/hubploy/hubploy/pipeline/cloud"
)

// acrUser is the user whose password is a refresh token ACR gave.
const acrUser = "00000000-0000-0000-0000-000000000000"

// acrEarlyRenewal is how long before the Entra token ends the refresh token made of it
// is exchanged anew.
const acrEarlyRenewal = 5 * time.Minute

// ACR logs in to an Azure container registry with an Entra token, as `az acr login`
// does: the registry's /oauth2/exchange turns the token into a refresh token, the
// password of the user 00000000-0000-0000-0000-000000000000. With it a service
// principal file or the default credential (a workload identity) reach the registry.
// It is an authn.Authenticator.
type ACR struct {
	renewing
	apis       *cloud.APIs
	site       cloud.Site
	host       string // <registry>.azurecr.io
	credential azcore.TokenCredential
}

// NewACR is the authenticator of credential for the registry at host.
func NewACR(apis *cloud.APIs, site cloud.Site, host string, credential azcore.TokenCredential) *ACR {
	a := &ACR{apis: apis, site: site, host: host, credential: credential}
	a.renewing = renewing{early: acrEarlyRenewal, login: a.exchange}
	return a
}

func (a *ACR) exchange(ctx context.Context) (*authn.AuthConfig, time.Time, error) {
	subject := "a token of the registry " + a.host
	arm := a.apis.Azure.Cloud.Services[azcloud.ResourceManager]
	audience := cmp.Or(arm.Audience, azcloud.AzurePublic.Services[azcloud.ResourceManager].Audience)
	tok, err := a.credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{audience + "/.default"}})
	if err != nil {
		return nil, time.Time{}, cloud.AzureError(a.site, err, subject, "the AcrPull role on the registry")
	}
	form := url.Values{"grant_type": {"access_token"}, "service": {a.host}, "access_token": {tok.Token}}
	req, err := runtime.NewRequest(ctx, http.MethodPost, cmp.Or(a.apis.Azure.ACREndpoint, "https://"+a.host)+"/oauth2/exchange")
	if err == nil {
		err = req.SetBody(streaming.NopCloser(strings.NewReader(form.Encode())), "application/x-www-form-urlencoded")
	}
	if err != nil {
		return nil, time.Time{}, err // no request to make: nothing the user can change
	}
	options := a.apis.AzureOptions()
	resp, err := runtime.NewPipeline("hubploy", "v1.0.0", runtime.PipelineOptions{}, &options).Do(req)
	if err == nil && !runtime.HasStatusCode(resp, http.StatusOK) {
		err = runtime.NewResponseError(resp)
	}
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err == nil {
		err = runtime.UnmarshalAsJSON(resp, &body)
	}
	if err != nil {
		return nil, time.Time{}, cloud.AzureError(a.site, err, subject, "the AcrPull role on the registry")
	}
	return &authn.AuthConfig{Username: acrUser, Password: body.RefreshToken}, tok.ExpiresOn, nil
}
