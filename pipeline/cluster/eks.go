package cluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/oauth2"
	"k8s.io/client-go/rest"

	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// eksTokenLifetime is how long the API server takes a presigned GetCallerIdentity URL
// (aws-iam-authenticator's 15 minutes); a token is made anew eksEarlyRefresh before.
// A variable for the tests.
var eksTokenLifetime = 15 * time.Minute

const (
	eksKey          = "cluster.aws"
	eksEarlyRefresh = time.Minute
)

// eksCluster is an EKS cluster reached with the keys of a sops file (service_key: v1.2's
// YAML or 0.3's credentials file), by assuming role_arn with the default credentials,
// or, with neither, with the default credentials themselves (a web identity in CI).
type eksCluster struct {
	cluster, region, roleARN string
	keyFile                  string // "" with role_arn or the default credentials
	keyPaths                 cloud.AWSKeyPaths
	keys                     aws.CredentialsProvider
	site                     cloud.Site
	clouds                   *cloud.APIs
}

func newEKS(h *repo.Hub, dec *secrets.Decrypter, clouds *cloud.APIs) (cloudProvider, []byte, error) {
	b := h.Config.Cluster.AWS
	if err := requireFields(h, eksKey, "name the EKS cluster by region and cluster", [2]string{"cluster", b.Cluster}, [2]string{"region", b.Region}); err != nil {
		return nil, nil, err
	}
	e := &eksCluster{cluster: b.Cluster, region: b.Region, roleARN: b.RoleARN, clouds: clouds,
		site: cloud.Site{File: h.Config.File, Key: eksKey, Who: "the default AWS credentials", Masker: mask.New(nil)}}
	if b.RoleARN != "" {
		e.site.Who, e.site.AssumesRole = "the role "+b.RoleARN, true
	}
	if b.ServiceKey == "" {
		return e, []byte(b.RoleARN), nil
	}
	data, display, err := readHubSecret(h, dec, eksKey+".service_key", b.ServiceKey, "the AWS keys", "")
	if err != nil {
		return nil, nil, err
	}
	keys, secrets, ok := cloud.AWSKeys(data)
	if !ok {
		return nil, nil, &inputerr.Error{File: display, Msg: "holds no AWS access key",
			Hint: fmt.Sprintf("key %q in %s names it; %s", eksKey+".service_key", h.Config.File, cloud.AWSKeysHint)}
	}
	e.keyFile, e.keys, e.keyPaths = display, keys, cloud.AWSKeyPathsOf(data)
	e.site.Who, e.site.Masker = "the keys of "+display, mask.New(secrets)
	return e, data, nil
}

func (e *eksCluster) describe() (string, string) {
	name := "EKS cluster " + e.cluster + " in " + e.region
	switch {
	case e.keyFile != "":
		return name, e.keyFile
	case e.roleARN != "":
		return name, "role " + e.roleARN + " assumed with the default AWS credentials"
	}
	return name, "the default AWS credentials"
}

func (e *eksCluster) login() []string {
	var lines []string
	if e.keyFile != "" {
		lines = append(lines, "export AWS_ACCESS_KEY_ID="+sopsExtract(e.keyFile, e.keyPaths.ID)+" AWS_SECRET_ACCESS_KEY="+sopsExtract(e.keyFile, e.keyPaths.Secret))
		if e.keyPaths.SessionToken != "" {
			lines = append(lines, "export AWS_SESSION_TOKEN="+sopsExtract(e.keyFile, e.keyPaths.SessionToken))
		}
	} else {
		lines = append(lines, "# with your own AWS credentials")
	}
	update := "aws eks update-kubeconfig --name " + shellQuote(e.cluster) + " --region " + shellQuote(e.region)
	if e.roleARN != "" {
		update += " --role-arn " + shellQuote(e.roleARN)
	}
	return append(lines, update)
}

func (e *eksCluster) resolve(ctx context.Context) (*rest.Config, error) {
	cfg, err := e.clouds.AWSConfig(ctx, e.site, e.region, e.keys, e.roleARN)
	if err != nil {
		return nil, err
	}
	client := eks.NewFromConfig(cfg, func(o *eks.Options) {
		if e.clouds.AWS.EKSEndpoint != "" {
			o.BaseEndpoint = aws.String(e.clouds.AWS.EKSEndpoint)
		}
	})
	out, err := client.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(e.cluster)})
	if err != nil {
		return nil, e.apiError(err)
	}
	c := out.Cluster
	var ca []byte
	if c.CertificateAuthority != nil {
		ca, err = base64.StdEncoding.DecodeString(aws.ToString(c.CertificateAuthority.Data))
	}
	if aws.ToString(c.Endpoint) == "" || len(ca) == 0 || err != nil {
		return nil, fmt.Errorf("%s: key %q: EKS gave cluster %s no endpoint or CA; is it still being created?", e.site.File, eksKey, e.cluster)
	}
	tokens := &eksTokens{e: e, presign: sts.NewPresignClient(e.clouds.STS(cfg))}
	return withTokens(&rest.Config{Host: aws.ToString(c.Endpoint), TLSClientConfig: rest.TLSClientConfig{CAData: ca}},
		oauth2.ReuseTokenSourceWithExpiry(nil, tokens, eksEarlyRefresh)), nil
}

// eksTokens makes the bearer tokens EKS takes, as aws-iam-authenticator makes them:
// "k8s-aws-v1." and the base64url of a presigned STS GetCallerIdentity URL that signs
// the header x-k8s-aws-id with the cluster's name.
type eksTokens struct {
	e       *eksCluster
	presign *sts.PresignClient
}

func (t *eksTokens) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	signed := time.Now()
	req, err := t.presign.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(po *sts.PresignOptions) {
		po.ClientOptions = append(po.ClientOptions, func(o *sts.Options) {
			o.APIOptions = append(o.APIOptions,
				smithyhttp.SetHeaderValue("x-k8s-aws-id", t.e.cluster),
				smithyhttp.SetHeaderValue("X-Amz-Expires", "60"))
		})
	})
	if err != nil {
		return nil, t.e.apiError(err)
	}
	return &oauth2.Token{AccessToken: "k8s-aws-v1." + base64.RawURLEncoding.EncodeToString([]byte(req.URL)),
		TokenType: "Bearer", Expiry: signed.Add(eksTokenLifetime)}, nil
}

// apiError says what went wrong asking AWS about the cluster.
func (e *eksCluster) apiError(err error) error {
	return cloud.AWSError(e.site, err, "EKS cluster "+e.cluster+" in "+e.region, "eks:DescribeCluster on the cluster")
}
