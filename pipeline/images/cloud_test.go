package images_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/hubploy/hubploy/internal/registrytest"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// cloudRegistry is a test registry that takes only user and the password the fake
// cloud hands out, seen as host, and the fake cloud as hubploy reaches it.
type cloudRegistry struct {
	fake   *fakecloud.Cloud
	clouds *cloud.APIs
	host   string
	reg    *registrytest.Registry
}

func newCloudRegistry(t *testing.T, host, user string) *cloudRegistry {
	fake := fakecloud.New(t)
	const password = "eyJwYXlsb2FkIjoicmVnaXN0cnktcGFzc3dvcmQifQ"
	fake.SetRegistryPassword(password)
	return &cloudRegistry{fake: fake, host: host, reg: registrytest.Serve(t, user, password), clouds: &cloud.APIs{HTTPClient: fake.Client(),
		AWS:   cloud.AWSAPI{STSEndpoint: fake.STSEndpoint(), ECREndpoint: fake.ECREndpoint()},
		Azure: cloud.AzureAPI{Cloud: fake.AzureCloud(), ACREndpoint: fake.ACREndpoint()}}}
}

// hub is datahub with its two images in the registry, the first pushed, the given
// registry block, and its secret files sops-encrypted.
func (c *cloudRegistry) hub(t *testing.T, block string, files map[string][]byte) (*repo.Hub, *secrets.Decrypter) {
	key := sopstest.NewKey(t)
	h := registryHub(t, c.host, block)
	for name, clear := range files {
		path := h.Path("secrets", name)
		write(t, path, string(sopstest.MustEncrypt(t, path, clear, key.Recipient)))
	}
	imgs, err := images.Resolve(h, "staging")
	if err != nil {
		t.Fatal(err)
	}
	c.reg.Push(t, c.reg.Host+strings.TrimPrefix(imgs[0].Ref(), c.host))
	return h, &secrets.Decrypter{AgeIdentities: []string{key.Identity}}
}

// check asks the registry about the hub's images, as images list and the deploy's
// image check do.
func (c *cloudRegistry) check(t *testing.T, h *repo.Hub, dec *secrets.Decrypter) []images.Status {
	t.Helper()
	imgs, _ := images.Resolve(h, "staging")
	kc, err := images.KeychainWith(h, dec, c.clouds)
	if err != nil {
		t.Fatal(err)
	}
	return images.Check(context.Background(), imgs, kc, remote.WithTransport(fakecloud.RegistryAt(c.host, c.reg.Host)))
}

// present: the first image is there, the second is not, and neither is an error.
func present(t *testing.T, st []images.Status) {
	t.Helper()
	if !st[0].Exists || st[0].Err != nil || st[1].Exists || st[1].Err != nil {
		t.Fatalf("got %v %v, %v %v", st[0].Exists, st[0].Err, st[1].Exists, st[1].Err)
	}
}

// refused: every image fails with one line that starts with want and holds none of
// the secrets.
func refused(t *testing.T, st []images.Status, want string, secrets ...string) {
	t.Helper()
	for _, s := range st {
		if s.Err == nil || !inputerr.Is(s.Err) || !strings.HasPrefix(s.Err.Error(), want) || strings.Contains(s.Err.Error(), "\n") {
			t.Fatalf("got  %v\nwant %s", s.Err, want)
		}
		for _, secret := range secrets {
			if strings.Contains(s.Err.Error(), secret) {
				t.Fatalf("the error holds a secret (%.6s…): %v", secret, s.Err)
			}
		}
	}
}

const ecrRegistry = "111122223333.dkr.ecr.us-west-2.amazonaws.com"

// ECR with the keys of a sops file: GetAuthorizationToken's password opens the
// registry, asked once for both images; publish's builder gets the same login.
func TestECRKeys(t *testing.T) {
	isolate(t)
	c := newCloudRegistry(t, ecrRegistry, "AWS")
	id, secret, _ := c.fake.AWSUserKeys("ci")
	keys := []byte("creds:\n  aws_access_key_id: " + id + "\n  aws_secret_access_key: " + secret + "\n")
	h, dec := c.hub(t, "  registry:\n    provider: aws\n    aws: {account_id: '111122223333', region: us-west-2, service_key: ecr.yaml}\n", map[string][]byte{"ecr.yaml": keys})
	present(t, c.check(t, h, dec))
	if c.fake.Minted() != 1 {
		t.Errorf("ECR was asked %d times", c.fake.Minted())
	}
	kc, _ := images.KeychainWith(h, dec, c.clouds)
	if a, err := images.Auth(context.Background(), kc, images.Image{Name: ecrRegistry + "/datahub/user-image"}); err != nil || a.Username != "AWS" || a.Password == "" {
		t.Errorf("publish's login: %v", err)
	}
	if a, err := images.Auth(context.Background(), kc, images.Image{Name: "quay.io/datahub/user-image"}); err != nil || a.Password != "" {
		t.Errorf("the ECR password went to another registry (%v)", err)
	}
}

// ECR with neither keys nor a role: the default credentials (a web identity in CI);
// with role_arn, the role assumed with them.
func TestECRDefaultCredentials(t *testing.T) {
	isolate(t)
	for _, block := range []string{"{region: us-west-2}", "{region: us-west-2, role_arn: 'arn:aws:iam::111122223333:role/pusher'}"} {
		t.Run(block, func(t *testing.T) {
			c := newCloudRegistry(t, ecrRegistry, "AWS")
			id, secret, _ := c.fake.AWSUserKeys("ci")
			c.clouds.AWS.DefaultConfig = func(ctx context.Context, region string) (aws.Config, error) {
				return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")}, nil
			}
			h, dec := c.hub(t, "  registry:\n    provider: aws\n    aws: "+block+"\n", nil)
			present(t, c.check(t, h, dec))
		})
	}
}

// Wrong keys, and an identity without ecr:GetAuthorizationToken: one line naming the
// block, without the secret.
func TestECRErrors(t *testing.T) {
	isolate(t)
	const prefix = `deployments/datahub/hubploy.yaml: key "images.registry.aws": `
	for _, tc := range []struct {
		name string
		keys func(fake *fakecloud.Cloud) (id, secret string)
		want string
	}{
		{"wrong key", func(*fakecloud.Cloud) (string, string) { return "AKIAUNKNOWN", "s3cr3t-secret-access-key" },
			prefix + "AWS refused the keys of deployments/datahub/secrets/ecr.cfg as wrong (UnrecognizedClientException"},
		{"permission denied", func(fake *fakecloud.Cloud) (string, string) {
			id, secret, arn := fake.AWSUserKeys("ci")
			fake.Deny(arn)
			return id, secret
		}, prefix + "permission denied with the keys of deployments/datahub/secrets/ecr.cfg (User: arn:aws:iam::111122223333:user/ci is not authorized to perform: ecr:GetAuthorizationToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloudRegistry(t, ecrRegistry, "AWS")
			id, secret := tc.keys(c.fake)
			h, dec := c.hub(t, "  registry:\n    provider: aws\n    aws: {region: us-west-2, service_key: ecr.cfg}\n",
				map[string][]byte{"ecr.cfg": []byte("[default]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n")})
			refused(t, c.check(t, h, dec), tc.want, secret)
		})
	}
}

// ACR with 0.3's service principal file, or the default credential (a workload
// identity): the Entra token exchanged at the registry for its refresh token.
func TestACR(t *testing.T) {
	isolate(t)
	const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	for _, auth := range []string{"auth_file", "default credential"} {
		t.Run(auth, func(t *testing.T) {
			c := newCloudRegistry(t, "hubs.azurecr.io", "00000000-0000-0000-0000-000000000000")
			authFile, _ := c.fake.AzureServicePrincipal("pusher", tenant)
			block, files := "{registry: hubs, auth_file: sp.json}", map[string][]byte{"sp.json": authFile}
			if auth != "auth_file" {
				var sp struct{ AppID, Password string }
				json.Unmarshal(authFile, &sp)
				c.clouds.Azure.DefaultCredential = func(opts azcore.ClientOptions) (azcore.TokenCredential, error) {
					return azidentity.NewClientSecretCredential(tenant, sp.AppID, sp.Password, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
				}
				block, files = "{registry: hubs}", nil
			}
			h, dec := c.hub(t, "  registry:\n    provider: azure\n    azure: "+block+"\n", files)
			present(t, c.check(t, h, dec))
			kc, _ := images.KeychainWith(h, dec, c.clouds)
			if a, err := images.Auth(context.Background(), kc, images.Image{Name: "otherhubs.azurecr.io/img"}); err != nil || a.Password != "" {
				t.Errorf("the registry's token went to another registry (%v)", err)
			}
		})
	}
}

// A wrong secret, and a file that holds no service principal.
func TestACRErrors(t *testing.T) {
	isolate(t)
	c := newCloudRegistry(t, "hubs.azurecr.io", "00000000-0000-0000-0000-000000000000")
	_, appID := c.fake.AzureServicePrincipal("pusher", "t")
	const wrong = "Q~not-the-secret-of-the-principal"
	h, dec := c.hub(t, "  registry:\n    provider: azure\n    azure: {registry: hubs, auth_file: sp.json}\n",
		map[string][]byte{"sp.json": []byte(fmt.Sprintf(`{"appId": %q, "password": %q, "tenant": "t"}`, appID, wrong))})
	refused(t, c.check(t, h, dec), `deployments/datahub/hubploy.yaml: key "images.registry.azure": Microsoft Entra ID refused the service principal of deployments/datahub/secrets/sp.json (AADSTS7000215: Invalid client secret provided.`, wrong)

	h, dec = c.hub(t, "  registry:\n    provider: azure\n    azure: {registry: hubs, auth_file: sp.json}\n", map[string][]byte{"sp.json": []byte(`{"appId": "app-id"}`)})
	if _, err := images.KeychainWith(h, dec, c.clouds); err == nil || !strings.HasPrefix(err.Error(), "deployments/datahub/secrets/sp.json: holds no service principal (appId, tenant and password)") {
		t.Errorf("bad service principal file: %v", err)
	}
}

// Google's registries with the application default credentials (a keyless hub): their
// access token is the password of the user _token.
func TestGARKeyless(t *testing.T) {
	isolate(t)
	fake := fakecloud.New(t)
	token := fake.UserToken("ci@hubploy-test.iam.gserviceaccount.com")
	c := &cloudRegistry{fake: fake, host: "us-docker.pkg.dev", reg: registrytest.Serve(t, "_token", token), clouds: &cloud.APIs{Google: cloud.GoogleAPI{
		DefaultCredentials: func(context.Context, ...string) (*google.Credentials, error) {
			return &google.Credentials{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})}, nil
		}}}}
	h, dec := c.hub(t, "  registry:\n    provider: gcloud\n    gcloud: {project: hubploy-test}\n", nil)
	present(t, c.check(t, h, dec))
}
