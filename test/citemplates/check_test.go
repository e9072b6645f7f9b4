package citemplates

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// daggerFlags are the dagger CLI's own flags that may come before the module's
// arguments, and whether each takes a value: dagger's, not hubploy's, so listed here.
var daggerFlags = map[string]bool{"-m": true, "--mod": true, "--progress": true, "-q": false, "--quiet": false, "-s": false, "--silent": false}

// checkDagger checks a `dagger call` against the module: each function exists, each
// --flag is an argument of the function it follows (the constructor's before the
// first function), each required argument is given, a Secret is passed as env:NAME
// or file:PATH, and only functions that return the module's object are followed by
// another.
func checkDagger(words []string, m *module) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	i := slices.Index(words, "call")
	if i < 0 {
		return []error{fmt.Errorf("not a dagger call")}
	}
	i++
	for i < len(words) {
		name, _, hasValue := strings.Cut(words[i], "=")
		takesValue, ok := daggerFlags[name]
		if !ok {
			break
		}
		i++
		if takesValue && !hasValue {
			i++
		}
	}
	fn, what := m.constructor, "the constructor"
	for {
		given := map[string]bool{}
		for i < len(words) && strings.HasPrefix(words[i], "-") {
			name, value, hasValue := strings.Cut(words[i], "=")
			i++
			arg, ok := fn.args[strings.TrimPrefix(name, "--")]
			if !ok || !strings.HasPrefix(name, "--") {
				fail("%s has no argument %s", what, name)
				continue
			}
			given[name] = true
			if !arg.bool && !hasValue {
				if i == len(words) {
					fail("%s: %s has no value", what, name)
					break
				}
				value = words[i]
				i++
			}
			if arg.secret && !strings.HasPrefix(value, "env:") && !strings.HasPrefix(value, "file:") {
				fail("%s: %s is a Secret: give it as env:NAME or file:PATH, not %q", what, name, value)
			}
		}
		for name, arg := range fn.args {
			if arg.required && !given["--"+name] {
				fail("%s needs --%s", what, name)
			}
		}
		if i == len(words) {
			if fn == m.constructor || fn.chains {
				fail("the call ends on %s, which only sets up: call a function after it", what)
			}
			return errs
		}
		if fn != m.constructor && !fn.chains {
			fail("%s returns no module object: %q cannot follow it", what, words[i])
			return errs
		}
		next, ok := m.functions[words[i]]
		if !ok {
			fail("the module has no function %q", words[i])
			return errs
		}
		fn, what = next, "function "+words[i]
		i++
	}
}

// checkHubploy checks a hubploy command line against the CLI: the command (and
// subcommand) exists and accepts each flag, the shared ones given before it too.
func checkHubploy(words []string, root *cliCommand) []error {
	cmd, args := root, false
	var flags []string
	for i := 1; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			break
		}
		if strings.HasPrefix(w, "-") && len(w) > 1 {
			name, _, hasValue := strings.Cut(w, "=")
			if !strings.HasPrefix(name, "--") && len(name) > 2 {
				name, hasValue = name[:2], true // -ojson
			}
			flags = append(flags, name)
			takesValue, ok := cmd.flags[name]
			if !ok {
				takesValue = root.flags[name]
			}
			if takesValue && !hasValue {
				i++
			}
			continue
		}
		if sub, ok := cmd.subs[w]; ok && !args {
			cmd = sub
			continue
		}
		if len(cmd.subs) > 0 && !args {
			return []error{fmt.Errorf("%s has no command %q", cmd.path, w)}
		}
		args = true // a positional argument of cmd
	}
	if cmd == root {
		return []error{fmt.Errorf("no hubploy command named")}
	}
	var errs []error
	for _, f := range flags {
		if _, ok := cmd.flags[f]; !ok {
			errs = append(errs, fmt.Errorf("%s has no flag %s", cmd.path, f))
		}
	}
	return errs
}

// secretName is a variable's name that says it holds a secret.
var secretName = regexp.MustCompile(`(?i)(TOKEN|PASSWORD|SECRET|KEY|KUBECONFIG_DATA)$`)

// variableRef finds the variables a word expands: $NAME, ${NAME...}.
var variableRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// checkSecrets checks that no command of a script shows a secret in the job's log:
// no xtrace (it prints each command with its variables expanded), no dump of the
// environment, no echo, printf or cat of a variable that holds a secret (unless its
// output is captured, as in <(printf %s "$KUBECONFIG_DATA")). secrets are the
// variables known to hold one; names that say secret count too.
func checkSecrets(cmds []command, secrets map[string]bool) []error {
	var errs []error
	for _, c := range cmds {
		name, args := c.words[0], c.words[1:]
		switch name {
		case "set":
			for _, a := range args {
				if a == "xtrace" || (strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "x")) {
					errs = append(errs, fmt.Errorf("%q traces every command with its secrets expanded", c.line))
				}
			}
		case "bash", "sh":
			if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "-") && strings.Contains(a, "x") }) {
				errs = append(errs, fmt.Errorf("%q traces every command with its secrets expanded", c.line))
			}
		case "env", "printenv", "export", "declare":
			if len(args) == 0 || args[0] == "-p" {
				errs = append(errs, fmt.Errorf("%q prints the environment, secrets and all", c.line))
			}
		case "echo", "printf", "cat":
			if c.captured {
				continue
			}
			for _, a := range args {
				for _, m := range variableRef.FindAllStringSubmatch(a, -1) {
					if secrets[m[1]] || secretName.MatchString(m[1]) {
						errs = append(errs, fmt.Errorf("%q prints the secret $%s", c.line, m[1]))
					}
				}
			}
		}
	}
	return errs
}
