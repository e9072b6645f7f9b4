package citemplates

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// A cliCommand is a hubploy command, as its --help tells it.
type cliCommand struct {
	path string
	// flags are the flags it accepts, its own and the shared ones that apply to it,
	// by long name and by shorthand; true for a flag that takes a value.
	flags map[string]bool
	subs  map[string]*cliCommand
}

// flagLine is a flag of pflag's help: two spaces and "-x, " or six spaces, the long
// name, and the value's name for a flag that takes one; then at least two spaces
// before the usage (or the end of the line).
var flagLine = regexp.MustCompile(`^(?:  -(\w), |      )--([a-z0-9][a-z0-9-]*)( \S+)?(?:  |$)`)

// commandLine is a line of "Available Commands:".
var commandLine = regexp.MustCompile(`^  ([a-z_][a-z0-9_-]*)\s`)

// readCLI reads the command tree and each command's flags from the help of the
// hubploy binary bin: `hubploy [COMMAND...] --help`.
func readCLI(bin string) (*cliCommand, error) {
	return readCommand(bin, nil)
}

func readCommand(bin string, path []string) (*cliCommand, error) {
	out, err := exec.Command(bin, append(path, "--help")...).Output()
	if err != nil {
		return nil, fmt.Errorf("hubploy %s --help: %w", strings.Join(path, " "), err)
	}
	c := &cliCommand{path: strings.Join(append([]string{"hubploy"}, path...), " "), flags: map[string]bool{}, subs: map[string]*cliCommand{}}
	section := ""
	for line := range strings.SplitSeq(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, " ") {
			section = strings.TrimSuffix(line, ":")
			continue
		}
		switch section {
		case "Flags", "Global Flags":
			if m := flagLine.FindStringSubmatch(line); m != nil {
				takesValue := m[3] != ""
				c.flags["--"+m[2]] = takesValue
				if m[1] != "" {
					c.flags["-"+m[1]] = takesValue
				}
			}
		case "Available Commands":
			if m := commandLine.FindStringSubmatch(line); m != nil && m[1] != "help" {
				sub, err := readCommand(bin, append(append([]string(nil), path...), m[1]))
				if err != nil {
					return nil, err
				}
				c.subs[m[1]] = sub
			}
		}
	}
	if len(c.flags) == 0 {
		return nil, fmt.Errorf("%s --help lists no flag: has its help changed form?", c.path)
	}
	return c, nil
}
