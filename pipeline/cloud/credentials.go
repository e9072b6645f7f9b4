package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"golang.org/x/oauth2/google"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// Credentials are the clouds' identities handed over by a caller (the Dagger module's
// Secrets) instead of the ones this process's environment holds. They stand in for
// the default credentials: a hub (or registry) whose hubploy.yaml names a key of its
// own still uses that key.
type Credentials struct {
	// GoogleJSON is a Google credentials file: a service account key, or workload
	// identity federation's external_account configuration.
	GoogleJSON []byte
	AWS        *AWSCredentials
	Azure      *AzureCredentials
	// Source names where they come from, and Hint says how to give a cloud's
	// ("Google", "AWS", "Azure") that are missing, for errors.
	Source string
	Hint   func(cloud string) string
}

// AWSCredentials are access keys, or a web identity token exchanged for a role's.
type AWSCredentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	// WebIdentityToken is an OIDC token (a CI job's) that STS exchanges for RoleARN's
	// credentials (AssumeRoleWithWebIdentity).
	WebIdentityToken, RoleARN string
}

// AzureCredentials are a service principal's: its secret, or a federated token (a CI
// job's OIDC token, workload identity federation).
type AzureCredentials struct {
	TenantID, ClientID           string
	ClientSecret, FederatedToken string
}

// googleCredentialTypes are the credentials files a caller may hand over: those that
// name no command to run and no file to read.
var googleCredentialTypes = []google.CredentialsType{google.ServiceAccount, google.AuthorizedUser, google.ExternalAccount, google.ImpersonatedServiceAccount}

// WithCredentials is a copy of c whose default credentials are cr's: a cloud cr has
// none for is refused, never looked up in the environment.
func (c *APIs) WithCredentials(cr Credentials) *APIs {
	out := *c
	missing := func(cloud string) error {
		return &inputerr.Error{Msg: "no " + cloud + " credentials were given to " + cr.Source, Hint: cr.Hint(cloud)}
	}
	out.Google.DefaultCredentials = func(ctx context.Context, scopes ...string) (*google.Credentials, error) {
		if cr.GoogleJSON == nil {
			return nil, missing("Google")
		}
		var head struct {
			Type google.CredentialsType `json:"type"`
		}
		if json.Unmarshal(cr.GoogleJSON, &head) != nil || !slices.Contains(googleCredentialTypes, head.Type) {
			return nil, &inputerr.Error{Msg: "the Google credentials given to " + cr.Source + " are no credentials file of a service account, user or external account",
				Hint: "give the JSON key of a service account, or workload identity federation's credential configuration (gcloud iam workload-identity-pools create-cred-config)"}
		}
		return google.CredentialsFromJSONWithTypeAndParams(ctx, cr.GoogleJSON, head.Type, google.CredentialsParams{Scopes: scopes, TokenURL: c.Google.TokenURI})
	}
	out.AWS.DefaultConfig = func(ctx context.Context, region string) (aws.Config, error) {
		a := cr.AWS
		if a == nil {
			return aws.Config{}, missing("AWS")
		}
		cfg := aws.Config{Region: region, HTTPClient: c.Client()}
		if a.WebIdentityToken == "" {
			if a.AccessKeyID == "" || a.SecretAccessKey == "" {
				return aws.Config{}, &inputerr.Error{Msg: "the AWS credentials given to " + cr.Source + " lack the access key id or the secret access key", Hint: cr.Hint("AWS")}
			}
			cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(a.AccessKeyID, a.SecretAccessKey, a.SessionToken))
			return cfg, nil
		}
		if a.RoleARN == "" {
			return aws.Config{}, &inputerr.Error{Msg: "the AWS web identity token given to " + cr.Source + " has no role to assume", Hint: "give the ARN of the role whose trust policy names the token's identity provider"}
		}
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewWebIdentityRoleProvider(out.STS(cfg), a.RoleARN, webIdentityToken(a.WebIdentityToken),
			func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = SessionName }))
		return cfg, nil
	}
	out.Azure.DefaultCredential = func(opts azcore.ClientOptions) (azcore.TokenCredential, error) {
		a := cr.Azure
		switch {
		case a == nil:
			return nil, missing("Azure")
		case a.FederatedToken != "":
			return azidentity.NewClientAssertionCredential(a.TenantID, a.ClientID, func(context.Context) (string, error) { return a.FederatedToken, nil },
				&azidentity.ClientAssertionCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: c.privateAuthority()})
		case a.ClientSecret != "":
			return azidentity.NewClientSecretCredential(a.TenantID, a.ClientID, a.ClientSecret,
				&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: c.privateAuthority()})
		}
		return nil, errors.New("the Azure credentials given to " + cr.Source + " have neither a client secret nor a federated token")
	}
	return &out
}

// webIdentityToken hands STS a token held in memory.
type webIdentityToken string

func (t webIdentityToken) GetIdentityToken() ([]byte, error) { return []byte(t), nil }

// Given is err, if it is WithCredentials' refusal of missing or unusable credentials,
// placed at the hub's block (file, key) that needed them; nil for any other error,
// which the caller explains with its own hint.
func Given(err error, file, key string) error {
	var ie *inputerr.Error
	if !errors.As(err, &ie) || ie.File != "" {
		return nil
	}
	return &inputerr.Error{File: file, Key: key, Msg: ie.Msg, Hint: ie.Hint, Err: err}
}
