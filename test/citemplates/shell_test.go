package citemplates

import (
	"strings"
)

// A command is one simple command of a script: its words, quotes removed.
type command struct {
	words []string
	// captured: inside $(...) or <(...), so that its output goes to the script, not
	// to the job's log.
	captured bool
	// comment: from a "# CLI: …" comment, the plain-CLI variant beside a step.
	comment bool
	// line is the logical line it comes from, for messages.
	line string
}

// cliMarker starts the comment that gives a step's plain-CLI variant.
const cliMarker = "CLI:"

// scriptCommands returns the commands of a shell script, and those of its "CLI:"
// comments, joining continued lines (a comment continues on the next comment line).
func scriptCommands(script string) []command {
	var out []command
	lines := strings.Split(script, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		isComment := strings.HasPrefix(line, "#")
		if isComment {
			line = strings.TrimSpace(strings.TrimLeft(line, "#"))
		}
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			next := strings.TrimSpace(lines[i+1])
			if isComment {
				if !strings.HasPrefix(next, "#") {
					break
				}
				next = strings.TrimSpace(strings.TrimLeft(next, "#"))
			}
			line = strings.TrimSpace(strings.TrimSuffix(line, `\`)) + " " + next
			i++
		}
		if isComment {
			out = append(out, commentCommands(line)...)
			continue
		}
		rest := parseLine(line, false, line, &out)
		out = append(out, commentCommands(rest)...)
	}
	return out
}

// commentCommands parses a comment's text: only a "CLI:" comment holds a command.
func commentCommands(text string) []command {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, cliMarker) {
		return nil
	}
	var out []command
	code := strings.TrimSpace(strings.TrimPrefix(text, cliMarker))
	parseLine(code, false, code, &out)
	for i := range out {
		out[i].comment = true
	}
	return out
}

// parseLine splits one logical line into simple commands, appended to out, and
// returns the comment that ends it, if any. Substitutions $(...) and <(...) are kept
// in their word as written, and their commands parsed as captured ones.
func parseLine(s string, captured bool, line string, out *[]command) (comment string) {
	var words []string
	var cur strings.Builder
	inWord, dropNext := false, false
	endWord := func() {
		if !inWord {
			return
		}
		if dropNext { // a redirection's target, no argument
			dropNext = false
		} else {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	endCommand := func() {
		endWord()
		if cmd := trimPrefixWords(words); len(cmd) > 0 {
			*out = append(*out, command{words: cmd, captured: captured, line: line})
		}
		words = nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			endWord()
		case c == '#' && !inWord:
			endCommand()
			return s[i+1:]
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			inWord = true
			i++
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				end = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case c == '"':
			i = doubleQuoted(s, i+1, line, &cur, out)
			inWord = true
		case (c == '$' || c == '<' || c == '>') && i+1 < len(s) && s[i+1] == '(':
			end := closingParen(s, i+2)
			parseLine(s[i+2:end], true, line, out)
			cur.WriteString(s[i:min(end+1, len(s))])
			inWord = true
			i = end
		case c == '>' || c == '<':
			// A redirection: a file descriptor before it is no word, its target none.
			if w := cur.String(); inWord && strings.Trim(w, "0123456789") == "" {
				cur.Reset()
				inWord = false
			}
			endWord()
			for i+1 < len(s) && (s[i+1] == '>' || s[i+1] == '&') {
				i++
			}
			dropNext = true
		case c == '|' || c == '&' || c == ';' || c == '(' || c == ')':
			endCommand()
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	endCommand()
	return ""
}

// doubleQuoted reads a double-quoted string from s[i:] into cur, parsing the
// substitutions in it, and returns the index of its closing quote.
func doubleQuoted(s string, i int, line string, cur *strings.Builder, out *[]command) int {
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			i++
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			end := closingParen(s, i+2)
			parseLine(s[i+2:end], true, line, out)
			cur.WriteString(s[i:min(end+1, len(s))])
			i = end
		default:
			cur.WriteByte(c)
		}
	}
	return i
}

// closingParen is the index of the parenthesis that closes the one before s[i:],
// skipping quoted text and nested parentheses (len(s) if there is none).
func closingParen(s string, i int) int {
	depth := 1
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '\'', '"':
			if end := strings.IndexByte(s[i+1:], s[i]); end >= 0 {
				i += end + 1
			}
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return len(s)
}

// trimPrefixWords drops what comes before a command's name: variable assignments
// and the shell's keywords.
func trimPrefixWords(words []string) []string {
	for len(words) > 0 {
		w := words[0]
		if eq := strings.IndexByte(w, '='); eq > 0 && isName(w[:eq]) {
			words = words[1:]
			continue
		}
		switch w {
		case "do", "then", "else", "elif", "if", "while", "until", "!", "{", "}", "time", "exec", "done", "fi":
			words = words[1:]
			continue
		}
		return words
	}
	return nil
}

// isName says whether s is a shell variable's name.
func isName(s string) bool {
	for i, c := range s {
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}
