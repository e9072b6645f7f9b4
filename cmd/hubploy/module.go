package main

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/deploy"
	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	planpkg "github.com/hubploy/hubploy/pipeline/plan"
	"github.com/hubploy/hubploy/pipeline/validate"
)

// The Dagger module (.dagger/) runs each of its functions in a container of the
// hubploy image, so that a first `dagger call` compiles only the module's thin Go and
// not hubploy. It hands a call over as a moduleCall in the environment variable
// moduleCallEnv: plain values, each Secret mounted as a file and each Service bound
// to a host name. This hidden command answers it with the application layer and
// writes a moduleResult to stdout; diagnostics go to stderr, which the engine shows
// as the call's progress.
const moduleCallEnv = "HUBPLOY_MODULE_CALL"

// moduleCall is one function call of the module. Its keys are the module's own
// argument names.
type moduleCall struct {
	Function string          `json:"function"`
	Args     json.RawMessage `json:"args"`
	Settings moduleSettings  `json:"settings"`
	// Repo is where the repository is mounted (its .git folder too, if given).
	Repo string `json:"repo"`
	// Files are where the call's Secrets and Files are mounted, by argument name
	// (a list's items as name.0, name.1, …); Services are the host:port each bound
	// Service is reached at.
	Files    map[string]string `json:"files"`
	Services map[string]string `json:"services"`
	// Output is the folder whose files a function returning a File or a Directory
	// writes.
	Output string `json:"output"`

	g *globals
}

// moduleSettings are the constructor's and the With* functions' plain values.
type moduleSettings struct {
	ChartMirror             []string `json:"chartMirror"`
	Chart                   string   `json:"chart"`
	AllowUnencryptedSecrets bool     `json:"allowUnencryptedSecrets"`
	Values                  []string `json:"values"`
	Set                     []string `json:"set"`
	SetString               []string `json:"setString"`
	BuildSecretIDs          []string `json:"buildSecretIds"`

	KubeContext string `json:"kubeContext"`
	Namespace   string `json:"namespace"`

	CheckURL            string `json:"checkUrl"`
	CheckUser           string `json:"checkUser"`
	CheckAttempts       int    `json:"checkAttempts"`
	CheckTimeout        string `json:"checkTimeout"`
	CheckStartTimeout   string `json:"checkStartTimeout"`
	CheckAttemptTimeout string `json:"checkAttemptTimeout"`

	AwsRoleArn     string `json:"awsRoleArn"`
	AzureTenantID  string `json:"azureTenantId"`
	AzureClientID  string `json:"azureClientId"`
	Gke            string `json:"gke"`
	GoogleTokenURI string `json:"googleTokenUri"`
	GcpKms         string `json:"gcpKms"`
	AwsSts         string `json:"awsSts"`
	AwsEks         string `json:"awsEks"`
	AwsEcr         string `json:"awsEcr"`
	AwsKms         string `json:"awsKms"`
	AzureAuthority string `json:"azureAuthorityHost"`
	AzureARM       string `json:"azureResourceManager"`
}

// moduleResult is what a function returns: its output, or its error. A function
// returning a Secret (decrypt) gives its output sealed with the call's channel key,
// so that no cleartext reaches the engine's records of the container's stdout.
type moduleResult struct {
	Output string `json:"output"`
	Error  string `json:"error,omitempty"`
}

func newModuleCallCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "module-call",
		Short:  "Answer a call of hubploy's Dagger module (run by the module, in its container)",
		Hidden: true,
		Args:   exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c moduleCall
			if err := json.Unmarshal([]byte(os.Getenv(moduleCallEnv)), &c); err != nil {
				return usageError{fmt.Errorf("%s: %v (this command is run by hubploy's Dagger module)", moduleCallEnv, err)}
			}
			c.g = g
			var res moduleResult
			out, err := c.run(cmd.Context())
			if err != nil {
				res.Error = err.Error()
			} else {
				res.Output = out
			}
			enc := json.NewEncoder(g.stdout)
			return enc.Encode(res)
		},
	}
}

// moduleFunctions answer the module's functions, by name.
var moduleFunctions = map[string]func(*moduleCall, context.Context) (string, error){
	"validate": (*moduleCall).validate, "lock": (*moduleCall).lock, "render": (*moduleCall).render,
	"decrypt": (*moduleCall).decrypt, "check": (*moduleCall).check, "deploy": (*moduleCall).deploy,
	"plan": (*moduleCall).plan, "verifyBranches": (*moduleCall).verifyBranches, "diff": (*moduleCall).diff,
	"doctor": (*moduleCall).doctor, "status": (*moduleCall).status, "history": (*moduleCall).history,
	"rollback": (*moduleCall).rollback, "test": (*moduleCall).test, "build": (*moduleCall).build,
	"publish": (*moduleCall).publish,
}

func (c *moduleCall) run(ctx context.Context) (string, error) {
	f, ok := moduleFunctions[c.Function]
	if !ok {
		return "", fmt.Errorf("the module called %q, which this hubploy does not have: the module and its image are of different versions", c.Function)
	}
	return f(c, ctx)
}

// args decodes the function's own arguments.
func (c *moduleCall) args(into any) error {
	if len(c.Args) == 0 {
		return nil
	}
	return json.Unmarshal(c.Args, into)
}

// secret reads the Secret or File mounted for an argument, if one was given.
func (c *moduleCall) secret(name string) (string, bool, error) {
	p, ok := c.Files[name]
	if !ok {
		return "", false, nil
	}
	data, err := os.ReadFile(p)
	return string(data), true, err
}

// secrets reads a list argument's Secrets (name.0, name.1, …).
func (c *moduleCall) secrets(name string) ([]string, error) {
	var out []string
	for i := 0; ; i++ {
		v, ok, err := c.secret(fmt.Sprintf("%s.%d", name, i))
		if err != nil || !ok {
			return out, err
		}
		out = append(out, v)
	}
}

// config makes the application layer's configuration from the constructor's and
// the With* functions' settings.
func (c *moduleCall) config() (*action.Config, error) {
	s := c.Settings
	set := action.Settings{
		RepoDir: c.Repo, ChartDir: s.Chart, ChartMirrors: s.ChartMirror,
		AllowUnencryptedSecrets: s.AllowUnencryptedSecrets,
		ValueFiles:              s.Values, Set: s.Set, SetString: s.SetString,
		// Paths are the repository's: the module sees nothing else.
		PathBase: c.Repo, ConfineToRepo: true,
		Log: c.g.logf,
	}
	var err error
	if set.Clouds, set.Credentials, err = c.credentials(); err != nil {
		return nil, err
	}
	if key, ok, err := c.secret("ageKey"); err != nil {
		return nil, err
	} else if ok {
		set.AgeKeys = []string{key}
	}
	return action.New(set)
}

// credentials are the clouds' APIs as WithCloudEndpoints sets them, and the
// credentials the With*Credentials functions give, which stand in for the
// container's environment: it holds none of the caller's.
func (c *moduleCall) credentials() (*cloud.APIs, *action.Credentials, error) {
	s := c.Settings
	env := map[string]string{
		cloud.EnvGKEEndpoint: s.Gke, cloud.EnvGoogleTokenURI: s.GoogleTokenURI,
		cloud.EnvAzureAuthorityHost: s.AzureAuthority, cloud.EnvAzureResourceManager: s.AzureARM,
	}
	apis := cloud.FromEnvironment(func(k string) string { return env[k] })
	apis.Google.KMSEndpoint = s.GcpKms
	apis.AWS.STSEndpoint, apis.AWS.EKSEndpoint, apis.AWS.ECREndpoint, apis.AWS.KMSEndpoint = s.AwsSts, s.AwsEks, s.AwsEcr, s.AwsKms
	if pem, ok, err := c.secret("ca"); err != nil {
		return nil, nil, err
	} else if ok {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(pem)) {
			return nil, nil, &inputerr.Error{Key: "withCloudEndpoints ca", Msg: "holds no PEM certificate", Hint: "give the CA's certificate, -----BEGIN CERTIFICATE-----…"}
		}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = &tls.Config{RootCAs: pool}
		apis.HTTPClient = &http.Client{Transport: transport}
	}

	cr := &action.Credentials{Clouds: cloud.Credentials{Source: "the Dagger module", Hint: func(name string) string {
		return "pass them with with-" + strings.ToLower(name) + "-credentials"
	}}}
	var err error
	if cr.PGPKeys, err = c.secrets("pgpKey"); err != nil {
		return nil, nil, err
	}
	read := func(into map[string]*string) error {
		for name, to := range into {
			var err error
			if *to, _, err = c.secret(name); err != nil {
				return err
			}
		}
		return nil
	}
	if err := read(map[string]*string{"vaultToken": &cr.VaultToken}); err != nil {
		return nil, nil, err
	}
	var google string
	if err := read(map[string]*string{"googleCredentials": &google}); err != nil {
		return nil, nil, err
	}
	if google != "" {
		cr.Clouds.GoogleJSON = []byte(google)
	}
	_, keys := c.Files["accessKeyId"]
	if _, token := c.Files["webIdentityToken"]; keys || token {
		a := &cloud.AWSCredentials{RoleARN: s.AwsRoleArn}
		if err := read(map[string]*string{"accessKeyId": &a.AccessKeyID, "secretAccessKey": &a.SecretAccessKey,
			"sessionToken": &a.SessionToken, "webIdentityToken": &a.WebIdentityToken}); err != nil {
			return nil, nil, err
		}
		cr.Clouds.AWS = a
	}
	if s.AzureClientID != "" {
		az := &cloud.AzureCredentials{TenantID: s.AzureTenantID, ClientID: s.AzureClientID}
		if err := read(map[string]*string{"clientSecret": &az.ClientSecret, "federatedToken": &az.FederatedToken}); err != nil {
			return nil, nil, err
		}
		cr.Clouds.Azure = az
	}
	return apis, cr, nil
}

// cluster is how the functions on live releases reach the cluster: WithCluster's
// settings, each replaced by the function's own argument where one is given (the
// module merges them), the API server bound as a service.
func (c *moduleCall) cluster() (action.ClusterOptions, error) {
	opts := action.ClusterOptions{Context: c.Settings.KubeContext, Namespace: c.Settings.Namespace}
	kubeconfig, ok, err := c.secret("kubeconfig")
	if err != nil {
		return opts, err
	}
	if ok {
		opts.Kubeconfig = []byte(kubeconfig)
	}
	if address, ok := c.Services["apiServer"]; ok {
		opts.Server = "https://" + address
	}
	return opts, nil
}

// checkOptions are WithCheck's settings.
func (c *moduleCall) checkOptions() (action.CheckOptions, error) {
	s := c.Settings
	opts := action.CheckOptions{URL: s.CheckURL, User: s.CheckUser, Attempts: s.CheckAttempts}
	for _, d := range []struct {
		arg, value string
		to         *time.Duration
	}{{"timeout", s.CheckTimeout, &opts.Timeout}, {"startTimeout", s.CheckStartTimeout, &opts.StartTimeout}, {"attemptTimeout", s.CheckAttemptTimeout, &opts.AttemptTimeout}} {
		if d.value == "" {
			continue
		}
		var err error
		if *d.to, err = deploy.ParseTimeout(d.value); err != nil {
			return opts, fmt.Errorf("withCheck %s: %w", d.arg, err)
		}
	}
	var err error
	if opts.Token, _, err = c.secret("checkToken"); err != nil {
		return opts, err
	}
	if address, ok := c.Services["checkHub"]; ok && opts.URL == "" {
		opts.URL = "http://" + address + "/"
	}
	return opts, nil
}

// withCluster sets a job's configuration and cluster options and runs it.
func withCluster[T any](ctx context.Context, c *moduleCall, cfg **action.Config, opts *action.ClusterOptions, run func(context.Context) (T, error)) (T, error) {
	var zero T
	var err error
	if *cfg, err = c.config(); err != nil {
		return zero, err
	}
	if *opts, err = c.cluster(); err != nil {
		return zero, err
	}
	return run(ctx)
}

// written is what write makes of v.
func written[T any](v T, write func(io.Writer, T) error) (string, error) {
	var b strings.Builder
	err := write(&b, v)
	return b.String(), err
}

// hubEnv are the arguments of the functions on one hub's release.
type hubEnv struct {
	Hub string `json:"hub"`
	Env string `json:"env"`
}

func (c *moduleCall) validate(ctx context.Context) (string, error) {
	var a struct {
		Hub    []string `json:"hub"`
		Env    string   `json:"env"`
		Strict bool     `json:"strict"`
	}
	if err := c.args(&a); err != nil {
		return "", err
	}
	cfg, err := c.config()
	if err != nil {
		return "", err
	}
	rep, err := (&action.Validate{Config: cfg, Hubs: a.Hub, Env: a.Env, Strict: a.Strict}).Run(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, res := range rep.Results {
		if err := res.WriteText(&b); err != nil {
			return "", err
		}
	}
	b.WriteString(validate.Summary(rep.Results) + "\n")
	if !rep.OK {
		return "", fmt.Errorf("%d hub environment(s) failed validation:\n%s", rep.Failed, b.String())
	}
	return b.String(), nil
}

// lock writes the lock file into the output folder and returns its name.
func (c *moduleCall) lock(ctx context.Context) (string, error) {
	cfg, err := c.config()
	if err != nil {
		return "", err
	}
	res, err := (&action.Lock{Config: cfg, NoWrite: true}).Run(ctx)
	if err != nil {
		return "", err
	}
	if res.File == "" {
		return "", fmt.Errorf("%s has no dependencies: there is nothing to lock", res.Chart)
	}
	name := path.Base(res.File)
	return name, os.WriteFile(filepath.Join(c.Output, name), res.Content, 0o644)
}

// render writes the manifests into the output folder.
func (c *moduleCall) render(ctx context.Context) (string, error) {
	var a hubEnv
	if err := c.args(&a); err != nil {
		return "", err
	}
	cfg, err := c.config()
	if err != nil {
		return "", err
	}
	res, err := (&action.Render{Config: cfg, Hub: a.Hub, Env: a.Env}).Run(ctx)
	if err != nil {
		return "", err
	}
	for name, content := range res.Files() {
		p := filepath.Join(c.Output, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	return "", nil
}

// decrypt returns the file's cleartext sealed with the channel key (AES-256-GCM,
// base64): the module opens it in memory and makes it a Secret.
func (c *moduleCall) decrypt(context.Context) (string, error) {
	var a struct {
		File string `json:"file"`
	}
	if err := c.args(&a); err != nil {
		return "", err
	}
	key, ok, err := c.secret("channelKey")
	if err != nil || !ok {
		return "", cmp.Or(err, errors.New("decrypt: the module gave no channel key"))
	}
	cfg, err := c.config()
	if err != nil {
		return "", err
	}
	data, err := (&action.Decrypt{Config: cfg, File: a.File}).Run()
	if err != nil {
		return "", err
	}
	return seal(key, data)
}

// seal encrypts data with a base64 AES-256 key, the nonce first.
func seal(key string, data []byte) (string, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(key))
	if err != nil {
		return "", fmt.Errorf("the channel key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return "", fmt.Errorf("the channel key: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, data, nil)), nil
}

func (c *moduleCall) check(ctx context.Context) (string, error) {
	var a hubEnv
	if err := c.args(&a); err != nil {
		return "", err
	}
	ch := &action.Check{Hub: a.Hub, Env: a.Env}
	var err error
	if ch.Options, err = c.checkOptions(); err != nil {
		return "", err
	}
	res, err := withCluster(ctx, c, &ch.Config, &ch.Cluster, ch.Run)
	if err != nil {
		return "", err
	}
	out, err := written(res, action.WriteCheck)
	if err == nil && !res.OK() {
		err = fmt.Errorf("%s\n%s", res.Error, out)
	}
	return out, err
}

func (c *moduleCall) deploy(ctx context.Context) (string, error) {
	var a struct {
		Env               string   `json:"env"`
		Hub               []string `json:"hub"`
		All               bool     `json:"all"`
		Timeout           string   `json:"timeout"`
		Force             bool     `json:"force"`
		Atomic            bool     `json:"atomic"`
		CleanupOnFail     bool     `json:"cleanupOnFail"`
		DryRun            bool     `json:"dryRun"`
		Recover           bool     `json:"recover"`
		Concurrency       int      `json:"concurrency"`
		ChartVersion      string   `json:"chartVersion"`
		SkipImageCheck    bool     `json:"skipImageCheck"`
		Check             bool     `json:"check"`
		RollbackOnFailure bool     `json:"rollbackOnFailure"`
		Canary            []string `json:"canary"`
		PlanName          string   `json:"planName"`
	}
	if err := c.args(&a); err != nil {
		return "", err
	}
	d := &action.Deploy{
		Targets:      action.Targets{Env: a.Env, Hubs: a.Hub, All: a.All},
		Upgrade:      deploy.Upgrade{Force: a.Force, Atomic: a.Atomic, CleanupOnFail: a.CleanupOnFail, DryRun: a.DryRun, Recover: a.Recover},
		ChartVersion: a.ChartVersion, PerCluster: a.Concurrency, Progress: deploy.PrintProgress(c.g.stderr),
		SkipImageCheck: a.SkipImageCheck, Check: a.Check, RollbackOnFailure: a.RollbackOnFailure, Canaries: a.Canary,
	}
	var err error
	if d.Upgrade.Timeout, err = deploy.ParseTimeout(a.Timeout); err != nil {
		return "", err
	}
	if plan, ok, err := c.secret("plan"); err != nil {
		return "", err
	} else if ok {
		if d.Plan, err = planpkg.Parse([]byte(plan), a.PlanName); err != nil {
			return "", err
		}
	}
	if d.CheckOptions, err = c.checkOptions(); err != nil {
		return "", err
	}
	rep, err := withCluster(ctx, c, &d.Config, &d.Cluster, d.Run)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, res := range rep.Results {
		b.WriteString(res.Manifest)
	}
	if err := deploy.WriteSummary(&b, rep.Results); err != nil {
		return "", err
	}
	if err := rep.Err(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, b.String())
	}
	return b.String(), nil
}

func (c *moduleCall) plan(ctx context.Context) (string, error) {
	var a struct {
		Base          string `json:"base"`
		Head          string `json:"head"`
		Env           string `json:"env"`
		Format        string `json:"format"`
		CheckRegistry bool   `json:"checkRegistry"`
	}
	if err := c.args(&a); err != nil {
		return "", err
	}
	if a.Format != "text" && a.Format != "markdown" && a.Format != "json" {
		return "", &inputerr.Error{Key: "format", Msg: fmt.Sprintf("is %q", a.Format), Hint: "text, markdown or json"}
	}
	cfg, err := c.config()
	if err != nil {
		return "", err
	}
	p := &action.Plan{Config: cfg, Base: a.Base, Head: a.Head, Env: a.Env, CheckRegistry: a.CheckRegistry}
	if files, ok, err := c.secret("changedFiles"); err != nil {
		return "", err
	} else if ok {
		if p.ChangedFiles, err = planpkg.ReadFileList(strings.NewReader(files), "changedFiles"); err != nil {
			return "", err
		}
	}
	res, err := p.Run(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	switch a.Format {
	case "json":
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	case "markdown":
		err = res.WriteMarkdown(&b)
	default:
		err = res.WriteText(&b)
	}
	return b.String(), err
}

func (c *moduleCall) verifyBranches(ctx context.Context) (string, error) {
	var a struct {
		Staging string `json:"staging"`
		Prod    string `json:"prod"`
	}
	if err := c.args(&a); err != nil {
		return "", err
	}
	cfg, err := c.config()
	if err != nil {
		return "", err
	}
	res, err := (&action.VerifyBranches{Config: cfg, Staging: a.Staging, Prod: a.Prod}).Run(ctx)
	if err != nil {
		return "", err
	}
	if !res.OK {
		return "", errors.New(res.Text())
	}
	return res.Text(), nil
}

func (c *moduleCall) diff(ctx context.Context) (string, error) {
	var a hubEnv
	if err := c.args(&a); err != nil {
		return "", err
	}
	d := &action.Diff{Hub: a.Hub, Env: a.Env}
	res, err := withCluster(ctx, c, &d.Config, &d.Cluster, d.Run)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%s: %d object(s) would change (live revision %d)\n", res.Text, res.Release, res.Changed, res.Live), nil
}

func (c *moduleCall) doctor(ctx context.Context) (string, error) {
	var a hubEnv
	if err := c.args(&a); err != nil {
		return "", err
	}
	d := &action.Doctor{Hub: a.Hub, Env: a.Env}
	res, err := withCluster(ctx, c, &d.Config, &d.Cluster, d.Run)
	if err != nil {
		return "", err
	}
	out, err := written(res, action.WriteDoctor)
	if err == nil && !res.OK {
		err = fmt.Errorf("doctor found a problem:\n%s", out)
	}
	return out, err
}

func (c *moduleCall) status(ctx context.Context) (string, error) {
	var a hubEnv
	if err := c.args(&a); err != nil {
		return "", err
	}
	s := &action.Status{Hub: a.Hub, Env: a.Env}
	st, err := withCluster(ctx, c, &s.Config, &s.Cluster, s.Run)
	if err != nil {
		return "", err
	}
	return written(st, action.WriteStatus)
}

func (c *moduleCall) history(ctx context.Context) (string, error) {
	var a hubEnv
	if err := c.args(&a); err != nil {
		return "", err
	}
	h := &action.History{Hub: a.Hub, Env: a.Env}
	revs, err := withCluster(ctx, c, &h.Config, &h.Cluster, h.Run)
	if err != nil {
		return "", err
	}
	return written(revs, action.WriteHistory)
}

func (c *moduleCall) rollback(ctx context.Context) (string, error) {
	var a struct {
		hubEnv
		Revision int    `json:"revision"`
		Timeout  string `json:"timeout"`
	}
	if err := c.args(&a); err != nil {
		return "", err
	}
	if a.Revision < 0 {
		return "", &inputerr.Error{Key: "revision", Msg: fmt.Sprintf("must be a positive number, not %d", a.Revision)}
	}
	rb := &action.Rollback{Hub: a.Hub, Env: a.Env, Revision: a.Revision, Progress: func(format string, args ...any) {
		c.g.logf("%s/%s: "+format, append([]any{a.Hub, a.Env}, args...)...)
	}}
	var err error
	if rb.Timeout, err = deploy.ParseTimeout(a.Timeout); err != nil {
		return "", err
	}
	res, err := withCluster(ctx, c, &rb.Config, &rb.Cluster, rb.Run)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("rolled back %s: now at revision %d\n", res.Release, res.Revision), nil
}

// buildArgs are the arguments of the functions that build a hub's images.
type buildArgs struct {
	Hub        string   `json:"hub"`
	Env        string   `json:"env"`
	Image      []string `json:"image"`
	BuildArg   []string `json:"buildArg"`
	Dockerfile string   `json:"dockerfile"`
	Target     string   `json:"target"`
}

func (a buildArgs) options() action.BuildOptions {
	return action.BuildOptions{Args: a.BuildArg, Dockerfile: a.Dockerfile, Target: a.Target}
}

// engine is the caller's Dagger engine, reached from the module's container (the
// module runs it with nesting), with WithBuildSecret's secrets.
func (c *moduleCall) engine() *engine {
	e := &engine{g: c.g}
	for i, id := range c.Settings.BuildSecretIDs {
		e.specs = append(e.specs, id+"=file:"+c.Files[fmt.Sprintf("buildSecret.%d", i)])
	}
	return e
}

func (c *moduleCall) test(ctx context.Context) (string, error) {
	var a buildArgs
	if err := c.args(&a); err != nil {
		return "", err
	}
	cfg, err := c.config()
	if err != nil {
		return "", err
	}
	t := &action.Test{Config: cfg, Hub: a.Hub, Env: a.Env, Images: a.Image, BuildOptions: a.options(),
		Progress: func(format string, args ...any) { c.g.logf("%s: "+format, append([]any{a.Hub}, args...)...) }}
	e := c.engine()
	rep, err := t.Run(ctx, e)
	if cerr := e.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	out, err := written(rep, action.WriteTests)
	if err == nil && !rep.OK {
		err = errors.New(out)
	}
	return out, err
}

// moduleBuild is how the module builds the image itself (build returns a Container,
// which only the module's own engine session can hand on).
type moduleBuild struct {
	Context string            `json:"context"` // relative to the repository
	Args    []action.BuildArg `json:"args"`
}

func (c *moduleCall) build(context.Context) (string, error) {
	var a buildArgs
	if err := c.args(&a); err != nil {
		return "", err
	}
	cfg, err := c.config()
	if err != nil {
		return "", err
	}
	b := &action.Build{Config: cfg, Hub: a.Hub, Images: a.Image, BuildOptions: a.options()}
	img, err := b.One()
	if err != nil {
		return "", err
	}
	args, err := b.ParseArgs()
	if err != nil {
		return "", err
	}
	out, err := json.Marshal(moduleBuild{Context: img.ContextDisplay, Args: args})
	return string(out), err
}

func (c *moduleCall) publish(ctx context.Context) (string, error) {
	var a struct {
		buildArgs
		RegistryUsername string `json:"registryUsername"`
	}
	if err := c.args(&a); err != nil {
		return "", err
	}
	cfg, err := c.config()
	if err != nil {
		return "", err
	}
	p := &action.Build{Config: cfg, Hub: a.Hub, Env: a.Env, Images: a.Image, Push: true, BuildOptions: a.options()}
	if password, ok, err := c.secret("registryPassword"); err != nil {
		return "", err
	} else if ok {
		p.Registry.Keychain = images.StaticKeychain(a.RegistryUsername, password)
	}
	if endpoint, ok := c.Services["registry"]; ok {
		imgs, err := p.Selected()
		if err != nil {
			return "", err
		}
		p.Registry.Options = append(p.Registry.Options, remote.WithTransport(images.Tunnel(imgs[0].Registry(), endpoint)))
	}
	e := c.engine()
	published, err := p.Run(ctx, e)
	if cerr := e.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	var refs []string
	for _, r := range published {
		refs = append(refs, r.Ref)
	}
	return strings.Join(refs, "\n"), nil
}
