// Package registry logs in to the clouds' container registries in process, with a
// hub's credentials (pipeline/cloud): ECR and ACR, each an authn.Authenticator for
// go-containerregistry. No CLI or credential helper is run, no docker config written.
package registry

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/hubploy/hubploy/pipeline/cloud"
)

// ECRHost is the host of an AWS account's ECR registry in region.
func ECRHost(account, region string) string {
	return account + ".dkr.ecr." + region + ".amazonaws.com"
}

// ecrEarlyRenewal is how long before its 12 hours end an ECR password is asked anew.
const ecrEarlyRenewal = time.Hour

// ECR logs in to the ECR registries of a region with a hub's AWS credentials, as
// amazon-ecr-credential-helper does: GetAuthorizationToken gives the password of the
// user AWS, kept until an hour before it ends. It is an authn.Authenticator.
type ECR struct {
	renewing
	apis    *cloud.APIs
	site    cloud.Site
	region  string
	keys    aws.CredentialsProvider // nil: the default chain, roleARN assumed with it if set
	roleARN string
}

// NewECR is the authenticator of site's credentials for region: keys, else roleARN
// assumed with the default chain, else the default chain itself.
func NewECR(apis *cloud.APIs, site cloud.Site, region string, keys aws.CredentialsProvider, roleARN string) *ECR {
	e := &ECR{apis: apis, site: site, region: region, keys: keys, roleARN: roleARN}
	e.renewing = renewing{early: ecrEarlyRenewal, login: e.login}
	return e
}

func (e *ECR) login(ctx context.Context) (*authn.AuthConfig, time.Time, error) {
	subject := "a password of the ECR registries in " + e.region
	cfg, err := e.apis.AWSConfig(ctx, e.site, e.region, e.keys, e.roleARN)
	if err != nil {
		return nil, time.Time{}, err
	}
	client := ecr.NewFromConfig(cfg, func(o *ecr.Options) {
		if e.apis.AWS.ECREndpoint != "" {
			o.BaseEndpoint = aws.String(e.apis.AWS.ECREndpoint)
		}
	})
	out, err := client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return nil, time.Time{}, cloud.AWSError(e.site, err, subject, "ecr:GetAuthorizationToken")
	}
	var user, password string
	if len(out.AuthorizationData) > 0 {
		if decoded, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken)); err == nil {
			user, password, _ = strings.Cut(string(decoded), ":")
		}
	}
	if user == "" || password == "" {
		return nil, time.Time{}, fmt.Errorf("%s: key %q: ECR gave no usable %s", e.site.File, e.site.Key, subject)
	}
	return &authn.AuthConfig{Username: user, Password: password}, aws.ToTime(out.AuthorizationData[0].ExpiresAt), nil
}
