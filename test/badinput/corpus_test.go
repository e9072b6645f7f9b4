package badinput

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubploy/hubploy/internal/example"
)

// A case is a txtar file (golang.org/x/tools/txtar's format, read by readArchive so
// as not to pull its module, and a newer golang.org/x/net, into the build). Its comment
// holds a sentence saying what is bad, then
// "key: value" lines:
//
//	args: ["render", "datahub", "prod"]   the command line, as JSON (placeholders below)
//	env: NAME=VALUE                       set in hubploy's environment (repeatable)
//	exit: 2                               the exit code the README gives
//	names: deployments/datahub/…:3        text the error line must hold: the file and
//	                                      its line or key, the flag (repeatable)
//	deploy: true                          a deploy case: the live release must not change
//	alone: true                           runs alone, not beside others (heavy work)
//
// Its files patch the copy of hubs-example the command runs on, in order:
//
//	-- write PATH --      the file's new content
//	-- append PATH --     appended to the file
//	-- replace PATH --    lines "OLD" => "NEW" (Go strings): the first OLD becomes NEW;
//	                      an empty OLD puts NEW at the start
//	-- gen PATH --        lines "PREFIX" "FORMAT" N: PREFIX, then FORMAT (with %[1]d
//	                      for 0…N-1) N times; the lines' texts make the file
//	-- truncate PATH --   the first N bytes are kept
//	-- delete PATH --     removed (a folder with what it holds)
//	-- mkdir PATH --      a folder in its place
//	-- rename PATH --     moved to the path the body names
//
// Placeholders, in args and env: $REPO (the copy), $TMP (a folder of the case's,
// outside the copy), $KUBECONFIG (the test cluster), $UNREACHABLE (a kubeconfig for
// a server that does not answer), $NS (the live release's namespace), $EXAMPLE_KEY
// (the example's age key), $ENDLESS (a chart mirror that sends without end).
type testCase struct {
	name  string
	about string
	args  []string
	env   []string
	exit  int
	names []string
	live  bool // a deploy case
	alone bool
	ops   []archiveFile
}

const (
	// maxDuration bounds every case's CPU time, and twice it its wall time (the machine
	// may be busy with other tests): bad input must end quickly, not after a timeout.
	maxDuration = 30 * time.Second
	// maxErrorLine bounds the error line: an input of megabytes must not make it one.
	maxErrorLine = 1000
)

func TestCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txtar"))
	if err != nil || len(files) < 60 {
		t.Fatalf("the corpus has %d cases (%v), want 60 or more", len(files), err)
	}
	var cases []testCase
	for _, f := range files {
		tc, err := parseCase(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cases = append(cases, tc)
	}
	// Deploy cases run one at a time, each checking the live release after it, and so
	// do heavy ones, whose time is measured; the others in parallel.
	slices.SortStableFunc(cases, func(a, b testCase) int { return boolCmp(b.serial(), a.serial()) })
	var ran atomic.Int32
	t.Cleanup(func() { t.Logf("ran %d of %d bad-input cases", ran.Load(), len(cases)) })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.serial() {
				t.Parallel()
			}
			tc.run(t)
			ran.Add(1)
		})
	}
}

func (tc testCase) serial() bool { return tc.live || tc.alone }

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func parseCase(file string) (testCase, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return testCase{}, err
	}
	comment, ops := readArchive(data)
	tc := testCase{name: strings.TrimSuffix(filepath.Base(file), ".txtar"), ops: ops, exit: -1}
	for _, line := range strings.Split(comment, "\n") {
		key, value, ok := strings.Cut(line, ": ")
		switch {
		case !ok || strings.Contains(key, " "):
			tc.about += line
		case key == "args":
			err = json.Unmarshal([]byte(value), &tc.args)
		case key == "env":
			tc.env = append(tc.env, value)
		case key == "exit":
			tc.exit, err = strconv.Atoi(value)
		case key == "names":
			tc.names = append(tc.names, value)
		case key == "deploy":
			tc.live, err = strconv.ParseBool(value)
		case key == "alone":
			tc.alone, err = strconv.ParseBool(value)
		default:
			err = fmt.Errorf("unknown key %q", key)
		}
		if err != nil {
			return tc, err
		}
	}
	switch {
	case len(tc.args) == 0 || tc.exit < 0:
		return tc, fmt.Errorf("needs args and exit")
	case tc.exit != 0 && len(tc.names) == 0:
		return tc, fmt.Errorf("a failing case needs names: what its error line names")
	case strings.TrimSpace(tc.about) == "":
		return tc, fmt.Errorf("needs a sentence saying what is bad")
	}
	return tc, nil
}

func (tc testCase) run(t *testing.T) {
	repo, tmp := example.Copy(t), t.TempDir()
	for _, op := range tc.ops {
		if err := apply(repo, op); err != nil {
			t.Fatalf("setting up: %s: %v", op.Name, err)
		}
	}
	fill := strings.NewReplacer(append(placeholders(), "$REPO", repo, "$TMP", tmp)...)
	args := make([]string, len(tc.args))
	for i, a := range tc.args {
		args[i] = fill.Replace(a)
	}
	before := treeHash(t, repo)
	c := command(repo, tmp, args...)
	for _, e := range tc.env {
		c.Env = append(c.Env, fill.Replace(e))
	}
	e := run(t, c)
	t.Logf("hubploy %s: exit %d in %s (%s of CPU)\n%s%s", strings.Join(args, " "), e.code, e.took.Round(time.Millisecond), e.cpu.Round(time.Millisecond), e.stdout, e.stderr)
	if e.code != tc.exit {
		t.Errorf("exit %d, want %d", e.code, tc.exit)
	}
	if e.cpu > maxDuration || e.took > 2*maxDuration {
		t.Errorf("took %s, %s of CPU: more than %s", e.took, e.cpu, maxDuration)
	}
	for _, trace := range []string{"goroutine ", "panic:", ".go:"} {
		if strings.Contains(e.stdout+e.stderr, trace) {
			t.Errorf("the output holds a Go trace (%q)", trace)
		}
	}
	if tc.exit != 0 {
		names := make([]string, len(tc.names))
		for i, n := range tc.names {
			names[i] = fill.Replace(n)
		}
		checkErrorLine(t, args, e.stdout, e.stderr, names)
	}
	if after := treeHash(t, repo); after != before {
		t.Errorf("the repository changed")
	}
	if tc.live {
		if now, err := history(); err != nil || now != liveHistory {
			t.Errorf("the live release changed (%v):\nbefore %s\nnow    %s", err, liveHistory, now)
		}
	}
}

// checkErrorLine wants one line saying error, naming what it must: the last of stderr,
// or for validate, which reports its problems as data, one of stdout.
func checkErrorLine(t *testing.T, args []string, stdout, stderr string, names []string) {
	t.Helper()
	var errLines []string
	for _, line := range strings.Split(stdout+stderr, "\n") {
		if strings.Contains(line, "error:") {
			errLines = append(errLines, line)
		}
	}
	if len(errLines) != 1 {
		t.Errorf("want one error line, got %d", len(errLines))
		return
	}
	if len(errLines[0]) > maxErrorLine {
		t.Errorf("an error line of %d bytes is no line to read", len(errLines[0]))
	}
	if !slices.Contains(args, "validate") {
		if last := lastLine(stderr); last != errLines[0] || !strings.HasPrefix(last, "hubploy: error: ") {
			t.Errorf("the error line is not stderr's last: %q", last)
		}
	}
	for _, n := range names {
		if !strings.Contains(errLines[0], n) {
			t.Errorf("the error line does not name %q", n)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func placeholders() []string {
	var pairs []string
	for k, v := range places {
		pairs = append(pairs, k, v)
	}
	return pairs
}

var genLine = regexp.MustCompile(`^("(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*") (\d+)$`)
var replaceLine = regexp.MustCompile(`^("(?:[^"\\]|\\.)*") => ("(?:[^"\\]|\\.)*")$`)

// archiveFile is a file of a txtar archive.
type archiveFile struct {
	Name string
	Data []byte
}

// readArchive splits a txtar archive into its comment and files: each file starts at
// a line "-- NAME --" and runs to the next such line.
func readArchive(data []byte) (comment string, files []archiveFile) {
	lines := strings.SplitAfter(string(data), "\n")
	var cur *archiveFile
	for _, line := range lines {
		if name, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "-- "); ok && strings.HasSuffix(name, " --") {
			files = append(files, archiveFile{Name: strings.TrimSuffix(name, " --")})
			cur = &files[len(files)-1]
			continue
		}
		if cur == nil {
			comment += line
		} else {
			cur.Data = append(cur.Data, line...)
		}
	}
	return comment, files
}

// apply carries out one of a case's patch operations on the copy in repo.
func apply(repo string, op archiveFile) error {
	verb, rel, ok := strings.Cut(op.Name, " ")
	if !ok || !filepath.IsLocal(rel) {
		return fmt.Errorf("want VERB PATH, with the path inside the copy")
	}
	path := filepath.Join(repo, rel)
	body := strings.TrimSuffix(string(op.Data), "\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	switch verb {
	case "write":
		return os.WriteFile(path, op.Data, 0o644)
	case "append":
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.Write(op.Data)
		return errors.Join(err, f.Close())
	case "replace":
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(body, "\n") {
			m := replaceLine.FindStringSubmatch(line)
			if m == nil {
				return fmt.Errorf("%q is not \"OLD\" => \"NEW\"", line)
			}
			old, err1 := strconv.Unquote(m[1])
			new, err2 := strconv.Unquote(m[2])
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("%q: %v", line, err)
			}
			if !bytes.Contains(data, []byte(old)) {
				return fmt.Errorf("%q is not in the file", old)
			}
			data = bytes.Replace(data, []byte(old), []byte(new), 1)
		}
		return os.WriteFile(path, data, 0o644)
	case "gen":
		var b bytes.Buffer
		for _, line := range strings.Split(body, "\n") {
			m := genLine.FindStringSubmatch(line)
			if m == nil {
				return fmt.Errorf("%q is not \"PREFIX\" \"FORMAT\" N", line)
			}
			prefix, err1 := strconv.Unquote(m[1])
			format, err2 := strconv.Unquote(m[2])
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("%q: %v", line, err)
			}
			b.WriteString(prefix)
			n, _ := strconv.Atoi(m[3]) // digits, by the regexp
			for i := range n {
				if strings.Contains(format, "%") {
					fmt.Fprintf(&b, format, i)
				} else {
					b.WriteString(format)
				}
			}
		}
		return os.WriteFile(path, b.Bytes(), 0o644)
	case "truncate":
		n, err := strconv.Atoi(body)
		if err != nil {
			return err
		}
		return os.Truncate(path, int64(n))
	case "delete":
		return os.RemoveAll(path)
	case "mkdir":
		if err := os.RemoveAll(path); err != nil {
			return err
		}
		return os.Mkdir(path, 0o755)
	case "rename":
		return os.Rename(path, filepath.Join(repo, body))
	}
	return fmt.Errorf("unknown operation %q", verb)
}

// treeHash sums every file of the copy: its path, mode and content (a symlink's target).
func treeHash(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s\x00%v\x00", rel, info.Mode())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h.Write([]byte(target))
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
