package cloud

import (
	"cmp"
	"strings"

	// Fills in the Resource Manager endpoints and audiences of azcloud's clouds.
	_ "github.com/Azure/azure-sdk-for-go/sdk/azcore/arm/runtime"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

// The environment variables hubploy reads for the clouds' endpoints where the clouds'
// SDKs read none of their own: private endpoints (Private Service Connect) and
// sovereign clouds. AWS's endpoints come from the SDK's own AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>, Entra ID's from AZURE_AUTHORITY_HOST, and a private CA
// from SSL_CERT_FILE.
const (
	// EnvGKEEndpoint is the GKE API's base URL.
	EnvGKEEndpoint = "HUBPLOY_GKE_ENDPOINT"
	// EnvGoogleTokenURI is Google's OAuth token endpoint, for application default
	// credentials that name none (a service key's token_uri wins).
	EnvGoogleTokenURI = "HUBPLOY_GOOGLE_TOKEN_URI"
	// EnvAzureResourceManager is Azure Resource Manager's URL: Azure China's or US
	// Government's take their Entra ID authority and audience with them.
	EnvAzureResourceManager = "HUBPLOY_AZURE_RESOURCE_MANAGER"
	// EnvAzureAuthorityHost is Entra ID's authority host: azidentity's own variable.
	EnvAzureAuthorityHost = "AZURE_AUTHORITY_HOST"
)

// FromEnvironment is the real clouds as getenv's variables (os.Getenv: this
// process's) point at them: what hubploy uses when nothing else is given. It only
// reads.
func FromEnvironment(getenv func(string) string) *APIs {
	apis := &APIs{Google: GoogleAPI{GKEEndpoint: getenv(EnvGKEEndpoint), TokenURI: getenv(EnvGoogleTokenURI)}}
	arm, authority := getenv(EnvAzureResourceManager), getenv(EnvAzureAuthorityHost)
	if arm != "" || authority != "" {
		// A whole configuration: the SDK refuses one without Resource Manager.
		base := azcloud.AzurePublic
		for _, known := range []azcloud.Configuration{azcloud.AzureChina, azcloud.AzureGovernment} {
			if sameURL(known.Services[azcloud.ResourceManager].Endpoint, arm) {
				base = known
			}
		}
		rm := base.Services[azcloud.ResourceManager]
		rm.Endpoint = cmp.Or(arm, rm.Endpoint)
		apis.Azure.Cloud = azcloud.Configuration{ActiveDirectoryAuthorityHost: cmp.Or(authority, base.ActiveDirectoryAuthorityHost),
			Services: map[azcloud.ServiceName]azcloud.ServiceConfiguration{azcloud.ResourceManager: rm}}
	}
	return apis
}

func sameURL(a, b string) bool { return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/") }
