package fakecloud

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// awsKey is an access key and the identity it stands for.
type awsKey struct {
	secret, sessionToken, arn string
	expiry                    time.Time // zero: a long-term key
}

// AWS account of the fake identities.
const awsAccount = "111122223333"

func (c *Cloud) serveAWS(mux *http.ServeMux) {
	mux.HandleFunc("POST /sts/{$}", c.stsAction)
	mux.HandleFunc("GET /eks/clusters/{name}", c.eksDescribeCluster)
	mux.HandleFunc("POST /ecr/{$}", c.ecrAction)
}

// STSEndpoint and EKSEndpoint are the services' base URLs (BaseEndpoint).
func (c *Cloud) STSEndpoint() string { return c.URL() + "/sts/" }
func (c *Cloud) EKSEndpoint() string { return c.URL() + "/eks" }

// AWSUserKeys makes an IAM user and an access key for it, and returns the key's id and
// secret, and the user's ARN.
func (c *Cloud) AWSUserKeys(user string) (id, secret, arn string) {
	id, secret = "AKIA"+strings.ToUpper(randomHex(8)), randomHex(20)
	arn = "arn:aws:iam::" + awsAccount + ":user/" + user
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aws[id] = awsKey{secret: secret, arn: arn}
	return id, secret, arn
}

// AWSSessionKeys makes temporary keys of an IAM user that expire at expiry.
func (c *Cloud) AWSSessionKeys(user string, expiry time.Time) (id, secret, token string) {
	id, secret, token = "ASIA"+strings.ToUpper(randomHex(8)), randomHex(20), randomHex(40)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aws[id] = awsKey{secret: secret, sessionToken: token, arn: "arn:aws:iam::" + awsAccount + ":user/" + user, expiry: expiry}
	return id, secret, token
}

// AWSKey is a live access key handed out here (a user's, or a role session's), and
// whom it stands for.
func (c *Cloud) AWSKey(id string) (creds aws.Credentials, arn string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key, ok := c.aws[id]
	if !ok || (!key.expiry.IsZero() && time.Now().After(key.expiry)) {
		return aws.Credentials{}, "", false
	}
	return aws.Credentials{AccessKeyID: id, SecretAccessKey: key.secret, SessionToken: key.sessionToken}, key.arn, true
}

// AWSRole is the ARN of a role of the fake account, which anyone not denied may assume.
func (c *Cloud) AWSRole(name string) string { return "arn:aws:iam::" + awsAccount + ":role/" + name }

// AssumedRoleARN is the identity of a session of role (an ARN of AWSRole).
func AssumedRoleARN(role, session string) string {
	return "arn:aws:sts::" + awsAccount + ":assumed-role/" + role[strings.LastIndex(role, "/")+1:] + "/" + session
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// EKSName is the name under which AddCluster makes an EKS cluster known.
func EKSName(region, cluster string) string { return "eks:" + region + ":" + cluster }

// verifySigV4 checks a request's AWS Signature Version 4 as AWS does: the key must be
// known and live, and the signature the one its secret gives. code is AWS's error
// code for what is wrong, "" when nothing is.
func (c *Cloud) verifySigV4(r *http.Request, body []byte, service string) (key awsKey, code string) {
	auth := r.Header.Get("Authorization")
	fields := map[string]string{}
	for _, f := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(f), "="); ok {
			fields[k] = v
		}
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 {
		return key, "IncompleteSignature"
	}
	c.mu.Lock()
	key, ok := c.aws[scope[0]]
	c.mu.Unlock()
	if !ok {
		return key, "InvalidClientTokenId"
	}
	if !key.expiry.IsZero() && time.Now().After(key.expiry) {
		return key, "ExpiredToken"
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return key, "IncompleteSignature"
	}
	again, _ := http.NewRequest(r.Method, "https://"+r.Host+r.URL.RequestURI(), strings.NewReader(string(body)))
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: key.secret, SessionToken: key.sessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), service, scope[2], when); err != nil {
		return key, "IncompleteSignature"
	}
	if !strings.HasSuffix(again.Header.Get("Authorization"), "Signature="+fields["Signature"]) {
		return key, "SignatureDoesNotMatch"
	}
	return key, ""
}

// stsAction is STS's query API (docs.aws.amazon.com/STS/latest/APIReference):
// AssumeRole and AssumeRoleWithWebIdentity.
func (c *Cloud) stsAction(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	if form.Get("Action") == "AssumeRoleWithWebIdentity" {
		c.assumeRoleWithWebIdentity(w, form)
		return
	}
	key, code := c.verifySigV4(r, body, "sts")
	switch {
	case code != "":
		stsError(w, code)
	case form.Get("Action") != "AssumeRole":
		stsError(w, "InvalidAction")
	case c.isDenied(key.arn):
		stsErrorMessage(w, http.StatusForbidden, "AccessDenied", "User: "+key.arn+" is not authorized to perform: sts:AssumeRole on resource: "+form.Get("RoleArn"))
	default:
		c.roleSession(w, "AssumeRole", form)
	}
}

// assumeRoleWithWebIdentity is STS's unsigned exchange of an OIDC token for a role's
// session (AssumeRoleWithWebIdentity): a token OIDCToken handed out, else
// InvalidIdentityToken.
func (c *Cloud) assumeRoleWithWebIdentity(w http.ResponseWriter, form url.Values) {
	if c.principal(form.Get("WebIdentityToken")) == "" {
		stsErrorMessage(w, http.StatusBadRequest, "InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider")
		return
	}
	c.roleSession(w, "AssumeRoleWithWebIdentity", form)
}

// roleSession makes a session of the form's RoleArn and writes STS's answer to
// action.
func (c *Cloud) roleSession(w http.ResponseWriter, action string, form url.Values) {
	id, secret, token := "ASIA"+strings.ToUpper(randomHex(8)), randomHex(20), randomHex(40)
	expiry := time.Now().Add(time.Hour)
	arn := AssumedRoleARN(form.Get("RoleArn"), form.Get("RoleSessionName"))
	c.mu.Lock()
	c.aws[id] = awsKey{secret: secret, sessionToken: token, arn: arn, expiry: expiry}
	c.minted++
	c.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%[1]sResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <%[1]sResult>
    <Credentials><AccessKeyId>%[2]s</AccessKeyId><SecretAccessKey>%[3]s</SecretAccessKey><SessionToken>%[4]s</SessionToken><Expiration>%[5]s</Expiration></Credentials>
    <AssumedRoleUser><Arn>%[6]s</Arn><AssumedRoleId>AROA3XFRBF535PLBIFPI4:%[7]s</AssumedRoleId></AssumedRoleUser>
  </%[1]sResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</%[1]sResponse>`, action, id, secret, token, expiry.UTC().Format(time.RFC3339), arn, form.Get("RoleSessionName"))
}

// OIDCToken is an OIDC token of an identity provider both AWS and Entra ID trust for
// subject (a CI job's): STS exchanges it for a role, Entra ID for an application
// whose federated credential names subject.
func (c *Cloud) OIDCToken(subject string) string {
	tok, _ := c.mint("eyJhbGciOiJSUzI1NiJ9.oidc.", subject)
	return tok
}

// stsMessages are STS's messages for its errors.
var stsMessages = map[string]string{
	"InvalidClientTokenId":  "The security token included in the request is invalid.",
	"SignatureDoesNotMatch": "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
	"ExpiredToken":          "The security token included in the request is expired",
	"IncompleteSignature":   "Request is missing Authentication Token",
	"InvalidAction":         "Could not find operation",
}

func stsError(w http.ResponseWriter, code string) {
	status := http.StatusForbidden
	if code == "ExpiredToken" || code == "InvalidAction" {
		status = http.StatusBadRequest
	}
	stsErrorMessage(w, status, code, stsMessages[code])
}

func stsErrorMessage(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	xmlMessage := new(strings.Builder)
	xml.EscapeText(xmlMessage, []byte(message))
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>4b2e3c1a-0000-0000-0000-000000000000</RequestId></ErrorResponse>`, code, xmlMessage)
}

// eksCodes are EKS's names of the signature errors STS names as in stsMessages.
var eksCodes = map[string]string{
	"InvalidClientTokenId":  "UnrecognizedClientException",
	"SignatureDoesNotMatch": "InvalidSignatureException",
	"ExpiredToken":          "ExpiredTokenException",
	"IncompleteSignature":   "MissingAuthenticationTokenException",
}

// eksDescribeCluster is EKS's DescribeCluster (docs.aws.amazon.com/eks/latest/APIReference/API_DescribeCluster.html).
func (c *Cloud) eksDescribeCluster(w http.ResponseWriter, r *http.Request) {
	key, code := c.verifySigV4(r, nil, "eks")
	if code != "" {
		eksError(w, http.StatusForbidden, eksCodes[code], stsMessages[code])
		return
	}
	region := strings.Split(strings.Split(r.Header.Get("Authorization"), "Credential=")[1], "/")[2]
	name := r.PathValue("name")
	cl, found, allowed := c.lookup(key.arn, EKSName(region, name))
	switch {
	case !allowed:
		eksError(w, http.StatusForbidden, "AccessDeniedException", "User: "+key.arn+" is not authorized to perform: eks:DescribeCluster on resource: arn:aws:eks:"+region+":"+awsAccount+":cluster/"+name)
	case !found:
		eksError(w, http.StatusNotFound, "ResourceNotFoundException", "No cluster found for name: "+name+".")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"cluster": map[string]any{
			"name":                 name,
			"arn":                  "arn:aws:eks:" + region + ":" + awsAccount + ":cluster/" + name,
			"endpoint":             cl.Endpoint,
			"status":               "ACTIVE",
			"certificateAuthority": map[string]string{"data": base64.StdEncoding.EncodeToString(cl.CA)},
		}})
	}
}

func eksError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("X-Amzn-Errortype", code)
	writeJSON(w, status, map[string]string{"message": message})
}

// eksPrincipal is who an EKS token stands for, as aws-iam-authenticator's server finds
// it: the token is a presigned STS GetCallerIdentity URL, signed within 15 minutes by a
// live key, over the header x-k8s-aws-id naming a known cluster; "" for anything else.
func (c *Cloud) eksPrincipal(token string) string {
	raw, ok := strings.CutPrefix(token, "k8s-aws-v1.")
	if !ok {
		return ""
	}
	decoded, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return ""
	}
	u, err := url.Parse(string(decoded))
	// The URL is STS's, as its client reaches it.
	if err != nil || "https://"+u.Host != c.URL() || u.Query().Get("Action") != "GetCallerIdentity" {
		return ""
	}
	q := u.Query()
	when, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil || time.Since(when) > 15*time.Minute || !strings.Contains(q.Get("X-Amz-SignedHeaders"), "x-k8s-aws-id") {
		return ""
	}
	scope := strings.Split(q.Get("X-Amz-Credential"), "/")
	c.mu.Lock()
	key, ok := c.aws[scope[0]]
	var clusters []string
	for name := range c.clusters {
		if strings.HasPrefix(name, "eks:") {
			clusters = append(clusters, name[strings.LastIndex(name, ":")+1:])
		}
	}
	c.mu.Unlock()
	if !ok || len(scope) != 5 || (!key.expiry.IsZero() && time.Now().After(key.expiry)) {
		return ""
	}
	for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"} {
		q.Del(p)
	}
	unsigned := *u
	unsigned.RawQuery = q.Encode()
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: key.secret, SessionToken: key.sessionToken}
	for _, cluster := range clusters {
		req, _ := http.NewRequest(http.MethodGet, unsigned.String(), nil)
		req.Header.Set("x-k8s-aws-id", cluster)
		signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, emptySHA256, "sts", scope[2], when)
		if err == nil && strings.Contains(signed, "X-Amz-Signature="+u.Query().Get("X-Amz-Signature")) {
			return key.arn
		}
	}
	return ""
}

// emptySHA256 is the hash of the empty payload a presigned GET signs.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// isDenied reports whether principal was denied.
func (c *Cloud) isDenied(principal string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.denied[principal]
}

// ECREndpoint is ECR's base URL (BaseEndpoint).
func (c *Cloud) ECREndpoint() string { return c.URL() + "/ecr/" }

// SetRegistryPassword is the password ECR and ACR hand out: that of the registry a
// test serves.
func (c *Cloud) SetRegistryPassword(password string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.registryPassword = password
}

// ecrAction is ECR's JSON API (docs.aws.amazon.com/AmazonECR/latest/APIReference):
// GetAuthorizationToken, counted in Minted.
func (c *Cloud) ecrAction(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key, code := c.verifySigV4(r, body, "ecr")
	switch {
	case code != "":
		eksError(w, http.StatusBadRequest, eksCodes[code], stsMessages[code])
		return
	case c.isDenied(key.arn):
		eksError(w, http.StatusBadRequest, "AccessDeniedException", "User: "+key.arn+" is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action")
		return
	}
	if r.Header.Get("X-Amz-Target") != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" {
		eksError(w, http.StatusBadRequest, "UnknownOperationException", "")
		return
	}
	c.mu.Lock()
	password := c.registryPassword
	c.minted++
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"authorizationData": []map[string]any{{
		"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:" + password)),
		"expiresAt":          time.Now().Add(12 * time.Hour).Unix(),
		"proxyEndpoint":      "https://" + awsAccount + ".dkr.ecr.us-west-2.amazonaws.com",
	}}})
}
