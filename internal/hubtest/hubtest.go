// Package hubtest runs a real JupyterHub for tests: Debian's jupyterhub
// package (3.0) with its configurable-http-proxy, on free loopback ports,
// with the dummy authenticator, single-user servers as local processes and a
// service whose API token may manage users and servers, as a deployer's
// health-check service would. Its state and logs live in a temporary folder.
package hubtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hubploy/hubploy/internal/freeport"
)

// Debian's binaries by absolute path: the PATH of a developer machine may put
// another Python (pyenv shims, say) first, without the jupyterhub module.
const (
	jupyterhubBin = "/usr/bin/jupyterhub"
	singleuserBin = "/usr/bin/jupyterhub-singleuser"
	proxyBin      = "/usr/bin/configurable-http-proxy"
)

// InstallHint is the command that installs what the harness runs.
const InstallHint = "apt-get install -y --no-install-recommends jupyterhub python3-jupyter-server"

// ServiceName is the hub's service that Token belongs to, named as 2i2c's
// deployer names its own: not the check user's name, since the hub refuses
// to let a token delete the user of its name.
const ServiceName = "hub-health"

// Options configure Start. The zero value runs a hub whose servers start and
// become ready.
type Options struct {
	// SpawnerCmd replaces the single-user server's command, to make a server
	// that fails or never answers; nil runs jupyterhub-singleuser.
	SpawnerCmd []string
	// HTTPTimeout is how long the hub waits for a started server to answer
	// before it gives up on the spawn (Spawner.http_timeout); zero keeps the
	// hub's 30 s.
	HTTPTimeout time.Duration
	// Unavailable puts a front in front of the hub that answers 503 to the
	// first Unavailable requests, as a hub that is still starting does.
	Unavailable int
	// Token is the service's API token, as a deployment's secrets give it;
	// empty means a random one.
	Token string
}

// SpawnFails are the options of a hub with token whose servers never start: the
// spawner exits at once, and the hub gives up on it after 3 s rather than its 30.
func SpawnFails(token string) Options {
	return Options{Token: token, SpawnerCmd: []string{"/bin/false"}, HTTPTimeout: 3 * time.Second}
}

// Hub is a running JupyterHub. Start stops it when the test ends.
type Hub struct {
	t     testing.TB
	dir   string
	url   string
	token string
	cmd   *exec.Cmd
	done  chan struct{} // closed when the hub process has exited
	front *httptest.Server

	stopOnce sync.Once
	stopErr  error
}

// URL is the hub's public address (its proxy's, or the front's), ending in "/".
func (h *Hub) URL() string { return h.url }

// Token is the API token of service ServiceName, which holds the scopes to
// manage users and their servers and to reach the servers.
func (h *Hub) Token() string { return h.token }

// Dir holds the hub's configuration, database and jupyterhub.log.
func (h *Hub) Dir() string { return h.dir }

// Start runs a hub and returns once it answers /hub/health. It fails the test
// when the hub is not installed (with the command that installs it) or does
// not start; the end of its log is in the failure.
func Start(t testing.TB, opts Options) *Hub {
	t.Helper()
	if err := installed(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	h := &Hub{t: t, dir: t.TempDir(), token: opts.Token, done: make(chan struct{})}
	if h.token == "" {
		h.token = "hubtest-" + randomHex(16)
	}
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Errorf("hubtest: stopping the hub: %v", err)
		}
		if t.Failed() {
			t.Logf("hubtest: last lines of jupyterhub.log:\n%s", h.logTail(40))
		}
	})
	ports, err := freeport.Loopback(3)
	if err != nil {
		t.Fatalf("hubtest: %v", err)
	}
	public := "http://127.0.0.1:" + strconv.Itoa(ports[0]) + "/"
	h.url = public
	config := filepath.Join(h.dir, "jupyterhub_config.py")
	if err := os.WriteFile(config, []byte(h.config(opts, ports)), 0o600); err != nil {
		t.Fatalf("hubtest: %v", err)
	}
	if err := h.run(config); err != nil {
		t.Fatalf("hubtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := h.waitHealthy(ctx, public); err != nil {
		t.Fatalf("hubtest: hub not up after %s: %v\n----- last lines of jupyterhub.log -----\n%s",
			time.Since(began).Round(time.Millisecond), err, h.logTail(40))
	}
	if opts.Unavailable > 0 {
		h.front = unavailableFront(public, opts.Unavailable)
		h.url = h.front.URL + "/"
	}
	t.Logf("hubtest: JupyterHub ready at %s in %s", h.url, time.Since(began).Round(time.Millisecond))
	return h
}

// installed says how to install the hub when it is not there: a test that
// needs it must fail, not skip.
func installed() error {
	var missing []string
	for _, bin := range []string{jupyterhubBin, singleuserBin, proxyBin} {
		if info, err := os.Stat(bin); err != nil || info.Mode()&0o111 == 0 {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("hubtest: %s missing; install JupyterHub with: %s", strings.Join(missing, ", "), InstallHint)
	}
	return nil
}

// config is the hub's jupyterhub_config.py. Values are written as JSON, which
// Python reads as the same strings, numbers and lists.
func (h *Hub) config(opts Options, ports []int) string {
	spawnerCmd := opts.SpawnerCmd
	if spawnerCmd == nil {
		// The tests run as root, which jupyter-server refuses without it.
		spawnerCmd = []string{singleuserBin, "--allow-root"}
	}
	lines := []string{
		"c.JupyterHub.ip = '127.0.0.1'",
		"c.JupyterHub.port = " + strconv.Itoa(ports[0]),
		"c.JupyterHub.hub_ip = '127.0.0.1'",
		"c.JupyterHub.hub_port = " + strconv.Itoa(ports[1]),
		"c.ConfigurableHTTPProxy.api_url = " + pyJSON("http://127.0.0.1:"+strconv.Itoa(ports[2])),
		"c.ConfigurableHTTPProxy.command = " + pyJSON([]string{proxyBin}),
		"c.ConfigurableHTTPProxy.pid_file = " + pyJSON(filepath.Join(h.dir, "proxy.pid")),
		"c.JupyterHub.db_url = " + pyJSON("sqlite:///"+filepath.Join(h.dir, "jupyterhub.sqlite")),
		"c.JupyterHub.cookie_secret_file = " + pyJSON(filepath.Join(h.dir, "cookie_secret")),
		"c.JupyterHub.authenticator_class = 'dummy'",
		// Servers run as the hub's user, in a home under the hub's folder:
		// the tests' users exist only in the hub.
		"c.JupyterHub.spawner_class = 'simple'",
		"c.SimpleLocalProcessSpawner.home_dir_template = " + pyJSON(filepath.Join(h.dir, "home", "{username}")),
		"c.Spawner.cmd = " + pyJSON(spawnerCmd),
		"c.JupyterHub.services = " + pyJSON([]map[string]string{{"name": ServiceName, "api_token": h.token}}),
		"c.JupyterHub.load_roles = " + pyJSON([]map[string]any{{
			"name":     ServiceName,
			"scopes":   []string{"admin:users", "admin:servers", "access:servers", "read:hub"},
			"services": []string{ServiceName},
		}}),
	}
	if opts.HTTPTimeout > 0 {
		lines = append(lines, "c.Spawner.http_timeout = "+strconv.Itoa(int(opts.HTTPTimeout.Seconds())))
	}
	return strings.Join(lines, "\n") + "\n"
}

func pyJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only strings, lists and maps of them
	}
	return string(b)
}

// run starts the hub with its output in jupyterhub.log and an environment of
// its own: Debian's paths first, its home in the folder.
func (h *Hub) run(config string) error {
	log, err := os.Create(filepath.Join(h.dir, "jupyterhub.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	h.cmd = exec.Command(jupyterhubBin, "-f", config)
	h.cmd.Dir = h.dir
	h.cmd.Stdout, h.cmd.Stderr = log, log
	h.cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + h.dir,
		"LANG=C.UTF-8",
		// Debian's node modules, for a node that does not look there by itself
		// (NodeSource's, say).
		"NODE_PATH=/usr/share/nodejs",
	}
	// The hub dies with the test binary, however that ends; the proxy and the
	// servers it started in sessions of their own are stopped by the hub on
	// SIGTERM (Stop).
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := h.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", jupyterhubBin, err)
	}
	go func() {
		h.cmd.Wait()
		close(h.done)
	}()
	return nil
}

// waitHealthy polls the hub's health endpoint until it answers 200, and fails
// early when the hub exits.
func (h *Hub) waitHealthy(ctx context.Context, base string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"hub/health", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/hub/health answered %s", resp.Status)
		}
		last = err
		select {
		case <-h.done:
			return fmt.Errorf("jupyterhub exited: %v", h.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// unavailableFront forwards to the hub, except for the first n requests,
// which it answers 503.
func unavailableFront(hub string, n int) *httptest.Server {
	target, _ := url.Parse(hub)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var seen atomic.Int64
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= int64(n) {
			http.Error(w, "hub starting", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
}

// Stop ends the hub: SIGTERM, on which it stops its servers and its proxy,
// then SIGKILL if it has not exited within 10 s. It is safe to call more
// than once; a test that stops the hub itself finds a hub that is down.
func (h *Hub) Stop() error {
	h.stopOnce.Do(func() {
		if h.front != nil {
			h.front.Close()
		}
		if h.cmd == nil || h.cmd.Process == nil {
			return
		}
		if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			h.stopErr = err
		}
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			h.stopErr = errors.Join(h.stopErr, errors.New("jupyterhub did not exit 10 s after SIGTERM; killed"), h.cmd.Process.Kill())
			<-h.done
		}
	})
	return h.stopErr
}

func (h *Hub) logTail(lines int) string {
	data, err := os.ReadFile(filepath.Join(h.dir, "jupyterhub.log"))
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
