package main

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"dagger/hubploy/internal/dagger"
)

// The module's functions run `hubploy module-call` (cmd/hubploy/module.go) in a
// container of the hubploy image: what a first `dagger call` then compiles is this
// thin module, not hubploy and its dependencies.

// cliVersion is the hubploy release this module runs: the tag of its image in
// cliRepository. A release sets it (README, "Releasing").
const (
	cliRepository = "ghcr.io/hubploy/hubploy"
	cliVersion    = "v0.1.0"
)

// call is one function call, handed to the CLI as the request of module-call: plain
// values in the request, Secrets and Files mounted under secretsDir, Services bound
// to host names.
type call struct {
	m       *Hubploy
	with    []dagger.WithContainerFunc // mounts and bindings, onto the image
	req     request
	nesting bool
	err     error // the first error of the chained steps, which run returns
}

// request is cmd/hubploy's moduleCall.
type request struct {
	Function string            `json:"function"`
	Repo     string            `json:"repo"`
	Args     map[string]any    `json:"args"`
	Settings map[string]any    `json:"settings"`
	Files    map[string]string `json:"files"`
	Services map[string]string `json:"services"`
	Output   string            `json:"output"`
}

const (
	repoDir    = "/repo"
	secretsDir = "/run/hubploy"
	outputDir  = "/out"
)

// call starts a call of fn with its own arguments, with the constructor's and the
// With* functions' settings that every function may use.
func (m *Hubploy) call(fn string, args map[string]any) *call {
	if args == nil {
		args = map[string]any{}
	}
	c := &call{m: m, req: request{Function: fn, Repo: repoDir, Args: args, Files: map[string]string{}, Services: map[string]string{}, Output: outputDir,
		Settings: map[string]any{
			"chartMirror": m.ChartMirrors, "chart": m.ChartDir, "allowUnencryptedSecrets": m.AllowUnencryptedSecrets,
			"values": m.ValueFiles, "set": m.Set, "setString": m.SetString, "buildSecretIds": m.BuildSecretIDs,
			"awsRoleArn": m.AwsRoleArn, "azureTenantId": m.AzureTenantID, "azureClientId": m.AzureClientID,
			"gke": m.GKEEndpoint, "googleTokenUri": m.GoogleTokenURI, "gcpKms": m.GCPKMSEndpoint,
			"awsSts": m.AWSSTSEndpoint, "awsEks": m.AWSEKSEndpoint, "awsEcr": m.AWSECREndpoint, "awsKms": m.AWSKMSEndpoint,
			"azureAuthorityHost": m.AzureAuthorityHost, "azureResourceManager": m.AzureResourceManager,
		}}}
	c.add(func(ctr *dagger.Container) *dagger.Container { return ctr.WithMountedDirectory(repoDir, m.Repo) })
	if m.GitDir != nil {
		c.add(func(ctr *dagger.Container) *dagger.Container {
			return ctr.WithMountedDirectory(repoDir+"/.git", m.GitDir)
		})
	}
	for name, s := range map[string]*dagger.Secret{
		"ageKey": m.AgeKey, "vaultToken": m.VaultToken, "googleCredentials": m.GoogleCredentials,
		"accessKeyId": m.AwsAccessKeyID, "secretAccessKey": m.AwsSecretAccessKey, "sessionToken": m.AwsSessionToken,
		"webIdentityToken": m.AwsWebIdentityToken, "clientSecret": m.AzureClientSecret, "federatedToken": m.AzureFederatedToken,
	} {
		c.secret(name, s)
	}
	for i, s := range m.PgpKeys {
		c.secret("pgpKey."+strconv.Itoa(i), s)
	}
	for i, s := range m.BuildSecretValues {
		c.secret("buildSecret."+strconv.Itoa(i), s)
	}
	c.file("ca", m.CloudCA)
	if m.CloudService != nil {
		c.add(func(ctr *dagger.Container) *dagger.Container {
			return ctr.WithServiceBinding(m.CloudServiceName, m.CloudService)
		})
	}
	return c
}

func (c *call) add(f dagger.WithContainerFunc) { c.with = append(c.with, f) }

// secret mounts a Secret, if given, for the argument name.
func (c *call) secret(name string, s *dagger.Secret) {
	if s == nil {
		return
	}
	p := secretsDir + "/" + name
	c.add(func(ctr *dagger.Container) *dagger.Container { return ctr.WithMountedSecret(p, s) })
	c.req.Files[name] = p
}

// file mounts a File, if given, for the argument name.
func (c *call) file(name string, f *dagger.File) {
	if f == nil {
		return
	}
	p := secretsDir + "/" + name
	c.add(func(ctr *dagger.Container) *dagger.Container { return ctr.WithMountedFile(p, f) })
	c.req.Files[name] = p
}

// service binds svc under the host name host, for the argument arg: the CLI reaches
// it at host:<its first port>.
func (c *call) service(ctx context.Context, arg, host string, svc *dagger.Service) error {
	ports, err := svc.Ports(ctx)
	if err != nil {
		return err
	}
	if len(ports) == 0 {
		return fmt.Errorf("key %q: the service exposes no port (pass it as tcp://HOST:PORT)", arg)
	}
	port, err := ports[0].Port(ctx)
	if err != nil {
		return err
	}
	c.add(func(ctr *dagger.Container) *dagger.Container { return ctr.WithServiceBinding(host, svc) })
	c.req.Services[arg] = host + ":" + strconv.Itoa(port)
	return nil
}

// nested lets the CLI use the caller's engine (image builds and their tests).
func (c *call) nested() *call {
	c.nesting = true
	return c
}

// clusterArgs are how the functions on live releases reach the cluster.
type clusterArgs struct {
	kubeconfig    *dagger.Secret
	kubeContext   string
	namespace     string
	apiServer     *dagger.Service
	apiServerName string
}

// withCluster hands over WithCluster's settings, each replaced by the function's own
// argument where one is given. An error waits for run.
func (c *call) withCluster(ctx context.Context, own clusterArgs) *call {
	m := c.m
	ca := clusterArgs{m.Kubeconfig, m.KubeContext, m.Namespace, m.APIServer, m.APIServerName}
	if own.kubeconfig != nil {
		ca.kubeconfig = own.kubeconfig
	}
	ca.kubeContext = cmp.Or(own.kubeContext, ca.kubeContext)
	ca.namespace = cmp.Or(own.namespace, ca.namespace)
	if own.apiServer != nil {
		ca.apiServer, ca.apiServerName = own.apiServer, own.apiServerName
	}
	c.req.Settings["kubeContext"], c.req.Settings["namespace"] = ca.kubeContext, ca.namespace
	c.secret("kubeconfig", ca.kubeconfig)
	if ca.apiServer != nil {
		c.fail(c.service(ctx, "apiServer", cmp.Or(ca.apiServerName, "kube-apiserver"), ca.apiServer))
	}
	return c
}

// withCheck hands over WithCheck's settings.
func (c *call) withCheck(ctx context.Context) *call {
	m := c.m
	for k, v := range map[string]any{"checkUrl": m.CheckURL, "checkUser": m.CheckUser, "checkAttempts": m.CheckAttempts,
		"checkTimeout": m.CheckTimeout, "checkStartTimeout": m.CheckStartTimeout, "checkAttemptTimeout": m.CheckAttemptTimeout} {
		c.req.Settings[k] = v
	}
	c.secret("checkToken", m.CheckToken)
	if m.CheckHub != nil {
		c.fail(c.service(ctx, "checkHub", cmp.Or(m.CheckHubName, "jupyterhub"), m.CheckHub))
	}
	return c
}

// fail keeps the first error of the chained steps for run.
func (c *call) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// run runs the call and returns its output and the folder of the files it wrote.
func (c *call) run(ctx context.Context) (string, *dagger.Directory, error) {
	if c.err != nil {
		return "", nil, c.err
	}
	image, ref, err := c.m.image(ctx)
	if err != nil {
		return "", nil, err
	}
	req, err := json.Marshal(c.req)
	if err != nil {
		return "", nil, err
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, err
	}
	ctr := image.
		// Nothing the CLI writes outside /out stays on the engine's disk.
		WithMountedTemp("/tmp").WithEnvVariable("HOME", "/tmp").WithEnvVariable("TMPDIR", "/tmp").
		WithDirectory(outputDir, dag.Directory())
	for _, f := range c.with {
		ctr = f(ctr)
	}
	ctr = ctr.WithEnvVariable("HUBPLOY_MODULE_CALL", string(req)).
		// Calls read live state (a cluster, a registry, git): never a cached run.
		WithEnvVariable("HUBPLOY_MODULE_CALL_NONCE", hex.EncodeToString(nonce)).
		WithExec([]string{cliPath, "module-call"}, dagger.ContainerWithExecOpts{
			Expect: dagger.ReturnTypeAny, ExperimentalPrivilegedNesting: c.nesting,
		})
	stdout, err := ctr.Stdout(ctx)
	if err != nil {
		return "", nil, err
	}
	var res struct {
		Output string `json:"output"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		code, _ := ctr.ExitCode(ctx)
		stderr, _ := ctr.Stderr(ctx)
		return "", nil, fmt.Errorf("the hubploy image %s gave no result (exit code %d): %s", ref, code, lastLines(stderr, 5))
	}
	if res.Error != "" {
		return "", nil, errors.New(res.Error)
	}
	return res.Output, ctr.Directory(outputDir), nil
}

// text runs the call and returns its output.
func (c *call) text(ctx context.Context) (string, error) {
	out, _, err := c.run(ctx)
	return out, err
}

// sealedSecret runs the call with a fresh channel key and opens its sealed output
// into a Secret, named after stable and the content: the cleartext never crosses the
// container's stdout.
func (c *call) sealedSecret(ctx context.Context, stable string) (*dagger.Secret, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	c.secret("channelKey", dag.SetSecret("hubploy-channel-"+hex.EncodeToString(key[:8]), base64.StdEncoding.EncodeToString(key)))
	sealed, err := c.text(ctx)
	if err != nil {
		return nil, err
	}
	data, err := open(key, sealed)
	if err != nil {
		return nil, err
	}
	// The name only has to be stable for the same file and content.
	sum := sha256.Sum256(append([]byte(stable+"\x00"), data...))
	return dag.SetSecret("hubploy-decrypt-"+hex.EncodeToString(sum[:8]), string(data)), nil
}

// open decrypts what the CLI's seal made.
func open(key []byte, sealed string) ([]byte, error) {
	data, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(data) < gcm.NonceSize() {
		return nil, errors.New("the sealed output is too short")
	}
	return gcm.Open(nil, data[:gcm.NonceSize()], data[gcm.NonceSize():], nil)
}

// lastLines is the end of a text, for an error.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
