package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awscredentials "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/oauth2"
	"gopkg.in/yaml.v3"
	"k8s.io/client-go/rest"

	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// AWSAPI is where the aws provider reaches AWS.
type AWSAPI struct {
	// STSEndpoint and EKSEndpoint are the services' base URLs; "": AWS's regional ones.
	STSEndpoint, EKSEndpoint string
	// DefaultConfig loads the default credential chain (environment, shared files, web
	// identity, instance role), from which role_arn is assumed; nil:
	// config.LoadDefaultConfig.
	DefaultConfig func(ctx context.Context, region string) (aws.Config, error)
}

// eksTokenLifetime is how long the API server takes a presigned GetCallerIdentity URL
// (aws-iam-authenticator's 15 minutes); a token is made anew eksEarlyRefresh before.
// A variable for the tests.
var eksTokenLifetime = 15 * time.Minute

const (
	eksKey          = "cluster.aws"
	eksEarlyRefresh = time.Minute
	// eksSessionName names hubploy's sessions of an assumed role, as 0.3 named them.
	eksSessionName = "hubploy-cluster-auth"
)

// eksCluster is an EKS cluster reached with the keys of a sops file (service_key: v1.2's YAML
// or 0.3's credentials file) or by assuming role_arn with the default credentials.
type eksCluster struct {
	file, cluster, region, roleARN string
	keyFile                        string // "" with role_arn
	keys                           aws.CredentialsProvider
	masker                         *mask.Masker
	clouds                         *Clouds
}

func newEKS(h *repo.Hub, dec *secrets.Decrypter, clouds *Clouds) (cloudProvider, []byte, error) {
	b := h.Config.Cluster.AWS
	for _, f := range [][2]string{{"cluster", b.Cluster}, {"region", b.Region}} {
		if f[1] == "" {
			return nil, nil, &inputerr.Error{File: h.Config.File, Key: eksKey + "." + f[0], Msg: "is missing", Hint: "name the EKS cluster by region and cluster"}
		}
	}
	e := &eksCluster{file: h.Config.File, cluster: b.Cluster, region: b.Region, roleARN: b.RoleARN, masker: mask.New(nil), clouds: clouds}
	if b.ServiceKey == "" {
		return e, []byte(b.RoleARN), nil
	}
	data, display, err := readHubSecret(h, dec, eksKey+".service_key", b.ServiceKey)
	if err != nil {
		return nil, nil, err
	}
	keys, ok := parseAWSKeys(data)
	if !ok {
		return nil, nil, &inputerr.Error{File: display, Msg: "holds no AWS access key",
			Hint: fmt.Sprintf("key %q in %s names it; write creds.aws_access_key_id and creds.aws_secret_access_key in YAML, or a credentials file with [default] aws_access_key_id = … and aws_secret_access_key = …, sops-encrypted", eksKey+".service_key", h.Config.File)}
	}
	e.keyFile, e.keys, e.masker = display, aws.NewCredentialsCache(keys), mask.New([]string{keys.Value.SecretAccessKey, keys.Value.SessionToken})
	return e, data, nil
}

// parseAWSKeys reads v1.2's YAML (creds.aws_access_key_id, …) or 0.3's shared
// credentials file, whose default profile it took.
func parseAWSKeys(data []byte) (awscredentials.StaticCredentialsProvider, bool) {
	var doc struct {
		Creds map[string]string `yaml:"creds"`
	}
	values := map[string]string{}
	if yaml.Unmarshal(data, &doc) == nil && doc.Creds != nil {
		values = doc.Creds
	} else {
		section := ""
		for sc := bufio.NewScanner(bytes.NewReader(data)); sc.Scan(); {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
				section = strings.TrimSpace(line[1 : len(line)-1])
			} else if k, v, ok := strings.Cut(line, "="); ok && section == "default" {
				values[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	p := awscredentials.NewStaticCredentialsProvider(values["aws_access_key_id"], values["aws_secret_access_key"], values["aws_session_token"])
	return p, p.Value.AccessKeyID != "" && p.Value.SecretAccessKey != ""
}

func (e *eksCluster) describe() (string, string) {
	name := "EKS cluster " + e.cluster + " in " + e.region
	if e.keyFile != "" {
		return name, e.keyFile
	}
	return name, "role " + e.roleARN + " assumed with the default AWS credentials"
}

// config is the AWS configuration of the hub's credentials: its own keys, else the
// role assumed with the default chain. The process's AWS settings reach only the latter.
func (e *eksCluster) config(ctx context.Context) (aws.Config, error) {
	if e.keys != nil {
		return aws.Config{Region: e.region, Credentials: e.keys, HTTPClient: e.clouds.httpClient()}, nil
	}
	load := e.clouds.AWS.DefaultConfig
	if load == nil {
		load = func(ctx context.Context, region string) (aws.Config, error) {
			return config.LoadDefaultConfig(ctx, config.WithRegion(region))
		}
	}
	cfg, err := load(ctx, e.region)
	if err != nil {
		return aws.Config{}, &inputerr.Error{File: e.file, Key: eksKey + ".role_arn", Msg: "cannot be assumed: the default AWS credentials do not load: " + e.masker.Error(err).Error(),
			Hint: "fix the AWS environment (AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE, ~/.aws), or set service_key instead"}
	}
	cfg.Region = e.region
	cfg.HTTPClient = e.clouds.httpClient()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(e.stsClient(cfg), e.roleARN,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = eksSessionName }))
	return cfg, nil
}

func (e *eksCluster) stsClient(cfg aws.Config) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		if e.clouds.AWS.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(e.clouds.AWS.STSEndpoint)
		}
	})
}

func (e *eksCluster) resolve(ctx context.Context) (*rest.Config, error) {
	cfg, err := e.config(ctx)
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
		return nil, fmt.Errorf("%s: key %q: EKS gave cluster %s no endpoint or CA; is it still being created?", e.file, eksKey, e.cluster)
	}
	tokens := &eksTokens{e: e, presign: sts.NewPresignClient(e.stsClient(cfg))}
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

// apiError says what went wrong asking AWS, in one line naming the hub's block, and
// what to do. It quotes only AWS's messages, masked, never a key or token.
func (e *eksCluster) apiError(err error) error {
	var already *inputerr.Error
	if errors.As(err, &already) {
		return already
	}
	who := "the role " + e.roleARN
	if e.keyFile != "" {
		who = "the keys of " + e.keyFile
	}
	input := func(msg, hint string) error { return &inputerr.Error{File: e.file, Key: eksKey, Msg: msg, Hint: hint} }
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%s: key %q: asking AWS for EKS cluster %s: %v", e.file, eksKey, e.cluster, e.masker.Error(err))
	}
	msg := e.masker.String(ae.ErrorMessage())
	switch ae.ErrorCode() {
	case "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidSignatureException":
		return input(fmt.Sprintf("AWS refused %s as wrong (%s: %s)", who, ae.ErrorCode(), msg),
			"the access key is wrong or deleted: make a new one for the IAM user and sops-encrypt it")
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
		return input(fmt.Sprintf("AWS refused %s as expired (%s: %s)", who, ae.ErrorCode(), msg),
			"renew the credentials (a session token expires): log in again or make a new access key")
	case "AccessDenied", "AccessDeniedException":
		return input(fmt.Sprintf("permission denied with %s (%s)", who, msg),
			"allow sts:AssumeRole of the role, and eks:DescribeCluster on the cluster, to the identity")
	case "ResourceNotFoundException":
		return input(fmt.Sprintf("EKS has no cluster %s in %s (%s)", e.cluster, e.region, msg), "fix cluster or region")
	}
	return fmt.Errorf("%s: key %q: asking AWS for EKS cluster %s: %s: %s", e.file, eksKey, e.cluster, ae.ErrorCode(), msg)
}
