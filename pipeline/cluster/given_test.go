package cluster_test

import (
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	cloudapi "github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/cluster"
)

// givenClouds are the fake clouds with only cr's credentials, as the Dagger module
// hands them over.
func givenClouds(cloud *fakecloud.Cloud, cr cloudapi.Credentials) *cloudapi.APIs {
	apis := &cloudapi.APIs{HTTPClient: cloud.Client(),
		Google: cloudapi.GoogleAPI{GKEEndpoint: cloud.GKEEndpoint()},
		AWS:    cloudapi.AWSAPI{STSEndpoint: cloud.STSEndpoint(), EKSEndpoint: cloud.EKSEndpoint()},
		Azure:  cloudapi.AzureAPI{Cloud: cloud.AzureCloud()}}
	cr.Source = "the Dagger module"
	cr.Hint = func(cloud string) string { return "pass them with with-" + strings.ToLower(cloud) + "-credentials" }
	return apis.WithCredentials(cr)
}

// keylessClusters are fake clouds that know a GKE, an EKS and an AKS cluster, all
// api, and the access of a keyless hub on the GKE one.
func keylessClusters(t *testing.T) (*fakecloud.Cloud, *apiServer, func(*cloudapi.APIs) (*cluster.Access, error)) {
	cloud := fakecloud.New(t)
	api := newAPIServer(t)
	for _, name := range []string{gkeName, fakecloud.EKSName(eksRegion, "c"), fakecloud.AKSName(cloud.AzureSubscription(), "rg", "c")} {
		cloud.AddCluster(name, api.cluster())
	}
	gkeOpts, gkeForHub := gkeHub(t, nil)
	return cloud, api, func(clouds *cloudapi.APIs) (*cluster.Access, error) {
		gkeOpts.Clouds = clouds
		return gkeForHub("ns")
	}
}

// Credentials handed over stand in for the default ones of a keyless hub: a Google
// service key or credentials file, AWS keys or a CI's web identity token for a role,
// an Azure service principal's secret or federated token. The API server is sent a
// token standing for the identity given.
func TestGivenCredentials(t *testing.T) {
	cloud, api, keylessGKE := keylessClusters(t)
	googleKey := cloud.GoogleServiceAccountKey(t, "ci@p.iam.gserviceaccount.com")
	id, secret, user := cloud.AWSUserKeys("ci")
	role := cloud.AWSRole("deployer")
	ciToken := cloud.OIDCToken("repo:hubploy/hubs:ref:refs/heads/staging")
	authFile, appID := cloud.AzureServicePrincipal("hubploy", aksTenant)
	federatedToken := cloud.OIDCToken("repo:hubploy/hubs:environment:prod")
	federatedApp := cloud.AzureFederatedPrincipal(aksTenant, federatedToken)

	for _, tc := range []struct {
		name    string
		forHub  func(*cloudapi.APIs) (*cluster.Access, error)
		given   cloudapi.Credentials
		want    string
		secrets []string
	}{
		{"GKE service key", keylessGKE,
			cloudapi.Credentials{GoogleJSON: googleKey}, "ci@p.iam.gserviceaccount.com", fakecloud.SecretValues(googleKey)},
		{"GKE workload identity federation", keylessGKE, cloudapi.Credentials{GoogleJSON: cloud.GoogleExternalAccount("repo:hubploy/hubs:ref:refs/heads/prod")},
			fakecloud.GoogleFederatedPrincipal("repo:hubploy/hubs:ref:refs/heads/prod"), nil},
		{"EKS keys", eksHub(t, "", nil), cloudapi.Credentials{AWS: &cloudapi.AWSCredentials{AccessKeyID: id, SecretAccessKey: secret}}, user, []string{secret}},
		{"EKS web identity", eksHub(t, "", nil), cloudapi.Credentials{AWS: &cloudapi.AWSCredentials{WebIdentityToken: ciToken, RoleARN: role}},
			fakecloud.AssumedRoleARN(role, cloudapi.SessionName), []string{ciToken}},
		{"AKS client secret", aksHub(t, nil), cloudapi.Credentials{Azure: &cloudapi.AzureCredentials{TenantID: aksTenant, ClientID: appID, ClientSecret: cloudapi.AzurePrincipalSecret(authFile)}},
			fakecloud.AKSUser("rg", "c"), []string{cloudapi.AzurePrincipalSecret(authFile)}},
		{"AKS federated token", aksHub(t, nil), cloudapi.Credentials{Azure: &cloudapi.AzureCredentials{TenantID: aksTenant, ClientID: federatedApp, FederatedToken: federatedToken}},
			fakecloud.AKSUser("rg", "c"), []string{federatedToken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.forHub(givenClouds(cloud, tc.given))
			if err != nil {
				t.Fatal(err)
			}
			rc, err := a.Getter.ToRESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			if got := cloud.Principal(api.get(t, rc)); got != tc.want {
				t.Errorf("the API server's token stands for %q, want %q", got, tc.want)
			}
			assertNoSecret(t, strings.Join([]string{a.Server, a.Source, a.Identity}, "\n"), nil, tc.secrets)
		})
	}
}

// Credentials missing for the hub's cloud, or refused by it: one line naming the hub's
// block, what is wrong and what to do; never the credential.
func TestGivenCredentialsRefused(t *testing.T) {
	cloud, _, keylessGKE := keylessClusters(t)
	staleToken := "eyJhbGciOiJSUzI1NiJ9.stale-ci-token"
	federatedApp := cloud.AzureFederatedPrincipal(aksTenant, cloud.OIDCToken("repo:hubploy/hubs:environment:prod"))
	const file = "deployments/h/hubploy.yaml: "
	for _, tc := range []struct {
		name   string
		forHub func(*cloudapi.APIs) (*cluster.Access, error)
		given  cloudapi.Credentials
		want   string
		secret string
	}{
		{"no Google credentials", keylessGKE, cloudapi.Credentials{},
			file + `key "cluster.gcloud": no Google credentials were given to the Dagger module (pass them with with-google-credentials)`, ""},
		{"no Google credentials file", keylessGKE, cloudapi.Credentials{GoogleJSON: []byte(`{"type": "external_account_authorized_user", "refresh_token": "1//s3cr3t"}`)},
			file + `key "cluster.gcloud": the Google credentials given to the Dagger module are no credentials file of a service account, user or external account`, "1//s3cr3t"},
		{"no AWS credentials", eksHub(t, "", nil), cloudapi.Credentials{},
			file + `key "cluster.aws": no AWS credentials were given to the Dagger module (pass them with with-aws-credentials)`, ""},
		{"web identity without a role", eksHub(t, "", nil), cloudapi.Credentials{AWS: &cloudapi.AWSCredentials{WebIdentityToken: staleToken}},
			file + `key "cluster.aws": the AWS web identity token given to the Dagger module has no role to assume (give the ARN of the role`, staleToken},
		{"web identity refused", eksHub(t, "", nil), cloudapi.Credentials{AWS: &cloudapi.AWSCredentials{WebIdentityToken: staleToken, RoleARN: cloud.AWSRole("deployer")}},
			file + `key "cluster.aws": AWS refused the web identity token of the default AWS credentials (InvalidIdentityToken: `, staleToken},
		{"no Azure credentials", aksHub(t, nil), cloudapi.Credentials{},
			file + `key "cluster.azure": no Azure credentials were given to the Dagger module (pass them with with-azure-credentials)`, ""},
		{"federated token refused", aksHub(t, nil), cloudapi.Credentials{Azure: &cloudapi.AzureCredentials{TenantID: aksTenant, ClientID: federatedApp, FederatedToken: staleToken}},
			file + `key "cluster.azure": Microsoft Entra ID refused the default Azure credential (AADSTS700213: `, staleToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.forHub(givenClouds(cloud, tc.given))
			if err != nil {
				t.Fatal(err)
			}
			var secrets []string
			if tc.secret != "" {
				secrets = append(secrets, tc.secret)
			}
			assertRefusedOnFirstUse(t, a, tc.want, nil, secrets)
		})
	}
}
