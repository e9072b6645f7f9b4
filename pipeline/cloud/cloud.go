// Package cloud is what hubploy's cloud cluster providers (pipeline/cluster) and
// registries share: where the clouds' APIs and ambient credentials are, and the AWS
// credentials, tokens and errors of both. No cloud CLI is run and no login is written:
// credentials stay in memory, each hub's apart.
package cloud

import (
	"context"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// APIs are the cloud APIs hubploy calls, and where it finds ambient credentials. The
// zero value is the real clouds and this process's credentials (read, never
// written); FromEnvironment adds the endpoints the environment names; tests point
// them at recorded exchanges.
type APIs struct {
	// HTTPClient carries every call to a cloud API and token endpoint; nil:
	// http.DefaultClient.
	HTTPClient *http.Client
	Google     GoogleAPI
	AWS        AWSAPI
	Azure      AzureAPI
}

// GoogleAPI is where hubploy reaches Google.
type GoogleAPI struct {
	// GKEEndpoint is the GKE API's base URL; "": Google's.
	GKEEndpoint string
	// TokenURI is the OAuth token endpoint of application default credentials that
	// name none; "": Google's.
	TokenURI string
	// KMSEndpoint is Cloud KMS's base URL; "": Google's.
	KMSEndpoint string
	// DefaultCredentials finds the Application Default Credentials (a keyless hub's);
	// nil: google.FindDefaultCredentialsWithParams, with TokenURI.
	DefaultCredentials func(ctx context.Context, scopes ...string) (*google.Credentials, error)
}

// AWSAPI is where hubploy reaches AWS.
type AWSAPI struct {
	// STSEndpoint, EKSEndpoint, ECREndpoint and KMSEndpoint are the services' base URLs; "": the
	// SDK's (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, else AWS's regional ones).
	STSEndpoint, EKSEndpoint, ECREndpoint, KMSEndpoint string
	// DefaultConfig loads the default credential chain (environment, shared files, web
	// identity, instance role), from which a role_arn is assumed; nil:
	// config.LoadDefaultConfig.
	DefaultConfig func(ctx context.Context, region string) (aws.Config, error)
}

// AzureAPI is where hubploy reaches Azure.
type AzureAPI struct {
	// Cloud is the Entra ID authority and Resource Manager endpoint; zero: the public
	// cloud's (azidentity's AZURE_AUTHORITY_HOST aside).
	Cloud azcloud.Configuration
	// DefaultCredential is the credential of a hub without auth_file; nil: the
	// environment's service principal, workload identity or managed identity (never a
	// CLI's login, which would mean running az).
	DefaultCredential func(opts azcore.ClientOptions) (azcore.TokenCredential, error)
	// ACREndpoint is where a registry's token exchange is; "": the registry itself.
	ACREndpoint string
}

// Client is the HTTP client of every call.
func (c *APIs) Client() *http.Client {
	if c.HTTPClient == nil {
		return http.DefaultClient
	}
	return c.HTTPClient
}

// TokenContext is the context token sources keep for their refreshes: it outlives any
// one call, and carries the HTTP client.
func (c *APIs) TokenContext() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, c.Client())
}

// GoogleDefaultCredentials are the Application Default Credentials for scopes
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, workload identity federation,
// the metadata server), never gcloud's own login.
func (c *APIs) GoogleDefaultCredentials(scopes ...string) (*google.Credentials, error) {
	if c.Google.DefaultCredentials != nil {
		return c.Google.DefaultCredentials(c.TokenContext(), scopes...)
	}
	return google.FindDefaultCredentialsWithParams(c.TokenContext(), google.CredentialsParams{Scopes: scopes, TokenURL: c.Google.TokenURI})
}
