// Package badinput runs the hubploy binary over a corpus of bad inputs (testdata/, one
// txtar file per case, each a patch to a copy of hubs-example and a command line) and
// checks that each ends as the README promises: the documented exit code, one clear
// error line naming the file (and key or line), no stack trace, in bounded time,
// nothing written to the repository, and a live release on the test cluster unchanged.
package badinput

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubploy/hubploy/internal/clitest"
	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
	"github.com/hubploy/hubploy/pipeline/charts"
)

// The live release every deploy case aims at: it must come out of each unchanged.
const (
	liveHub       = "datahub"
	liveEnv       = "staging"
	liveNamespace = "badinput-live"
)

var (
	hubploy string // the built binary
	shared  string // a folder for what every case may use: kubeconfigs, the binary
	// places fill the placeholders of a case's command line and environment.
	places map[string]string
	// liveHistory is the live release's history as deployed before any case ran.
	liveHistory string
)

func TestMain(m *testing.M) {
	kubeenv.Main(m, func(c *kubeenv.Cluster) {
		if err := setUp(c); err != nil {
			fmt.Fprintln(os.Stderr, "badinput:", err)
			os.Exit(1)
		}
	})
}

// setUp builds hubploy, writes the kubeconfigs the cases use, starts a chart mirror
// that never stops sending, and deploys the live release.
func setUp(c *kubeenv.Cluster) error {
	var err error
	if shared, err = os.MkdirTemp("", "hubploy-badinput-"); err != nil {
		return err
	}
	if hubploy, err = clitest.Build(shared); err != nil {
		return err
	}
	unreachable, err := c.KubeconfigFor("https://127.0.0.1:1")
	if err != nil {
		return err
	}
	places = map[string]string{
		"$KUBECONFIG":  filepath.Join(shared, "kubeconfig"),
		"$UNREACHABLE": filepath.Join(shared, "unreachable"),
		"$NS":          liveNamespace,
		"$EXAMPLE_KEY": example.AgeKeyFile(),
		"$ENDLESS":     endlessMirror(),
	}
	for file, data := range map[string][]byte{places["$KUBECONFIG"]: c.Kubeconfig(), places["$UNREACHABLE"]: unreachable} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return err
		}
	}
	repo, err := os.MkdirTemp(shared, "live-")
	if err != nil {
		return err
	}
	if err := os.CopyFS(repo, os.DirFS(example.Dir())); err != nil {
		return err
	}
	places["$LIVE_REPO"] = repo
	deploy := command(repo, shared, "deploy", liveHub, liveEnv, "--skip-image-check", "--kubeconfig", places["$KUBECONFIG"], "--namespace", liveNamespace, "--timeout", "120")
	if out, err := deploy.CombinedOutput(); err != nil {
		return fmt.Errorf("deploying the live release: %v\n%s", err, out)
	}
	if liveHistory, err = history(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "badinput: live release %s-%s deployed in namespace %s\n", liveHub, liveEnv, liveNamespace)
	return nil
}

// endlessMirror serves a chart repository whose index never ends.
func endlessMirror() string {
	chunk := bytes.Repeat([]byte("# and more\n"), 1<<12)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	return srv.URL
}

// command is hubploy run in a clean environment: the example's age key, the local
// mirror of the stand-in z2jh chart, cache and config folders of its own (no personal
// keys), outside the repository, and --repo for the commands that read one.
func command(repo, tmp string, args ...string) *exec.Cmd {
	full := args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && args[0] != "decrypt" && args[0] != "version" {
		full = append([]string{"--repo", repo}, args...)
	}
	c := exec.Command(hubploy, full...)
	c.Dir = repo
	c.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + tmp,
		"XDG_CONFIG_HOME=" + filepath.Join(tmp, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(tmp, "cache"),
		"SOPS_AGE_KEY_FILE=" + example.AgeKeyFile(),
		charts.MirrorsEnv + "=" + example.Z2JHRepository + "=" + example.MirrorFolder(),
	}
	return c
}

// history is the live release's history, as JSON, from a pristine copy of the example.
func history() (string, error) {
	c := command(places["$LIVE_REPO"], shared, "history", liveHub, liveEnv, "--kubeconfig", places["$KUBECONFIG"], "--namespace", liveNamespace, "--output", "json")
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("hubploy history: %v: %s", err, stderr.String())
	}
	return string(out), nil
}

// ended is how a run of hubploy ended.
type ended struct {
	code           int
	stdout, stderr string
	took, cpu      time.Duration // wall time, and the CPU time it used
}

// run runs c and says how it ended.
func run(t *testing.T, c *exec.Cmd) ended {
	t.Helper()
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	began := time.Now()
	err := c.Run()
	e := ended{stdout: out.String(), stderr: errb.String(), took: time.Since(began)}
	if ee, ok := err.(*exec.ExitError); ok {
		e.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	e.cpu = c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	return e
}
