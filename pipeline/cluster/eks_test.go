package cluster_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	cloudapi "github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

const eksRegion = "us-west-2"

func awsClouds(cloud *fakecloud.Cloud) *cloudapi.APIs {
	return &cloudapi.APIs{HTTPClient: cloud.Client(), AWS: cloudapi.AWSAPI{STSEndpoint: cloud.STSEndpoint(), EKSEndpoint: cloud.EKSEndpoint()}}
}

// v12Keys is the v1.2 fork's service_key: YAML with creds.
func v12Keys(id, secret string) []byte {
	return []byte("creds:\n  aws_access_key_id: " + id + "\n  aws_secret_access_key: " + secret + "\n")
}

// eksHub is a hub whose cluster is EKS cluster c in us-west-2, with block's other keys,
// and files under its secrets/ folder (sops-encrypted).
func eksHub(t *testing.T, block string, files map[string][]byte) func(clouds *cloudapi.APIs) (*cluster.Access, error) {
	t.Helper()
	age := sopstest.NewKey(t)
	encrypted := map[string][]byte{}
	for name, clear := range files {
		encrypted["deployments/h/secrets/"+name] = sopstest.MustEncrypt(t, name, clear, age.Recipient)
	}
	h := hub(t, "cluster:\n  provider: aws\n  aws: {region: "+eksRegion+", cluster: c, "+block+"}\n", encrypted)
	return func(clouds *cloudapi.APIs) (*cluster.Access, error) {
		return cluster.ForHub(h, "ns", &secrets.Decrypter{AgeIdentities: []string{age.Identity}}, cluster.Options{Clouds: clouds})
	}
}

// Keys from the sops file, in v1.2's YAML and 0.3's credentials file: DescribeCluster
// gives the endpoint and CA, and the API server gets aws-iam-authenticator's token,
// which stands for the keys' user.
func TestEKSKeys(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		keys       func(id, secret string) []byte
	}{
		{"v1.2 YAML", "aws-eks-creds.yaml", v12Keys},
		{"0.3 credentials file", "aws-eks-config.cfg", func(id, secret string) []byte {
			return []byte("[other]\naws_access_key_id = AKIAOTHER\n[default]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cloud := fakecloud.New(t)
			api := newAPIServer(t)
			cloud.AddCluster(fakecloud.EKSName(eksRegion, "c"), api.cluster())
			id, secret, arn := cloud.AWSUserKeys("deployer")
			keys := tc.keys(id, secret)
			a, err := eksHub(t, "service_key: "+tc.file, map[string][]byte{tc.file: keys})(awsClouds(cloud))
			if err != nil {
				t.Fatal(err)
			}
			if a.Server != "EKS cluster c in us-west-2" || a.Source != "deployments/h/secrets/"+tc.file {
				t.Errorf("got %+v", a)
			}
			rc, err := a.Getter.ToRESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			if rc.Host != api.URL || string(rc.CAData) != string(certPEM(api.Server)) {
				t.Errorf("host %q", rc.Host)
			}
			token := api.get(t, rc)
			if got := cloud.Principal(token); got != arn {
				t.Errorf("the token stands for %q, want %q", got, arn)
			}
			presigned, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, "k8s-aws-v1."))
			u, _ := url.Parse(string(presigned))
			if q := u.Query(); q.Get("Action") != "GetCallerIdentity" || q.Get("X-Amz-Expires") != "60" || q.Get("X-Amz-SignedHeaders") != "host;x-k8s-aws-id" {
				t.Errorf("presigned URL %s", u.Redacted())
			}
			assertNoSecret(t, strings.Join([]string{a.Server, a.Source, a.Identity}, "\n"), keys, nil)
		})
	}
}

// role_arn: the role is assumed with the default credentials, and the token is the
// role's session's. Neither role_arn nor service_key: the default credentials
// themselves (a web identity in CI).
func TestEKSDefaultCredentials(t *testing.T) {
	for _, tc := range []struct {
		name   string
		role   bool
		source string
	}{
		{"role", true, "role arn:aws:iam::111122223333:role/deployer assumed with the default AWS credentials"},
		{"default chain", false, "the default AWS credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cloud := fakecloud.New(t)
			api := newAPIServer(t)
			cloud.AddCluster(fakecloud.EKSName(eksRegion, "c"), api.cluster())
			id, secret, want := cloud.AWSUserKeys("ci")
			clouds := awsClouds(cloud)
			clouds.AWS.DefaultConfig = func(ctx context.Context, region string) (aws.Config, error) {
				return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")}, nil
			}
			block := ""
			if tc.role {
				role := cloud.AWSRole("deployer")
				block, want = "role_arn: "+role, fakecloud.AssumedRoleARN(role, "hubploy-cluster-auth")
			}
			a, err := eksHub(t, block, nil)(clouds)
			if err != nil {
				t.Fatal(err)
			}
			if a.Source != tc.source {
				t.Errorf("source %q", a.Source)
			}
			rc, err := a.Getter.ToRESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			if got := cloud.Principal(api.get(t, rc)); got != want {
				t.Errorf("the token stands for %q, want %q", got, want)
			}
		})
	}
}

// A token is made anew before its presigned URL's 15 minutes end.
func TestEKSRefreshBeforeExpiry(t *testing.T) {
	defer cluster.SetEKSTokenLifetime(cluster.EKSEarlyRefresh + time.Second)()
	cloud := fakecloud.New(t)
	api := newAPIServer(t)
	cloud.AddCluster(fakecloud.EKSName(eksRegion, "c"), api.cluster())
	id, secret, arn := cloud.AWSUserKeys("deployer")
	a, err := eksHub(t, "service_key: k.yaml", map[string][]byte{"k.yaml": v12Keys(id, secret)})(awsClouds(cloud))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := a.Getter.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	first, again := api.get(t, rc), api.get(t, rc)
	if first != again {
		t.Error("a token was made anew while it had a second to live")
	}
	time.Sleep(1100 * time.Millisecond)
	later := api.get(t, rc)
	if later == first || cloud.Principal(later) != arn {
		t.Error("the token was not made anew within a minute of its end")
	}
}

func TestEKSErrors(t *testing.T) {
	const prefix = `deployments/h/hubploy.yaml: key "cluster.aws": `
	for _, tc := range []struct {
		name  string
		setup func(cloud *fakecloud.Cloud, clouds *cloudapi.APIs) (block string, keys []byte)
		want  string
	}{
		{"wrong key id", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) (string, []byte) {
			return "service_key: k.yaml", v12Keys("AKIAUNKNOWN0000", "s3cr3t-secret-access-key")
		}, prefix + "AWS refused the keys of deployments/h/secrets/k.yaml as wrong (UnrecognizedClientException: The security token included in the request is invalid.) (the access key is wrong or deleted"},
		{"wrong secret", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) (string, []byte) {
			id, _, _ := cloud.AWSUserKeys("deployer")
			return "service_key: k.yaml", v12Keys(id, "s3cr3t-wrong-secret-access-key")
		}, prefix + "AWS refused the keys of deployments/h/secrets/k.yaml as wrong (InvalidSignatureException"},
		{"expired session", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) (string, []byte) {
			id, secret, token := cloud.AWSSessionKeys("deployer", time.Now().Add(-time.Minute))
			return "service_key: k.yaml", []byte("creds:\n  aws_access_key_id: " + id + "\n  aws_secret_access_key: " + secret + "\n  aws_session_token: " + token + "\n")
		}, prefix + "AWS refused the keys of deployments/h/secrets/k.yaml as expired (ExpiredTokenException"},
		{"permission denied", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) (string, []byte) {
			id, secret, arn := cloud.AWSUserKeys("deployer")
			cloud.Deny(arn)
			return "service_key: k.yaml", v12Keys(id, secret)
		}, prefix + "permission denied with the keys of deployments/h/secrets/k.yaml (User: arn:aws:iam::111122223333:user/deployer is not authorized to perform: eks:DescribeCluster"},
		{"role not assumable", func(cloud *fakecloud.Cloud, clouds *cloudapi.APIs) (string, []byte) {
			id, secret, arn := cloud.AWSUserKeys("ci")
			cloud.Deny(arn)
			clouds.AWS.DefaultConfig = func(ctx context.Context, region string) (aws.Config, error) {
				return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")}, nil
			}
			return "role_arn: " + cloud.AWSRole("deployer"), nil
		}, prefix + "permission denied with the role arn:aws:iam::111122223333:role/deployer (User: arn:aws:iam::111122223333:user/ci is not authorized to perform: sts:AssumeRole"},
		{"cluster not found", func(cloud *fakecloud.Cloud, _ *cloudapi.APIs) (string, []byte) {
			cloud.RemoveCluster(fakecloud.EKSName(eksRegion, "c"))
			id, secret, _ := cloud.AWSUserKeys("deployer")
			return "service_key: k.yaml", v12Keys(id, secret)
		}, prefix + "AWS has no EKS cluster c in us-west-2 (No cluster found for name: c.) (fix its name or region)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cloud := fakecloud.New(t)
			cloud.AddCluster(fakecloud.EKSName(eksRegion, "c"), newAPIServer(t).cluster())
			clouds := awsClouds(cloud)
			block, keys := tc.setup(cloud, clouds)
			files := map[string][]byte{}
			if keys != nil {
				files["k.yaml"] = keys
			}
			a, err := eksHub(t, block, files)(clouds)
			if err != nil {
				t.Fatal(err)
			}
			assertRefusedOnFirstUse(t, a, tc.want, keys, nil)
		})
	}
}

func TestEKSBadInput(t *testing.T) {
	for _, tc := range []struct{ name, block, file, want string }{
		{"missing region", "{cluster: c, role_arn: r}", "", `deployments/h/hubploy.yaml: key "cluster.aws.region": is missing`},
		{"no keys in the file", "{cluster: c, region: r, service_key: k.yaml}", "creds: {aws_access_key_id: AKIAONLY}\n", `deployments/h/secrets/k.yaml: holds no AWS access key (key "cluster.aws.service_key" in deployments/h/hubploy.yaml names it`},
		{"missing file", "{cluster: c, region: r, service_key: absent.yaml}", "", `deployments/h/secrets/absent.yaml: cannot read: it does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			age := sopstest.NewKey(t)
			if tc.file != "" {
				files["deployments/h/secrets/k.yaml"] = sopstest.MustEncrypt(t, "k.yaml", []byte(tc.file), age.Recipient)
			}
			_, err := cluster.ForHub(hub(t, "cluster:\n  provider: aws\n  aws: "+tc.block+"\n", files), "ns", &secrets.Decrypter{AgeIdentities: []string{age.Identity}}, cluster.Options{})
			if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
