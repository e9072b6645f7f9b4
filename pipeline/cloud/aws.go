package cloud

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"gopkg.in/yaml.v3"

	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
)

// Site is the hubploy.yaml block whose credentials a cloud is asked with, for errors.
type Site struct {
	File, Key string       // the hub's hubploy.yaml, and the block's key in it
	Who       string       // the credentials, for messages: "the keys of F", "the role R"
	Masker    *mask.Masker // the credentials' secrets, which no message may quote
	// AssumesRole is whether the credentials assume a role, whose permission to be
	// assumed a refusal may be about.
	AssumesRole bool
}

func (s Site) inputError(msg, hint string) error {
	return &inputerr.Error{File: s.File, Key: s.Key, Msg: msg, Hint: hint}
}

// AWSKeys reads access keys from a file: v1.2's YAML (creds.aws_access_key_id, …) or
// 0.3's shared credentials file, whose default profile it took. The provider caches.
func AWSKeys(data []byte) (keys aws.CredentialsProvider, secrets []string, ok bool) {
	values, _ := awsKeyValues(data)
	id, secret, token := values["aws_access_key_id"], values["aws_secret_access_key"], values["aws_session_token"]
	if id == "" || secret == "" {
		return nil, nil, false
	}
	return aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, token)), []string{secret, token}, true
}

// AWSKeyPaths are where the keys are in a key file, as sops --extract names them.
type AWSKeyPaths struct {
	ID, Secret   string
	SessionToken string // "" when the file has none
}

// AWSKeyPathsOf says where AWSKeys found the keys of data.
func AWSKeyPathsOf(data []byte) AWSKeyPaths {
	values, section := awsKeyValues(data)
	path := func(key string) string { return `["` + section + `"]["` + key + `"]` }
	p := AWSKeyPaths{ID: path("aws_access_key_id"), Secret: path("aws_secret_access_key")}
	if values["aws_session_token"] != "" {
		p.SessionToken = path("aws_session_token")
	}
	return p
}

// awsKeyValues are a key file's values, and the section they are in: creds (YAML) or
// default (a shared credentials file).
func awsKeyValues(data []byte) (values map[string]string, section string) {
	var doc struct {
		Creds map[string]string `yaml:"creds"`
	}
	if yaml.Unmarshal(data, &doc) == nil && doc.Creds != nil {
		return doc.Creds, "creds"
	}
	values = map[string]string{}
	current := ""
	for sc := bufio.NewScanner(bytes.NewReader(data)); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			current = strings.TrimSpace(line[1 : len(line)-1])
		} else if k, v, ok := strings.Cut(line, "="); ok && current == "default" {
			values[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return values, "default"
}

// AWSKeysHint says what an AWS key file holds, for the error of one that holds none.
const AWSKeysHint = "write creds.aws_access_key_id and creds.aws_secret_access_key in YAML, or a credentials file with [default] aws_access_key_id = … and aws_secret_access_key = …, sops-encrypted"

// SessionName names hubploy's sessions of an assumed role, as 0.3 named them.
const SessionName = "hubploy-cluster-auth"

// AWSConfig is the AWS configuration of a hub's credentials: its own keys, else
// roleARN assumed with the default chain, else the default chain itself (a registry
// block with neither). The process's AWS settings reach only the latter two.
func (c *APIs) AWSConfig(ctx context.Context, site Site, region string, keys aws.CredentialsProvider, roleARN string) (aws.Config, error) {
	if keys != nil {
		// The environment's endpoints (AWS_ENDPOINT_URL…), as the SDK's clients find
		// them in a loaded configuration; not the shared files, whose profile is not
		// the hub's.
		env, err := config.NewEnvConfig()
		if err != nil {
			return aws.Config{}, site.inputError("the AWS environment variables do not parse: "+site.Masker.Error(err).Error(), "fix AWS_ENDPOINT_URL and the other AWS_ variables")
		}
		return aws.Config{Region: region, Credentials: keys, HTTPClient: c.Client(), BaseEndpoint: baseEndpoint(env), ConfigSources: []any{env}}, nil
	}
	load := c.AWS.DefaultConfig
	if load == nil {
		load = func(ctx context.Context, region string) (aws.Config, error) {
			return config.LoadDefaultConfig(ctx, config.WithRegion(region))
		}
	}
	cfg, err := load(ctx, region)
	if given := Given(err, site.File, site.Key); given != nil {
		return aws.Config{}, given
	}
	if err != nil {
		return aws.Config{}, &inputerr.Error{File: site.File, Key: site.Key, Msg: "the default AWS credentials do not load: " + site.Masker.Error(err).Error(),
			Hint: "fix the AWS environment (AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE, ~/.aws), or set service_key instead"}
	}
	cfg.Region = region
	cfg.HTTPClient = c.Client()
	if roleARN == "" {
		return cfg, nil
	}
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(c.STS(cfg), roleARN,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = SessionName }))
	return cfg, nil
}

// baseEndpoint is AWS_ENDPOINT_URL, as config.LoadDefaultConfig takes it.
func baseEndpoint(env config.EnvConfig) *string {
	if env.BaseEndpoint == "" || aws.ToBool(env.IgnoreConfiguredEndpoints) {
		return nil
	}
	return aws.String(env.BaseEndpoint)
}

// STS is an STS client of cfg.
func (c *APIs) STS(cfg aws.Config) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		if c.AWS.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(c.AWS.STSEndpoint)
		}
	})
}

// AWSError says what went wrong asking AWS for subject (an EKS cluster, a registry's
// token), in one line naming the site and what to do: permission is what the identity
// needs. It quotes only AWS's messages, masked, never a key or token.
func AWSError(site Site, err error, subject, permission string) error {
	var already *inputerr.Error
	if errors.As(err, &already) {
		return already
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%s: key %q: asking AWS for %s: %v", site.File, site.Key, subject, site.Masker.Error(err))
	}
	msg := site.Masker.String(ae.ErrorMessage())
	switch ae.ErrorCode() {
	case "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidSignatureException":
		return site.inputError(fmt.Sprintf("AWS refused %s as wrong (%s: %s)", site.Who, ae.ErrorCode(), msg),
			"the access key is wrong or deleted: make a new one for the IAM user and sops-encrypt it")
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
		return site.inputError(fmt.Sprintf("AWS refused %s as expired (%s: %s)", site.Who, ae.ErrorCode(), msg),
			"renew the credentials (a session token expires): log in again or make a new access key")
	case "InvalidIdentityToken", "IDPRejectedClaim":
		return site.inputError(fmt.Sprintf("AWS refused the web identity token of %s (%s: %s)", site.Who, ae.ErrorCode(), msg),
			"give a fresh OIDC token of an identity provider the role's trust policy names (in CI: the job's id token)")
	case "AccessDenied", "AccessDeniedException":
		if site.AssumesRole {
			permission = "sts:AssumeRole of the role, and " + permission + ","
		}
		return site.inputError(fmt.Sprintf("permission denied with %s (%s)", site.Who, msg), "allow "+permission+" to the identity")
	case "ResourceNotFoundException":
		return site.inputError(fmt.Sprintf("AWS has no %s (%s)", subject, msg), "fix its name or region")
	}
	return fmt.Errorf("%s: key %q: asking AWS for %s: %s: %s", site.File, site.Key, subject, ae.ErrorCode(), msg)
}
