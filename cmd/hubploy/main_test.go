package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/chartrepo"
	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/pipeline/charts"
)

// cli runs hubploy in process against a repo, with the stand-in z2jh chart served by a
// real HTTP chart repository and the example's age key unless the test gives another.
type cli struct {
	t      *testing.T
	repo   string
	mirror string
	cache  string
	key    string
}

func newCLI(t *testing.T, repo string) *cli {
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no personal sops keys
	t.Setenv("CI", "")
	srv := chartrepo.Serve(t, example.StandInChart())
	return &cli{t: t, repo: repo, mirror: example.Z2JHRepository + "=" + srv.URL, cache: t.TempDir(), key: example.AgeKeyFile()}
}

// run runs hubploy with the test's key, mirror and chart cache given as CI gives them,
// in the environment, and --repo where the command reads a repository.
func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	c.t.Setenv("SOPS_AGE_KEY_FILE", c.key)
	c.t.Setenv(charts.MirrorsEnv, c.mirror)
	c.t.Setenv("XDG_CACHE_HOME", c.cache)
	full := args
	if len(args) > 0 && args[0] != "decrypt" && args[0] != "version" {
		full = append([]string{"--repo", c.repo}, args...)
	}
	return c.runExactly(full...)
}

// runExactly runs hubploy with these arguments and nothing more.
func (c *cli) runExactly(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// exampleSecrets are the cleartext values of the example's secret files.
func exampleSecrets(t *testing.T) []string {
	t.Helper()
	var found []string
	for _, hub := range []string{"datahub", "stat20"} {
		for _, env := range []string{"staging", "prod"} {
			c := newCLI(t, example.Dir())
			code, out, _ := c.run("decrypt", filepath.Join(example.Dir(), "deployments", hub, "secrets", env+".yaml"))
			if code != 0 {
				t.Fatalf("decrypt failed")
			}
			for _, line := range strings.Split(out, "\n") {
				if _, v, ok := strings.Cut(line, ": "); ok && len(strings.TrimSpace(v)) > 6 {
					found = append(found, strings.TrimSpace(v))
				}
			}
		}
	}
	if len(found) < 8 {
		t.Fatalf("found only %d secret values", len(found))
	}
	return found
}

func TestValidateExample(t *testing.T) {
	c := newCLI(t, example.Dir())
	code, out, errOut := c.run("validate")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"ok   datahub/prod (", "ok   datahub/staging (", "ok   stat20/prod (", "ok   stat20/staging (", "validated 4 hub environment(s): 4 ok, 0 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	code, out, _ = c.run("validate", "datahub", "--env", "prod", "--output", "json")
	var rep struct {
		OK      bool             `json:"ok"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || len(rep.Results) != 1 || rep.Results[0]["hub"] != "datahub" || rep.Results[0]["env"] != "prod" || rep.Results[0]["ok"] != true {
		t.Fatalf("json: code %d, %v, %s", code, err, out)
	}
	// The shared flags, before the command or after it, instead of the environment.
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	t.Setenv(charts.MirrorsEnv, "")
	flags := []string{"--repo", c.repo, "--chart-mirror", c.mirror, "--chart-cache", t.TempDir(), "--age-key-file", c.key}
	for _, args := range [][]string{append(append([]string{}, flags...), "validate"), append([]string{"validate"}, flags...)} {
		if code, out, errOut := c.runExactly(args...); code != 0 || !strings.Contains(out, "4 ok, 0 failed") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}

func TestRenderMasksSecrets(t *testing.T) {
	secrets := exampleSecrets(t)
	c := newCLI(t, example.Dir())
	code, out, errOut := c.run("render", "datahub", "prod")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"kind: Deployment", "name: proxy-public", "type: LoadBalancer",
		"hub.config.ConfigurableHTTPProxy.auth_token: <masked>",
		"name: registry.example.org/datahub/user-image", // the image from hubploy.yaml
		`host: "datahub.example.org"`,                   // config/prod.yaml
		"kind: DaemonSet",                               // prePuller enabled in prod only
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render output lacks %q", want)
		}
	}
	for _, s := range secrets {
		if strings.Contains(out+errOut, s) {
			t.Errorf("secret value %q leaked into render output", s)
		}
	}
	// The secrets did reach the chart: the hub Secret's checksum comes from them, so it
	// is masked.
	if !strings.HasSuffix(checksum(out), "checksum/secret: <masked>") {
		t.Errorf("the secret checksum is %q: secrets not layered, or a checksum of them shown", checksum(out))
	}
}

func checksum(manifest string) string {
	for _, line := range strings.Split(manifest, "\n") {
		if strings.Contains(line, "checksum/secret:") {
			return line
		}
	}
	return ""
}

func TestDecrypt(t *testing.T) {
	c := newCLI(t, example.Dir())
	file := filepath.Join(example.Dir(), "deployments/stat20/secrets/staging.yaml")
	code, out, _ := c.run("decrypt", file)
	if code != 0 || !strings.Contains(out, "secretToken: ") || strings.Contains(out, "ENC[") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	t.Setenv("CI", "true")
	code, out, errOut := c.run("decrypt", file)
	if code != exitInput || out != "" || !strings.Contains(errOut, "decrypt prints secrets, and CI is set") {
		t.Fatalf("in CI: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// Every kind of bad input gets one clear line on stderr and a non-zero exit.
func TestBadInput(t *testing.T) {
	other := sopstest.NewKey(t)
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, repo string, c *cli)
		args   []string
		code   int
		want   string
	}{
		{"malformed YAML", func(t *testing.T, repo string, _ *cli) {
			appendFile(t, repo, "deployments/datahub/config/common.yaml", "  bad: [\n")
		}, []string{"render", "datahub", "prod"}, exitInput, "deployments/datahub/config/common.yaml:"},
		{"unknown key in hubploy.yaml", func(t *testing.T, repo string, _ *cli) {
			appendFile(t, repo, "deployments/stat20/hubploy.yaml", "imagse: {}\n")
		}, []string{"render", "stat20", "prod"}, exitInput, `deployments/stat20/hubploy.yaml:8: key "imagse": unknown key (did you mean "images"?)`},
		{"missing hub", nil, []string{"render", "datahb", "prod"}, exitInput, `hub "datahb" not found: there is no deployments/datahb/hubploy.yaml (did you mean "datahub"?`},
		{"missing hub in validate", nil, []string{"validate", "nohub"}, exitInput, `hub "nohub" not found`},
		{"missing env", nil, []string{"render", "datahub", "prd"}, exitInput, `hub "datahub" has no environment "prd": there is no deployments/datahub/config/prd.yaml (did you mean "prod"?`},
		{"unencrypted secret file", func(t *testing.T, repo string, _ *cli) {
			writeFile(t, repo, "deployments/datahub/secrets/prod.yaml", "jupyterhub:\n  proxy:\n    secretToken: 00ff\n")
		}, []string{"render", "datahub", "prod"}, exitInput, "deployments/datahub/secrets/prod.yaml: is not sops-encrypted, but its name says it holds secrets"},
		{"wrong age key", func(t *testing.T, repo string, c *cli) {
			c.key = writeFile(t, repo, "../other-key.txt", other.Identity+"\n")
		}, []string{"render", "datahub", "prod"}, exitInput, "deployments/datahub/secrets/prod.yaml: no available key can decrypt it; it is encrypted for age age1"},
		{"tampered secret file", func(t *testing.T, repo string, _ *cli) {
			p := filepath.Join(repo, "deployments/datahub/secrets/prod.yaml")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(data, []byte("secretToken:"), []byte("secretTokn:"), 1), 0o644)
		}, []string{"render", "datahub", "prod"}, exitInput, "deployments/datahub/secrets/prod.yaml: failed its integrity check (MAC mismatch)"},
		{"values break the chart schema", func(t *testing.T, repo string, _ *cli) {
			appendFile(t, repo, "deployments/stat20/config/staging.yaml", "  singleusr: {}\n")
		}, []string{"render", "stat20", "staging"}, exitInput, `hub: cannot render hub stat20 for staging: values don't meet the specifications of the schema(s) in the following chart(s): jupyterhub: - at '': additional properties 'singleusr' not allowed (did you mean "singleuser"?`},
		{"chart dependency not reachable", func(t *testing.T, repo string, c *cli) {
			c.mirror = example.Z2JHRepository + "=http://127.0.0.1:1/"
		}, []string{"render", "datahub", "prod"}, exitFailure, "hub: dependency jupyterhub 4.3.3 from https://hub.jupyter.org/helm-chart/: not reachable: GET http://127.0.0.1:1/index.yaml"},
		{"bad flag", nil, []string{"render", "--nope"}, exitInput, "unknown flag: --nope"},
		{"missing argument", nil, []string{"render", "datahub"}, exitInput, "accepts 2 arg(s), received 1"},
		{"bad --set", nil, []string{"render", "datahub", "prod", "--set", "novalue"}, exitInput, `key "--set": cannot parse "novalue"`},
		{"bad --output", nil, []string{"status", "datahub", "prod", "--output", "yaml"}, exitInput, `--output must be text or json, not "yaml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := example.Copy(t)
			c := newCLI(t, repo)
			if tc.break_ != nil {
				tc.break_(t, repo, c)
			}
			code, out, errOut := c.run(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if out != "" {
				t.Errorf("stdout not empty: %q", out)
			}
			// Progress lines may come first; the error is the one last line.
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			last := lines[len(lines)-1]
			if strings.Count(errOut, "error:") != 1 || !strings.HasPrefix(last, "hubploy: error: ") {
				t.Errorf("want one error line at the end, got:\n%s", errOut)
			}
			if !strings.Contains(last, tc.want) {
				t.Errorf("stderr %q\nlacks  %q", errOut, tc.want)
			}
		})
	}
}

// validate reports every problem of every hub, not only the first.
func TestValidateReportsAllProblems(t *testing.T) {
	repo := example.Copy(t)
	appendFile(t, repo, "deployments/stat20/config/staging.yaml", "  singleusr: {}\n")
	appendFile(t, repo, "deployments/datahub/hubploy.yaml", "clustr: {}\n")
	appendFile(t, repo, "deployments/stat20/config/prod.yaml", "  proxy:\n    service:\n      type: Balancer\n")
	c := newCLI(t, repo)
	code, out, _ := c.run("validate")
	if code != exitFailure {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"FAIL datahub (", `key "clustr": unknown key`,
		"FAIL stat20/prod (", "at '/proxy/service/type': value must be one of",
		"FAIL stat20/staging (", "'singleusr' not allowed",
		"validated 3 hub environment(s): 0 ok, 3 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func writeFile(t *testing.T, repo, rel, content string) string {
	t.Helper()
	p := filepath.Join(repo, rel)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func appendFile(t *testing.T, repo, rel, content string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(repo, rel), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(content)
}

// hubploy 0.3's and v1.2's global flags come before the command, as their CI lines
// have them.
func TestGlobalFlagsOfPythonHubploy(t *testing.T) {
	c := newCLI(t, example.Dir())
	code, out, errOut := c.run("-d", "render", "stat20", "prod")
	if code != 0 || !strings.Contains(out, "kind: Deployment") {
		t.Fatalf("-d render: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"stat20/prod: prepared release stat20-prod in stat20-prod: 3 values layer(s)", "stat20/prod: values layer 3: deployments/stat20/secrets/prod.yaml"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("-d lacks %q in:\n%s", want, errOut)
		}
	}
	for _, args := range [][]string{{"-v", "validate", "datahub"}, {"--verbose", "--debug", "--helm-debug", "validate", "stat20"}, {"-D", "render", "datahub", "staging"}} {
		if code, _, errOut := c.run(args...); code != 0 {
			t.Errorf("%v: exit %d\n%s", args, code, errOut)
		}
	}
}
