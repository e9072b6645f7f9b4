package registry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hubploy/hubploy/internal/registrytest"
	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/cloud/registry"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
)

// cloudRegistry is a fake cloud that hands out password for its registry, and a
// registry holding one image that takes only user with that password.
func cloudRegistry(t *testing.T, user, password string) (*fakecloud.Cloud, name.Reference) {
	t.Helper()
	fake := fakecloud.New(t)
	fake.SetRegistryPassword(password)
	reg := registrytest.Serve(t, user, password)
	reg.Push(t, reg.Host+"/datahub/user-image:abc1234")
	ref, err := name.ParseReference(reg.Host + "/datahub/user-image:abc1234")
	if err != nil {
		t.Fatal(err)
	}
	return fake, ref
}

// ecrFixture is a registry that takes the user AWS with the password ECR hands out,
// holding one image, and the fake AWS.
func ecrFixture(t *testing.T) (*fakecloud.Cloud, *cloud.APIs, name.Reference) {
	t.Helper()
	fake, ref := cloudRegistry(t, "AWS", "eyJwYXlsb2FkIjoiZWNyLXBhc3N3b3JkIn0")
	apis := &cloud.APIs{HTTPClient: fake.Client(), AWS: cloud.AWSAPI{STSEndpoint: fake.STSEndpoint(), ECREndpoint: fake.ECREndpoint()}}
	return fake, apis, ref
}

func site(who string, secrets ...string) cloud.Site {
	return cloud.Site{File: "deployments/h/hubploy.yaml", Key: "images.registry.aws", Who: who, Masker: mask.New(secrets)}
}

// The keys' password opens the registry, and is asked once while it lasts.
func TestECRKeys(t *testing.T) {
	fake, apis, ref := ecrFixture(t)
	id, secret, _ := fake.AWSUserKeys("ci")
	keys, secrets, ok := cloud.AWSKeys([]byte("[default]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n"))
	if !ok {
		t.Fatal("the credentials file was not read")
	}
	ecr := registry.NewECR(apis, site("the keys of k.cfg", secrets...), "us-west-2", keys, "")
	for range 2 {
		if _, err := remote.Head(ref, remote.WithAuth(ecr)); err != nil {
			t.Fatal(err)
		}
	}
	if fake.Minted() != 1 {
		t.Errorf("ECR was asked %d times", fake.Minted())
	}
}

// A role assumed with the default credentials.
func TestECRRole(t *testing.T) {
	fake, apis, ref := ecrFixture(t)
	id, secret, _ := fake.AWSUserKeys("ci")
	apis.AWS.DefaultConfig = func(ctx context.Context, region string) (aws.Config, error) {
		return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")}, nil
	}
	role := fake.AWSRole("pusher")
	if _, err := remote.Head(ref, remote.WithAuth(registry.NewECR(apis, site("the role "+role), "us-west-2", nil, role))); err != nil {
		t.Fatal(err)
	}
}

// Neither keys nor a role: the default credentials themselves (a web identity in CI).
func TestECRDefaultCredentials(t *testing.T) {
	fake, apis, ref := ecrFixture(t)
	id, secret, _ := fake.AWSUserKeys("ci")
	apis.AWS.DefaultConfig = func(ctx context.Context, region string) (aws.Config, error) {
		return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")}, nil
	}
	if _, err := remote.Head(ref, remote.WithAuth(registry.NewECR(apis, site("the default AWS credentials"), "us-west-2", nil, ""))); err != nil {
		t.Fatal(err)
	}
}

func TestECRErrors(t *testing.T) {
	const prefix = `deployments/h/hubploy.yaml: key "images.registry.aws": `
	for _, tc := range []struct {
		name string
		keys func(fake *fakecloud.Cloud) (id, secret string)
		want string
	}{
		{"wrong key", func(*fakecloud.Cloud) (string, string) { return "AKIAUNKNOWN", "s3cr3t-secret-access-key" },
			prefix + "AWS refused the keys of k.cfg as wrong (UnrecognizedClientException: The security token included in the request is invalid.)"},
		{"permission denied", func(fake *fakecloud.Cloud) (string, string) {
			id, secret, arn := fake.AWSUserKeys("ci")
			fake.Deny(arn)
			return id, secret
		}, prefix + "permission denied with the keys of k.cfg (User: arn:aws:iam::111122223333:user/ci is not authorized to perform: ecr:GetAuthorizationToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, apis, _ := ecrFixture(t)
			id, secret := tc.keys(fake)
			_, err := registry.NewECR(apis, site("the keys of k.cfg", secret), "us-west-2", credentials.NewStaticCredentialsProvider(id, secret, ""), "").Authorization()
			if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), secret) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
