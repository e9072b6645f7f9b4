package main

import "dagger/hubploy/internal/dagger"

// WithGoogleCredentials sets the Google identity of the hubs whose cluster or
// registry block names no service key of its own (a keyless GKE cluster, GAR or GCR).
func (m *Hubploy) WithGoogleCredentials(
	// A Google credentials file: a service account's JSON key, or workload identity
	// federation's credential configuration (external_account) whose token source is
	// a URL.
	credentials *dagger.Secret,
) *Hubploy {
	m.GoogleCredentials = credentials
	return m
}

// WithAwsCredentials sets the AWS identity of the hubs whose cluster or registry block
// names no keys of its own (a role_arn in the block is assumed with it): access keys,
// or a web identity token (a CI job's OIDC token) exchanged for a role's credentials.
func (m *Hubploy) WithAwsCredentials(
	// The access key id.
	// +optional
	accessKeyId *dagger.Secret,
	// The secret access key.
	// +optional
	secretAccessKey *dagger.Secret,
	// The session token of temporary keys.
	// +optional
	sessionToken *dagger.Secret,
	// An OIDC token that STS exchanges for roleArn's credentials
	// (AssumeRoleWithWebIdentity), instead of keys.
	// +optional
	webIdentityToken *dagger.Secret,
	// The role webIdentityToken is exchanged for.
	// +optional
	roleArn string,
) *Hubploy {
	m.AwsAccessKeyID, m.AwsSecretAccessKey, m.AwsSessionToken, m.AwsWebIdentityToken, m.AwsRoleArn = accessKeyId, secretAccessKey, sessionToken, webIdentityToken, roleArn
	return m
}

// WithAzureCredentials sets the Azure identity of the hubs whose cluster or registry
// block names no auth_file of its own: a service principal, with its secret or a
// federated token (workload identity federation: a CI job's OIDC token).
func (m *Hubploy) WithAzureCredentials(
	// The service principal's tenant (directory) id.
	tenantId string,
	// The service principal's application (client) id.
	clientId string,
	// The service principal's secret.
	// +optional
	clientSecret *dagger.Secret,
	// An OIDC token the application's federated credential trusts, instead of a
	// secret.
	// +optional
	federatedToken *dagger.Secret,
) *Hubploy {
	m.AzureTenantID, m.AzureClientID, m.AzureClientSecret, m.AzureFederatedToken = tenantId, clientId, clientSecret, federatedToken
	return m
}

// WithCloudEndpoints sets where the clouds' APIs are, instead of the public clouds'
// own: private endpoints (Private Service Connect, VPC endpoints), sovereign clouds.
func (m *Hubploy) WithCloudEndpoints(
	// The GKE API's base URL.
	// +optional
	gke string,
	// Google's OAuth token endpoint, for credentials that name none.
	// +optional
	googleTokenUri string,
	// AWS STS's base URL.
	// +optional
	awsSts string,
	// Amazon EKS's base URL.
	// +optional
	awsEks string,
	// Amazon ECR's base URL.
	// +optional
	awsEcr string,
	// AWS KMS's base URL, for sops' AWS KMS keys.
	// +optional
	awsKms string,
	// Cloud KMS's base URL, for sops' GCP KMS keys.
	// +optional
	gcpKms string,
	// Microsoft Entra ID's authority host.
	// +optional
	azureAuthorityHost string,
	// Azure Resource Manager's URL.
	// +optional
	azureResourceManager string,
	// PEM certificates to trust besides the system's, for endpoints with a private CA.
	// +optional
	ca *dagger.File,
	// The host the endpoints name, as a service, when only the caller's host reaches
	// it (e.g. tcp://localhost:8443): reached as <serviceName>:<port>.
	// +optional
	service *dagger.Service,
	// The host name the endpoints give service; its certificate must carry it.
	// +optional
	serviceName string,
) *Hubploy {
	m.GKEEndpoint, m.GoogleTokenURI, m.GCPKMSEndpoint = gke, googleTokenUri, gcpKms
	m.AWSSTSEndpoint, m.AWSEKSEndpoint, m.AWSECREndpoint, m.AWSKMSEndpoint = awsSts, awsEks, awsEcr, awsKms
	m.AzureAuthorityHost, m.AzureResourceManager = azureAuthorityHost, azureResourceManager
	m.CloudCA, m.CloudService, m.CloudServiceName = ca, service, serviceName
	return m
}

// WithPgpKey adds an OpenPGP private key for sops' PGP-encrypted files.
func (m *Hubploy) WithPgpKey(
	// The private key, ASCII-armored (gpg --export-secret-keys --armor), without a
	// passphrase.
	key *dagger.Secret,
) *Hubploy {
	m.PgpKeys = append(m.PgpKeys, key)
	return m
}

// WithVaultToken sets the HashiCorp Vault token for sops' Vault transit keys (the
// address is each key's own).
func (m *Hubploy) WithVaultToken(
	// The token.
	token *dagger.Secret,
) *Hubploy {
	m.VaultToken = token
	return m
}
