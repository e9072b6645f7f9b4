package cloud

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"gopkg.in/yaml.v3"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// AzureOptions are the Azure SDK's options for the APIs.
func (c *APIs) AzureOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Cloud: c.Azure.Cloud, Transport: c.Client()}
}

// AzurePrincipal is the credential of a service principal file, 0.3's auth_file (as
// `az ad sp create-for-rbac` prints it: appId, tenant, password) or --sdk-auth's form
// (clientId, tenantId, clientSecret, subscriptionId); subscription is "" when the file
// names none. ok is false when the file holds no service principal.
func (c *APIs) AzurePrincipal(data []byte) (credential azcore.TokenCredential, subscription string, ok bool, err error) {
	tenant, client, secret, subscription := azurePrincipal(data)
	if tenant == "" || client == "" || secret == "" {
		return nil, "", false, nil
	}
	opts := &azidentity.ClientSecretCredentialOptions{ClientOptions: c.AzureOptions(), DisableInstanceDiscovery: c.privateAuthority()}
	credential, err = azidentity.NewClientSecretCredential(tenant, client, secret, opts)
	return credential, subscription, true, err
}

// privateAuthority is whether the Entra ID authority is another than the public
// cloud's: a sovereign or test authority is not Microsoft's to discover (instance
// discovery would ask login.microsoftonline.com about it).
func (c *APIs) privateAuthority() bool {
	host := c.Azure.Cloud.ActiveDirectoryAuthorityHost
	return host != "" && !sameURL(host, azcloud.AzurePublic.ActiveDirectoryAuthorityHost)
}

// AzurePrincipalSecret is the secret of a service principal file, for a masker.
func AzurePrincipalSecret(data []byte) string {
	_, _, secret, _ := azurePrincipal(data)
	return secret
}

// AzurePrincipalKeys are the keys of a service principal file's fields, in the form it
// is written in.
type AzurePrincipalKeys struct{ Tenant, ClientID, Secret string }

// AzurePrincipalKeysOf says which form of service principal file data is in.
func AzurePrincipalKeysOf(data []byte) AzurePrincipalKeys {
	var auth struct {
		AppID string `yaml:"appId"`
	}
	yaml.Unmarshal(data, &auth) // a file that is no YAML is in neither form
	if auth.AppID != "" {
		return AzurePrincipalKeys{Tenant: "tenant", ClientID: "appId", Secret: "password"}
	}
	return AzurePrincipalKeys{Tenant: "tenantId", ClientID: "clientId", Secret: "clientSecret"}
}

// azurePrincipal reads a service principal file in either form.
func azurePrincipal(data []byte) (tenant, client, secret, subscription string) {
	var auth struct {
		AppID          string `yaml:"appId"`
		Tenant         string `yaml:"tenant"`
		Password       string `yaml:"password"`
		ClientID       string `yaml:"clientId"`
		TenantID       string `yaml:"tenantId"`
		ClientSecret   string `yaml:"clientSecret"`
		SubscriptionID string `yaml:"subscriptionId"`
	}
	yaml.Unmarshal(data, &auth) // a file that is no YAML holds no service principal
	return cmp.Or(auth.Tenant, auth.TenantID), cmp.Or(auth.AppID, auth.ClientID), cmp.Or(auth.Password, auth.ClientSecret), auth.SubscriptionID
}

// AzurePrincipalHint says what a service principal file holds.
const AzurePrincipalHint = "write the output of `az ad sp create-for-rbac` there, sops-encrypted"

// AzureDefault is the environment's service principal, workload identity or managed
// identity: azidentity's default chain without its CLI credentials.
func (c *APIs) AzureDefault() (azcore.TokenCredential, error) {
	if c.Azure.DefaultCredential != nil {
		return c.Azure.DefaultCredential(c.AzureOptions())
	}
	opts := c.AzureOptions()
	private := c.privateAuthority()
	var chain []azcore.TokenCredential
	if cr, err := azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: private}); err == nil {
		chain = append(chain, cr)
	}
	if cr, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: private}); err == nil {
		chain = append(chain, cr)
	}
	if cr, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}); err == nil {
		chain = append(chain, cr)
	}
	return azidentity.NewChainedTokenCredential(chain, nil)
}

// AzureDefaultHint says where the default credential comes from.
const AzureDefaultHint = "set auth_file to a sops-encrypted service principal, or give the environment one (AZURE_CLIENT_ID, AZURE_TENANT_ID and a secret, a federated token or a managed identity)"

// AzureError says what went wrong asking Azure for subject (an AKS cluster's
// credentials, a registry's token), in one line naming the site and what to do:
// permission is what the principal needs. It quotes only Azure's messages, masked,
// never a secret or token.
func AzureError(site Site, err error, subject, permission string) error {
	var already *inputerr.Error
	if errors.As(err, &already) {
		return already
	}
	var af *azidentity.AuthenticationFailedError
	var re *azcore.ResponseError
	switch {
	case errors.As(err, &af):
		return site.inputError(fmt.Sprintf("Microsoft Entra ID refused %s (%s)", site.Who, site.Masker.String(entraMessage(af.RawResponse))),
			"the secret is wrong, expired or deleted: make a new one (az ad sp credential reset) and sops-encrypt it; or the federated token is not one the application's federated credential trusts")
	case errors.As(err, &re) && re.StatusCode == http.StatusUnauthorized:
		return site.inputError(fmt.Sprintf("Azure refused the token of %s as expired or invalid (%s)", site.Who, azureMessage(site, re)), "log in again, or renew the secret")
	case errors.As(err, &re) && re.StatusCode == http.StatusForbidden:
		return site.inputError(fmt.Sprintf("permission denied with %s (%s)", site.Who, azureMessage(site, re)), "give the principal "+permission)
	case errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
		return site.inputError(fmt.Sprintf("Azure has no %s (%s)", subject, azureMessage(site, re)), "fix its name or resource group")
	case errors.As(err, &re):
		return fmt.Errorf("%s: key %q: asking Azure for %s: HTTP %d %s", site.File, site.Key, subject, re.StatusCode, azureMessage(site, re))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL holds nothing secret, but says less than the cause
	}
	return fmt.Errorf("%s: key %q: asking Azure for %s: %v", site.File, site.Key, subject, site.Masker.Error(err))
}

// azureMessage is Resource Manager's (or a registry's) error code and message, masked.
func azureMessage(site Site, re *azcore.ResponseError) string {
	var body struct {
		Error  struct{ Code, Message string }
		Errors []struct{ Code, Message string } // a registry's
	}
	if re.RawResponse != nil {
		if data, err := runtime.Payload(re.RawResponse); err == nil {
			json.Unmarshal(data, &body)
		}
	}
	if len(body.Errors) > 0 {
		body.Error = body.Errors[0]
	}
	return site.Masker.String(strings.TrimSpace(cmp.Or(body.Error.Code, re.ErrorCode) + ": " + body.Error.Message))
}

// entraMessage is the first line of Entra ID's error description ("AADSTS7000215:
// Invalid client secret provided. …").
func entraMessage(resp *http.Response) string {
	var body struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if resp != nil {
		if data, err := runtime.Payload(resp); err == nil {
			json.Unmarshal(data, &body)
		}
	}
	line, _, _ := strings.Cut(body.ErrorDescription, "\r\n")
	return cmp.Or(line, body.Error)
}
