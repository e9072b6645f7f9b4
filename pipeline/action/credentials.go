package action

import (
	"context"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/oauth2"

	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// Credentials are what a caller (the Dagger module) hands over instead of this
// process's environment: the clouds' identities, which also open sops' KMS keys, and
// sops' PGP keys and Vault token.
type Credentials struct {
	Clouds cloud.Credentials
	// PGPKeys are ASCII-armored OpenPGP private keys.
	PGPKeys []string
	// VaultToken is a HashiCorp Vault token, for sops' Vault transit keys.
	VaultToken string
}

// gcpKMSScope is the OAuth scope of Cloud KMS.
const gcpKMSScope = "https://www.googleapis.com/auth/cloudkms"

// keys are the credentials of sops' key services: the ones given, and the clouds'
// as clouds (with the given credentials) hands them out. A cloud's that cannot be
// made fails when a key of that cloud is tried, not before.
func (cr *Credentials) keys(clouds *cloud.APIs) *secrets.KeyCredentials {
	k := &secrets.KeyCredentials{PGPKeys: cr.PGPKeys, VaultToken: cr.VaultToken, HTTPClient: clouds.Client(),
		GCPKMSEndpoint: clouds.Google.KMSEndpoint, AWSKMSEndpoint: clouds.AWS.KMSEndpoint, AWSSTSEndpoint: clouds.AWS.STSEndpoint}
	if cr.Clouds.GoogleJSON != nil {
		creds, err := clouds.GoogleDefaultCredentials(gcpKMSScope)
		k.GoogleTokenSource = failed{err}
		if err == nil {
			k.GoogleTokenSource = creds.TokenSource
		}
	}
	if cr.Clouds.AWS != nil {
		// STS's global region, for a web identity's exchange; KMS signs with the key's.
		cfg, err := clouds.AWS.DefaultConfig(context.Background(), "us-east-1")
		k.AWS = failed{err}
		if err == nil {
			k.AWS = cfg.Credentials
		}
	}
	if cr.Clouds.Azure != nil {
		credential, err := clouds.AzureDefault()
		k.Azure = failed{err}
		if err == nil {
			k.Azure = credential
		}
	}
	return k
}

// failed is a credential that could not be made, in the forms sops' key services
// take: each attempt fails with why.
type failed struct{ err error }

func (f failed) Token() (*oauth2.Token, error)                     { return nil, f.err }
func (f failed) Retrieve(context.Context) (aws.Credentials, error) { return aws.Credentials{}, f.err }
func (f failed) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, f.err
}
