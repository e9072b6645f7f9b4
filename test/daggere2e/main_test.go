// Package daggere2e runs hubploy's Dagger module end to end: real `dagger call`s
// on a real Dagger engine (dagger/engine.sh, provisioned by dagger/provision.sh),
// against a copy of hubs-example, a local registry and a real Kubernetes control
// plane (kubeenv) that the module's containers reach through a Dagger host-service
// tunnel.
//
// The tests that share nothing run two at a time (t.Parallel): each works on its own
// copy of the fixture, or reads it, and deploys into a namespace of its own. The
// two publish tests (they push the same image, and want a first push), deploy --all
// (into the hubs' own namespaces) and the tests that hand the dagger CLI a secret
// through the environment (t.Setenv) run first, one at a time.
//
// Without HUBPLOY_DAGGER_ENV every test fails, saying how to provision the engine.
package daggere2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubploy/hubploy/internal/cliimage"
	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
)

// apiServerName is the name under which containers reach the test cluster; it is in
// the API server's certificate.
const apiServerName = "kube-apiserver"

var (
	kube     *kubeenv.Cluster
	clouds   *fakecloud.Cloud // the clouds' APIs, whose tokens the test cluster takes
	root     string           // this repository
	fixture  string           // the copy of hubs-example the tests use
	setupErr error
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	root = filepath.Join(filepath.Dir(file), "..", "..")
	if os.Getenv("HUBPLOY_DAGGER_ENV") == "" {
		setupErr = fmt.Errorf("HUBPLOY_DAGGER_ENV is not set: provision the Dagger engine with\n\teval \"$(dagger/provision.sh | tail -n 1)\"\n(as root; see dagger/README.md), then run the tests again")
		return m.Run()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stops []func()
	var stopOnce sync.Once
	stopAll := func() {
		stopOnce.Do(func() {
			for i := len(stops) - 1; i >= 0; i-- {
				stops[i]()
			}
		})
	}
	defer stopAll()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		cancel()
		stopAll()
		os.Exit(1)
	}()

	began := time.Now()
	var err error
	clouds = fakecloud.Start()
	stops = append(stops, clouds.Server.Close)
	kube, err = kubeenv.Start(ctx, kubeenv.Options{ExtraSANs: []string{apiServerName}, Timeout: 2 * time.Minute, TokenWebhook: clouds.Webhook()})
	if err != nil {
		setupErr = err
		return m.Run()
	}
	stops = append(stops, func() { kube.Stop() })
	fmt.Fprintf(os.Stderr, "daggere2e: cluster up in %.1fs\n", time.Since(began).Seconds())

	began = time.Now()
	stop, err := startEngine()
	if err != nil {
		setupErr = err
		return m.Run()
	}
	stops = append(stops, stop)
	fmt.Fprintf(os.Stderr, "daggere2e: engine up in %.1fs\n", time.Since(began).Seconds())

	began = time.Now()
	if err := pushCLIImage(ctx); err != nil {
		setupErr = err
		return m.Run()
	}
	fmt.Fprintf(os.Stderr, "daggere2e: hubploy image built and pushed in %.1fs\n", time.Since(began).Seconds())

	if fixture, err = makeFixture(); err != nil {
		setupErr = err
		return m.Run()
	}
	defer os.RemoveAll(fixture)
	return m.Run()
}

// startEngine runs dagger/engine.sh start and takes its exports into this process.
// An engine that was already running is left running.
func startEngine() (stop func(), err error) {
	script := filepath.Join(root, "dagger", "engine.sh")
	wasRunning := exec.Command("bash", script, "status").Run() == nil
	cmd := exec.Command("bash", script, "start")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("dagger/engine.sh start: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "export ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, strings.ReplaceAll(v, "$PATH", os.Getenv("PATH")))
		}
	}
	if os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST") == "" {
		return nil, fmt.Errorf("dagger/engine.sh start printed no _EXPERIMENTAL_DAGGER_RUNNER_HOST")
	}
	if wasRunning {
		return func() {}, nil
	}
	return func() {
		cmd := exec.Command("bash", script, "stop")
		cmd.Stderr = os.Stderr
		cmd.Run()
	}, nil
}

// pushCLIImage builds the hubploy image the module runs, from this checkout, and
// pushes it into the local registry, as a release pushes it to ghcr.io: the engine
// takes ghcr.io's images from there (engine.sh).
func pushCLIImage(ctx context.Context) error {
	version, err := cliimage.ModuleVersion(root)
	if err != nil {
		return err
	}
	img, err := cliimage.Build(ctx, root, version, cliimage.HostPlatform())
	if err != nil {
		return err
	}
	ref := "127.0.0.1:5000/" + strings.TrimPrefix(cliimage.Repository, "ghcr.io/") + ":" + version
	return cliimage.Push(ctx, ref, []cliimage.ForPlatform{{Platform: cliimage.HostPlatform(), Image: img}})
}

// registryImage is the datahub image's name in the fixture: in the local registry,
// under a repository of this run's, since an engine (and its registry) left running
// keeps the images an earlier run pushed, and the tests want a first push.
var registryImage = fmt.Sprintf("127.0.0.1:5000/hubploy-e2e-%d/datahub-user-image", time.Now().UnixNano())

// testDockerfile replaces datahub's: the example starts from
// quay.io/jupyter/minimal-notebook, out of reach here; this one starts from the
// Debian image the local registry serves as Docker Hub's mirror.
// Its stage "with-secret" needs the build secret "build-token".
const testDockerfile = `# hubploy's Dagger e2e test: hubs-example's image, from a base the local registry has.
FROM debian:bookworm AS hub
COPY environment.yml /tmp/environment.yml
RUN test -s /tmp/environment.yml && echo "built by hubploy's e2e test" > /etc/hubploy-e2e

FROM hub AS with-secret
RUN --mount=type=secret,id=build-token test -s /run/secrets/build-token && echo "had the build secret" > /etc/hubploy-secret

FROM hub
`

// makeFixture copies hubs-example, with datahub's image in the local registry and
// built from testDockerfile.
func makeFixture() (string, error) {
	dst, err := os.MkdirTemp("", "daggere2e-repo-")
	if err != nil {
		return "", err
	}
	if err := os.CopyFS(dst, os.DirFS(example.Dir())); err != nil {
		return "", err
	}
	cfg := filepath.Join(dst, "deployments", "datahub", "hubploy.yaml")
	data, err := os.ReadFile(cfg)
	if err != nil {
		return "", err
	}
	const name = "registry.example.org/datahub/user-image"
	if !bytes.Contains(data, []byte(name)) {
		return "", fmt.Errorf("%s no longer names %s: update the fixture", cfg, name)
	}
	if err := os.WriteFile(cfg, bytes.ReplaceAll(data, []byte(name), []byte(registryImage)), 0o644); err != nil {
		return "", err
	}
	return dst, os.WriteFile(filepath.Join(dst, "deployments", "datahub", "image", "Dockerfile"), []byte(testDockerfile), 0o644)
}

func setup(t *testing.T) {
	t.Helper()
	if setupErr != nil {
		t.Fatal(setupErr)
	}
}

// result is one dagger call.
type result struct {
	stdout, stderr string
	err            error
	took           time.Duration
}

func (r result) output() string { return r.stdout + r.stderr }

// call runs `dagger call` on module mod (relative to the repository root) with the
// given arguments, from the fixture's folder.
func callModule(t *testing.T, mod string, args ...string) result {
	t.Helper()
	full := append([]string{"call", "-m", filepath.Join(root, mod), "--progress=plain"}, args...)
	cmd := exec.Command("dagger", full...)
	cmd.Dir = fixture
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), err: err, took: time.Since(began)}
	t.Logf("timing: dagger call %s: %.1fs", describe(args), r.took.Seconds())
	return r
}

// call runs a function of hubploy's module with the fixture as the repository.
func call(t *testing.T, args ...string) result {
	t.Helper()
	return callModule(t, ".", append(repoArgs(), args...)...)
}

func repoArgs() []string {
	return []string{
		"--repo=" + fixture,
		"--age-key=file:" + example.AgeKeyFile(),
		"--chart-mirror=" + example.Z2JHRepository + "=offline-charts",
	}
}

// mustCall is call that fails the test on an error.
func mustCall(t *testing.T, args ...string) result {
	t.Helper()
	r := call(t, args...)
	if r.err != nil {
		t.Fatalf("dagger call %s: %v\n%s", describe(args), r.err, tail(r.stderr, 40))
	}
	return r
}

var flagValue = regexp.MustCompile(`^--[a-z-]+=`)

// describe names a call by its function and arguments, without the repository flags.
func describe(args []string) string {
	var parts []string
	for _, a := range args {
		if strings.HasPrefix(a, "--repo=") || strings.HasPrefix(a, "--age-key=") || strings.HasPrefix(a, "--chart-mirror=") {
			continue
		}
		if strings.HasPrefix(a, "--kubeconfig=") {
			a = flagValue.FindString(a) + "…"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// apiServerPort is the test cluster's API server port on the host's loopback.
func apiServerPort(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(kube.URL())
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// tunnelKubeconfig writes a kubeconfig that names the API server as containers reach
// it, and returns the flags that hand it and the tunnel to the module.
func tunnelKubeconfig(t *testing.T) []string {
	t.Helper()
	port := apiServerPort(t)
	kc, err := kube.KubeconfigFor("https://" + apiServerName + ":" + port)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--kubeconfig=file:" + path, "--api-server=tcp://localhost:" + port}
}

// readTree returns the contents of every file under dir (an exported Directory), one
// after another, and how many files there were.
func readTree(t *testing.T, dir string) (text string, files int) {
	t.Helper()
	var all strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		all.Write(data)
		files++
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all.String(), files
}
