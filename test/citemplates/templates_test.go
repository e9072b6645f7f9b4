// Package citemplates checks the CI templates of ci/ without an engine or a cluster:
// each parses as YAML of its CI system's shape, and every `dagger call` and `hubploy`
// command of its scripts, and of the "# CLI: …" comments beside them, names only
// functions, commands and flags that exist. What exists is read from the module's
// Go source (.dagger) and from the built hubploy's --help, never from a list kept
// here. No script may show a secret in the job's log.
package citemplates

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hubploy/hubploy/internal/clitest"
)

// root is the repository's root, from this package's folder.
var root = filepath.Join("..", "..")

var (
	loadOnce sync.Once
	mod      *module
	cli      *cliCommand
	loadErr  error
)

// load reads the module's source and builds hubploy to read its help, once.
func load(t *testing.T) (*module, *cliCommand) {
	t.Helper()
	loadOnce.Do(func() {
		if mod, loadErr = readModule(filepath.Join(root, ".dagger"), "Hubploy"); loadErr != nil {
			return
		}
		dir, err := os.MkdirTemp("", "citemplates")
		if err != nil {
			loadErr = err
			return
		}
		defer os.RemoveAll(dir) // the help is read: the binary is not needed after
		bin, err := clitest.Build(dir)
		if err != nil {
			loadErr = err
			return
		}
		cli, loadErr = readCLI(bin)
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return mod, cli
}

// A template is a CI file of ci/, parsed.
type template struct {
	path    string // relative to the repository's root
	system  string // github, gitlab, circleci: its folder
	raw     string
	doc     *yaml.Node // the document's top mapping
	scripts []string
	// secrets are the variables the CI's secret store fills.
	secrets map[string]bool
}

// scriptKeys are the keys whose values are shell scripts: GitHub's run, GitLab's
// script and before/after_script, CircleCI's run (a string) or command.
var scriptKeys = map[string]bool{"run": true, "command": true, "script": true, "before_script": true, "after_script": true}

// readTemplates parses every YAML file under ci/.
func readTemplates(t *testing.T) []*template {
	t.Helper()
	var out []*template
	err := filepath.WalkDir(filepath.Join(root, "ci"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(path, ".yml") && !strings.HasSuffix(path, ".yaml")) {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		tpl, err := parseTemplate(rel, filepath.Base(filepath.Dir(path)), raw)
		if err != nil {
			return err
		}
		out = append(out, tpl)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 3 {
		t.Fatalf("ci/ has %d templates; want GitHub's, GitLab's and CircleCI's", len(out))
	}
	return out
}

// cliComment is a comment that gives a step's plain-CLI variant.
var cliComment = regexp.MustCompile(`#\s*` + cliMarker)

// parseTemplate parses a template of the CI system named by its folder.
func parseTemplate(path, system string, raw []byte) (*template, error) {
	tpl := &template{path: path, system: system, raw: string(raw), secrets: map[string]bool{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not one YAML mapping", path)
	}
	tpl.doc = doc.Content[0]
	tpl.walk(tpl.doc)
	return tpl, nil
}

// githubSecret is a GitHub expression that reads a secret.
var githubSecret = regexp.MustCompile(`\$\{\{\s*secrets\.`)

// walk collects the scripts, and the variables a GitHub secret fills.
func (tpl *template) walk(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			switch {
			case scriptKeys[key.Value] && value.Kind == yaml.ScalarNode:
				tpl.scripts = append(tpl.scripts, value.Value)
			case scriptKeys[key.Value] && value.Kind == yaml.SequenceNode:
				for _, item := range value.Content {
					tpl.scripts = append(tpl.scripts, item.Value)
				}
			case value.Kind == yaml.ScalarNode && githubSecret.MatchString(value.Value):
				tpl.secrets[key.Value] = true
			}
			tpl.walk(value)
		}
		return
	}
	for _, c := range n.Content {
		tpl.walk(c)
	}
}

func isDaggerCall(c command) bool {
	return c.words[0] == "dagger" && slices.Contains(c.words, "call")
}

func isHubploy(c command) bool { return filepath.Base(c.words[0]) == "hubploy" }

// checkTemplate checks a template's commands and secrets; it returns every problem.
func checkTemplate(tpl *template, m *module, root *cliCommand) []error {
	var errs []error
	fail := func(err error) { errs = append(errs, fmt.Errorf("%s: %w", tpl.path, err)) }
	var all []command
	calls, cliComments := 0, 0
	for _, script := range tpl.scripts {
		if githubSecret.MatchString(script) {
			fail(fmt.Errorf("a script expands a secret into its text (and the log): pass it through env"))
		}
		if strings.Contains(script, "<<") {
			fail(fmt.Errorf("a script has a heredoc, whose lines these checks cannot read: write a file of the repository instead"))
		}
		cmds := scriptCommands(script)
		all = append(all, cmds...)
		scriptCalls, scriptCLI := 0, 0
		for _, c := range cmds {
			switch {
			case isDaggerCall(c) && !c.comment:
				scriptCalls++
				for _, err := range checkDagger(c.words, m) {
					fail(fmt.Errorf("%s\n\t%w", c.line, err))
				}
				for _, w := range c.words {
					if _, name, ok := strings.Cut(w, "=env:"); ok {
						tpl.secrets[name] = true
					}
				}
			case isHubploy(c):
				if c.comment {
					scriptCLI++
				}
				for _, err := range checkHubploy(c.words, root) {
					fail(fmt.Errorf("%s\n\t%w", c.line, err))
				}
			}
		}
		if scriptCalls > 0 && scriptCLI == 0 {
			fail(fmt.Errorf("a script calls dagger with no \"# CLI: hubploy …\" comment beside it:\n%s", script))
		}
		calls += scriptCalls
		cliComments += scriptCLI
	}
	// What the scripts hold is all the file holds: no call or CLI comment elsewhere
	// (in a YAML comment, or a key no CI runs) escapes the checks.
	if n := strings.Count(tpl.raw, "dagger call"); n != calls {
		fail(fmt.Errorf("%d \"dagger call\" in the file, %d in its scripts", n, calls))
	}
	if n := len(cliComment.FindAllString(tpl.raw, -1)); n != cliComments {
		fail(fmt.Errorf("%d \"# %s\" comments in the file, %d with a hubploy command in its scripts", n, cliMarker, cliComments))
	}
	if calls == 0 {
		fail(fmt.Errorf("no dagger call"))
	}
	for _, err := range checkSecrets(all, tpl.secrets) {
		fail(err)
	}
	return errs
}

func TestTemplates(t *testing.T) {
	m, c := load(t)
	for _, tpl := range readTemplates(t) {
		t.Run(tpl.path, func(t *testing.T) {
			for _, err := range checkTemplate(tpl, m, c) {
				t.Error(err)
			}
			for _, err := range checkShape(tpl) {
				t.Errorf("%s: %v", tpl.path, err)
			}
		})
	}
}

// TestTemplatesRunTheFlow checks that each template runs the whole flow: a change is
// validated strictly, planned and diffed; staging publishes its images and deploys
// with a check that rolls back; prod verifies the branch rule and deploys with a check.
func TestTemplatesRunTheFlow(t *testing.T) {
	steps := []string{
		` validate --strict`,
		` plan .*--format=markdown`,
		` diff --hub=`,
		` publish --hub=`,
		` verify-branches`,
		` deploy --env=staging .*--check --rollback-on-failure`,
		` deploy --env=prod .*--check`,
	}
	for _, tpl := range readTemplates(t) {
		var calls []string
		for _, script := range tpl.scripts {
			for _, c := range scriptCommands(script) {
				if isDaggerCall(c) && !c.comment {
					calls = append(calls, strings.Join(c.words, " "))
				}
			}
		}
		for _, step := range steps {
			re := regexp.MustCompile(step)
			if !slices.ContainsFunc(calls, re.MatchString) {
				t.Errorf("%s: no dagger call matches %q", tpl.path, step)
			}
		}
	}
}
