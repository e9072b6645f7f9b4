package citemplates

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// oneCommand parses a line that holds one command, besides those it captures.
func oneCommand(t *testing.T, line string) []string {
	t.Helper()
	var words [][]string
	for _, c := range scriptCommands(line) {
		if !c.captured {
			words = append(words, c.words)
		}
	}
	if len(words) != 1 {
		t.Fatalf("%q: %d commands, want 1", line, len(words))
	}
	return words[0]
}

// The checker refuses what does not exist, with the module and the CLI as they are,
// and takes what does: without the refusals, a template naming a made-up flag would
// pass unseen.
func TestCheckerRefuses(t *testing.T) {
	m, cli := load(t)
	for _, tc := range []struct{ line, want string }{
		{`dagger call -m x --repo=. deploy --env=prod --made-up-flag`, "function deploy has no argument --made-up-flag"},
		{`dagger call --repo=. --made-up=1 validate`, "the constructor has no argument --made-up"},
		{`dagger call --repo=. made-up-function`, `the module has no function "made-up-function"`},
		// Each function takes its own arguments only.
		{`dagger call --repo=. with-cluster --check deploy --env=prod`, "function with-cluster has no argument --check"},
		{`dagger call --repo=. deploy --env=prod --token=env:T`, "function deploy has no argument --token"},
		{`dagger call --repo=. deploy --all`, "function deploy needs --env"},
		{`dagger call --repo=. publish`, "function publish needs --hub"},
		{`dagger call --age-key=AGE-SECRET-KEY-1 validate`, "is a Secret: give it as env:NAME or file:PATH"},
		{`dagger call --repo=. validate with-cluster`, `function validate returns no module object: "with-cluster" cannot follow it`},
		{`dagger call --repo=. with-check --token=env:T`, "the call ends on function with-check"},
		{`dagger call --repo=. deploy --env`, "function deploy: --env has no value"},
		{`hubploy deploy datahub prod --made-up`, "hubploy deploy has no flag --made-up"},
		{`hubploy made-up`, `hubploy has no command "made-up"`},
		{`hubploy images made-up`, `hubploy images has no command "made-up"`},
		{`hubploy --output json`, "no hubploy command named"},
		// A shared flag that does not apply to the command, before it or after.
		{`hubploy plan --base main --kubeconfig kc`, "hubploy plan has no flag --kubeconfig"},
		{`hubploy --age-key-file k verify-branches`, "hubploy verify-branches has no flag --age-key-file"},
		{`hubploy verify-branches -x`, "hubploy verify-branches has no flag -x"},
	} {
		words := oneCommand(t, tc.line)
		var errs []error
		if words[0] == "dagger" {
			errs = checkDagger(words, m)
		} else {
			errs = checkHubploy(words, cli)
		}
		if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.line, err, tc.want)
		}
	}
}

func TestCheckerAccepts(t *testing.T) {
	m, cli := load(t)
	for _, line := range []string{
		`dagger call --repo=. --age-key=env:SOPS_AGE_KEY with-cluster --kubeconfig=env:KC with-check --token=env:T deploy --env=prod --all --canary=datahub --check --rollback-on-failure`,
		`dagger call -m github.com/hubploy/hubploy@v1 --progress=plain --repo . with-cluster --kubeconfig=file:kc.yaml rollback --hub=datahub --env=prod --revision=3`,
		`dagger call --repo=. with-build-secret --id=pip-token --value=env:PIP_TOKEN publish --hub=datahub --target=final --build-arg=PYTHON=3.12 --registry-password=env:REG_TOKEN`,
		`hubploy --repo r -v validate --strict`,
		`hubploy deploy --env prod --all --atomic --timeout 30m -o json`,
		`hubploy deploy datahub prod --kubeconfig <(printf %s "$KUBECONFIG_DATA") --check`,
		`hubploy images promote datahub --from staging --to prod`,
		`hubploy plan --base=origin/staging -ojson`,
	} {
		words := oneCommand(t, line)
		var errs []error
		if words[0] == "dagger" {
			errs = checkDagger(words, m)
		} else {
			errs = checkHubploy(words, cli)
		}
		if err := errors.Join(errs...); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}
}

func TestSecretsShown(t *testing.T) {
	for _, tc := range []struct {
		script string
		ok     bool
	}{
		{`echo $SOPS_AGE_KEY`, false},
		{`echo "key: ${SOPS_AGE_KEY}"`, false},
		{`printf '%s' "$KUBECONFIG_DATA" > kubeconfig`, false},
		{`set -x`, false},
		{`set -eux`, false},
		{`set -o xtrace`, false},
		{`bash -x deploy.sh`, false},
		{`env`, false},
		{`printenv`, false},
		{`echo "$MY_DEPLOY_CREDS"`, false}, // a secret by the store's name, whatever it is called
		{`hubploy deploy datahub prod --kubeconfig <(printf %s "$KUBECONFIG_DATA")`, true},
		{`set -eo pipefail`, true},
		{`echo "hubs=$HUBS" >> "$GITHUB_OUTPUT"`, true},
		{`printf '%s/%s\n' "$hub" "$ENV"`, true},
	} {
		errs := checkSecrets(scriptCommands(tc.script), map[string]bool{"MY_DEPLOY_CREDS": true})
		if (errs == nil) != tc.ok {
			t.Errorf("%q: got %v, want ok=%v", tc.script, errs, tc.ok)
		}
	}
}

func TestScriptCommands(t *testing.T) {
	script := `# plain prose, hubploy deploy nothing
# CLI: hubploy deploy --env staging \
#   --check
dagger call -m "$M" --repo=. \
  deploy --env=staging --hub="$HUBS" # CLI: hubploy deploy --env staging "$HUBS"
HUBS=$(dagger call --repo=. plan --base="$B" | sed -nE 's#^  ([^/ ]+)/x( .*)?$#\1#p' | paste -sd, -)
for hub in $(cat hubs.txt); do printf '%s\n' "$hub"; done >> out.md 2>&1
`
	var got []string
	for _, c := range scriptCommands(script) {
		got = append(got, strings.Join(c.words, " ")+map[bool]string{true: " [comment]"}[c.comment]+map[bool]string{true: " [captured]"}[c.captured])
	}
	want := []string{
		"hubploy deploy --env staging --check [comment]",
		"dagger call -m $M --repo=. deploy --env=staging --hub=$HUBS",
		"hubploy deploy --env staging $HUBS [comment]",
		"dagger call --repo=. plan --base=$B [captured]",
		"sed -nE s#^  ([^/ ]+)/x( .*)?$#\\1#p [captured]",
		"paste -sd, - [captured]",
		"cat hubs.txt [captured]",
		"for hub in $(cat hubs.txt)",
		`printf %s\n $hub`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestKebab(t *testing.T) {
	for in, want := range map[string]string{
		"WithCluster": "with-cluster", "rollbackOnFailure": "rollback-on-failure", "apiServerName": "api-server-name",
		"APIServer": "api-server", "ageKey": "age-key", "Deploy": "deploy", "WithBuildSecret": "with-build-secret",
	} {
		if got := kebab(in); got != want {
			t.Errorf("kebab(%q) = %q, want %q", in, got, want)
		}
	}
}

// A whole template with mistakes fails on each: a made-up flag in a call and in a CLI
// comment, a call hidden in a YAML comment, a secret echoed, a step with no CLI
// variant, and a GitHub job with no runs-on.
func TestTemplateRefused(t *testing.T) {
	m, cli := load(t)
	tpl, err := parseTemplate("bad.yaml", "github", []byte(`on: push
env:
  SOPS_AGE_KEY: ${{ secrets.SOPS_AGE_KEY }}
jobs:
  deploy:
    steps:
      # dagger call --repo=. validate
      - run: |
          # CLI: hubploy validate --made-up-cli-flag
          dagger call --repo=. --age-key=env:SOPS_AGE_KEY validate --made-up-flag
      - run: dagger call --repo=. lock
      - run: echo "$SOPS_AGE_KEY"
`))
	if err != nil {
		t.Fatal(err)
	}
	got := errors.Join(append(checkTemplate(tpl, m, cli), checkShape(tpl)...)...)
	for _, want := range []string{
		"function validate has no argument --made-up-flag",
		"hubploy validate has no flag --made-up-cli-flag",
		`3 "dagger call" in the file, 2 in its scripts`,
		`prints the secret $SOPS_AGE_KEY`,
		"a script calls dagger with no \"# CLI: hubploy …\" comment beside it",
		"job deploy has no runs-on",
	} {
		if got == nil || !strings.Contains(got.Error(), want) {
			t.Errorf("want an error with %q; got:\n%v", want, got)
		}
	}
}
