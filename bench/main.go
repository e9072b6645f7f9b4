// Command bench times hubploy against the helm CLI it replaces, on the test control
// plane (internal/testenv/kubeenv): a rolling deploy of one hub and of many, a no-op
// redeploy of many, validate of many hubs offline, and process start. Both tools get
// the same chart, values and cluster and run with their defaults, interleaved run by
// run so that drift of the machine affects both. The markdown table goes to stdout, the
// JSON to bench/results/, progress to stderr. bench/run provisions the control plane
// binaries and the helm CLI and runs it; it is a benchmark, not a test: nothing is
// asserted about times.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hubploy/hubploy/internal/clitest"
	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
	"github.com/hubploy/hubploy/pipeline/charts"
)

// startRuns is the least number of runs of the process-start rows, which are cheap.
const startRuns = 5

func main() {
	runs := flag.Int("runs", 5, "runs of each row (medians, min–max); the process-start rows take at least 5")
	hubs := flag.Int("hubs", 20, "hubs of the many-hub deploy rows")
	validateHubs := flag.Int("validate-hubs", 100, "hubs of the validate row, each with staging and prod")
	helm := flag.String("helm", "", "the helm CLI to compare with (bench/run builds v3.22.0)")
	out := flag.String("out", "", "write the JSON here (default: bench/results/<date>.json)")
	flag.Parse()
	if *helm == "" || *runs < 1 || *hubs < 1 || *validateHubs < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./bench -helm HELM [-runs 5] [-hubs 20] [-validate-hubs 100] [-out FILE] (bash bench/run provides -helm)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *helm, *runs, *hubs, *validateHubs, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

var began = time.Now()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench +%ds] %s\n", int(time.Since(began).Seconds()), fmt.Sprintf(format, args...))
}

// bench holds what the rows run against.
type bench struct {
	hubploy, helm string
	work          string   // a temporary folder, removed at the end
	env           []string // of both tools
	client        kubernetes.Interface
	cluster       *kubeenv.Cluster
	// The deploy rows' repository and hubs (bench01..), the validate row's.
	repo, manyRepo string
	hubs, manyHubs []string
	// helm's copy of the umbrella chart, its dependency in charts/, and the decrypted
	// secrets files by environment.
	chart   string
	secrets map[string]string
}

func run(ctx context.Context, helm string, runs, nHubs, nValidate int, out string) (err error) {
	if helm, err = filepath.Abs(helm); err != nil {
		return err
	}
	b := &bench{helm: helm, secrets: map[string]string{}}
	// Decrypted secrets land here: removed at the end, however the run ends but SIGKILL.
	if b.work, err = os.MkdirTemp("", "hubploy-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.work)

	report := &Report{
		Date: time.Now().UTC().Format(time.RFC3339), Commit: commit(), Go: runtime.Version(),
		CPUs: runtime.NumCPU(), LoadBefore: loadavg(), Runs: runs, StartRuns: max(runs, startRuns),
		Hubs: nHubs, ValidateHubs: nValidate,
	}

	logf("building hubploy")
	if b.hubploy, err = clitest.Build(b.work); err != nil {
		return err
	}
	logf("starting the test control plane")
	kube, err := kubeenv.Start(ctx, kubeenv.Options{Timeout: 3 * time.Minute})
	if err != nil {
		return err
	}
	defer kube.Stop()
	b.client, b.cluster = kube.Client(), kube
	kubeconfig := filepath.Join(b.work, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kube.Kubeconfig(), 0o600); err != nil {
		return err
	}

	// The same environment for both tools: the cluster through KUBECONFIG, their caches
	// and configuration in the work folder rather than the user's, hubploy's age key and
	// chart mirror as CI gives them.
	xdg := filepath.Join(b.work, "xdg")
	b.env = append(withoutVars(os.Environ(), "CI", "KUBECONFIG", "HELM_", "XDG_", "SOPS_", charts.MirrorsEnv),
		"KUBECONFIG="+kubeconfig,
		"XDG_CACHE_HOME="+filepath.Join(xdg, "cache"),
		"XDG_CONFIG_HOME="+filepath.Join(xdg, "config"),
		"XDG_DATA_HOME="+filepath.Join(xdg, "data"),
		"SOPS_AGE_KEY_FILE="+example.AgeKeyFile(),
		charts.MirrorsEnv+"="+example.Z2JHRepository+"="+example.MirrorFolder())
	report.Hubploy = firstLine(b.output(ctx, b.hubploy, "version"))
	report.Helm = firstLine(b.output(ctx, b.helm, "version", "--short"))

	logf("generating %d hubs, %d more for validate, and helm's copy of the chart", nHubs, nValidate)
	b.repo, b.manyRepo = filepath.Join(b.work, "repo"), filepath.Join(b.work, "validate-repo")
	if b.hubs, err = generate(b.repo, nHubs); err != nil {
		return err
	}
	if b.manyHubs, err = generate(b.manyRepo, nValidate); err != nil {
		return err
	}
	if err := b.prepareHelm(ctx); err != nil {
		return err
	}

	logf("installing the %d hubs with each tool (not timed)", nHubs)
	if _, err := b.exec(ctx, b.env, b.deployAll()...); err != nil {
		return err
	}
	if _, err := b.loop(ctx, b.env, b.helmUpgrades(b.hubs)); err != nil {
		return err
	}

	report.Rows = []Row{
		{Name: "process start: --help", Hubploy: Tool{Command: "hubploy --help"}, Helm: Tool{Command: "helm --help"}},
		{Name: "first validate of 1 hub (2 envs), new cache folder",
			Hubploy: Tool{Command: "hubploy validate bench01"},
			Helm:    Tool{Command: "helm lint CHART -f common.yaml -f ENV.yaml -f SECRETS (× 2 envs)"}},
		{Name: "deploy 1 hub, rolling change",
			Hubploy: Tool{Command: "hubploy deploy bench01 staging --set jupyterhub.cull.timeout=N"},
			Helm:    Tool{Command: "helm upgrade --install bench01-staging CHART --namespace helm-bench01-staging --create-namespace --wait -f common.yaml -f staging.yaml -f SECRETS --set jupyterhub.cull.timeout=N"}},
		{Name: fmt.Sprintf("deploy %d hubs, rolling change", nHubs),
			Hubploy: Tool{Command: "hubploy deploy --env staging --all --set jupyterhub.cull.timeout=N"},
			Helm:    Tool{Command: fmt.Sprintf("the helm upgrade above for each hub, one after another (× %d)", nHubs)}},
		{Name: fmt.Sprintf("no-op redeploy, %d hubs", nHubs),
			Hubploy: Tool{Command: "the same hubploy deploy --all again"},
			Helm:    Tool{Command: fmt.Sprintf("the same %d helm upgrades again", nHubs)}},
		{Name: fmt.Sprintf("validate %d hubs × 2 envs", nValidate),
			Hubploy: Tool{Command: "hubploy validate"},
			Helm:    Tool{Command: fmt.Sprintf("helm lint CHART -f common.yaml -f ENV.yaml -f SECRETS (× %d)", 2*nValidate)}},
	}
	rows := report.Rows

	// Process start: cheap, so at least startRuns runs even in a smoke run.
	for i := 1; i <= report.StartRuns; i++ {
		logf("process start, run %d/%d", i, report.StartRuns)
		if err := both(&rows[0], i,
			func() (Sample, error) { return b.exec(ctx, b.env, b.hubploy, "--help") },
			func() (Sample, error) { return b.exec(ctx, b.env, b.helm, "--help") }); err != nil {
			return err
		}
		// Each run a new, empty XDG_CACHE_HOME, where hubploy keeps downloaded charts (the
		// mirror here is a local folder, read in place, so little depends on it).
		fresh := func() []string {
			dir, _ := os.MkdirTemp(b.work, "cache-")
			return append(withoutVars(b.env, "XDG_CACHE_HOME"), "XDG_CACHE_HOME="+dir)
		}
		if err := both(&rows[1], i,
			func() (Sample, error) {
				return b.exec(ctx, fresh(), b.hubploy, "--repo", b.repo, "validate", b.hubs[0])
			},
			func() (Sample, error) { return b.loop(ctx, fresh(), b.helmLints(b.repo, b.hubs[:1])) }); err != nil {
			return err
		}
	}

	hubNamespaces := namespaces(b.hubs, "")
	helmNamespaces := namespaces(b.hubs, "helm-")
	for i := 1; i <= runs; i++ {
		// Distinct values each run and row, so that every deploy rolls the hub.
		one := fmt.Sprintf("jupyterhub.cull.timeout=%d", 10000+i)
		all := fmt.Sprintf("jupyterhub.cull.timeout=%d", 20000+i)
		logf("run %d/%d: deploy 1 hub", i, runs)
		if err := both(&rows[2], i,
			func() (Sample, error) {
				return b.deploy(ctx, hubNamespaces[:1], func() (Sample, error) {
					return b.exec(ctx, b.env, b.hubploy, "--repo", b.repo, "deploy", b.hubs[0], "staging", "--set", one)
				})
			},
			func() (Sample, error) {
				return b.deploy(ctx, helmNamespaces[:1], func() (Sample, error) {
					return b.loop(ctx, b.env, b.helmUpgrades(b.hubs[:1], "--set", one))
				})
			}); err != nil {
			return err
		}
		logf("run %d/%d: deploy %d hubs, then again unchanged", i, runs, nHubs)
		for _, row := range []*Row{&rows[3], &rows[4]} {
			if err := both(row, i,
				func() (Sample, error) {
					return b.deploy(ctx, hubNamespaces, func() (Sample, error) { return b.exec(ctx, b.env, b.deployAll("--set", all)...) })
				},
				func() (Sample, error) {
					return b.deploy(ctx, helmNamespaces, func() (Sample, error) { return b.loop(ctx, b.env, b.helmUpgrades(b.hubs, "--set", all)) })
				}); err != nil {
				return err
			}
		}
		logf("run %d/%d: validate %d hubs", i, runs, nValidate)
		if err := both(&rows[5], i,
			func() (Sample, error) { return b.exec(ctx, b.env, b.hubploy, "--repo", b.manyRepo, "validate") },
			func() (Sample, error) { return b.loop(ctx, b.env, b.helmLints(b.manyRepo, b.manyHubs)) }); err != nil {
			return err
		}
	}

	report.LoadAfter = loadavg()
	report.summarize()
	report.Markdown(os.Stdout)
	return writeJSON(report, out)
}

// both runs hubploy and helm once each and adds their samples to row: hubploy first in
// odd runs, helm first in even ones.
func both(row *Row, run int, hubploy, helm func() (Sample, error)) error {
	first, second := hubploy, helm
	if run%2 == 0 {
		first, second = helm, hubploy
	}
	var samples [2]Sample
	for k, f := range []func() (Sample, error){first, second} {
		s, err := f()
		if err != nil {
			return fmt.Errorf("%s: %w", row.Name, err)
		}
		samples[k] = s
	}
	if run%2 == 0 {
		samples[0], samples[1] = samples[1], samples[0]
	}
	row.Hubploy.Samples = append(row.Hubploy.Samples, samples[0])
	row.Helm.Samples = append(row.Helm.Samples, samples[1])
	logf("  %s: hubploy %.2fs, helm %.2fs", row.Name, samples[0].Wall, samples[1].Wall)
	return nil
}

// deployAll is hubploy deploying every hub to staging.
func (b *bench) deployAll(extra ...string) []string {
	return append([]string{b.hubploy, "--repo", b.repo, "deploy", "--env", "staging", "--all"}, extra...)
}

// helmUpgrades are the helm commands that deploy hubs to staging as hubploy does, but
// into namespaces of their own (helm-<hub>-staging): the same chart and values files,
// helm's defaults otherwise. The bench hubs' secrets are copies of one file, decrypted
// once (a user would run sops before each helm call: not timed here).
func (b *bench) helmUpgrades(hubs []string, extra ...string) [][]string {
	var cmds [][]string
	for _, hub := range hubs {
		release := hub + "-staging"
		cmd := []string{b.helm, "upgrade", "--install", release, b.chart,
			"--namespace", "helm-" + release, "--create-namespace", "--wait"}
		cmd = append(append(cmd, b.valuesFiles(b.repo, hub, "staging")...), extra...)
		cmds = append(cmds, cmd)
	}
	return cmds
}

// helmLints are helm's counterpart of hubploy validate: helm lint (values schema, lint
// rules, render) of each hub and environment.
func (b *bench) helmLints(repo string, hubs []string) [][]string {
	var cmds [][]string
	for _, hub := range hubs {
		for _, env := range []string{"prod", "staging"} {
			cmds = append(cmds, append([]string{b.helm, "lint", b.chart}, b.valuesFiles(repo, hub, env)...))
		}
	}
	return cmds
}

// valuesFiles are hubploy's layers for helm: common.yaml, <env>.yaml, the secrets.
func (b *bench) valuesFiles(repo, hub, env string) []string {
	config := filepath.Join(repo, "deployments", hub, "config")
	return []string{"-f", filepath.Join(config, "common.yaml"), "-f", filepath.Join(config, env+".yaml"), "-f", b.secrets[env]}
}

// prepareHelm makes helm's copy of the umbrella chart, with its z2jh dependency (the
// stand-in the mirror holds) packaged into charts/ as helm dependency build would put
// it, and decrypts the hubs' secrets (one file per environment, all hubs alike).
func (b *bench) prepareHelm(ctx context.Context) error {
	b.chart = filepath.Join(b.work, "helm-chart", "hub")
	if err := os.CopyFS(b.chart, os.DirFS(filepath.Join(example.Dir(), "hub"))); err != nil {
		return err
	}
	if _, err := b.exec(ctx, b.env, b.helm, "package", example.StandInChart(), "-d", filepath.Join(b.chart, "charts")); err != nil {
		return err
	}
	for _, env := range []string{"prod", "staging"} {
		file := filepath.Join(b.repo, "deployments", b.hubs[0], "secrets", env+".yaml")
		clear, err := b.output(ctx, b.hubploy, "decrypt", file)
		if err != nil {
			return err
		}
		b.secrets[env] = filepath.Join(b.work, "secrets-"+env+".yaml")
		if err := os.WriteFile(b.secrets[env], []byte(clear), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// generate writes a deployment repository at dir: hubs-example's chart and n copies of
// its stat20 hub, bench01.. (bench001.. for 100 or more). Their hubploy.yaml has no
// cluster block: both tools reach the cluster through KUBECONFIG, with no flag.
func generate(dir string, n int) ([]string, error) {
	if err := os.CopyFS(filepath.Join(dir, "hub"), os.DirFS(filepath.Join(example.Dir(), "hub"))); err != nil {
		return nil, err
	}
	stat20 := filepath.Join(example.Dir(), "deployments", "stat20")
	width := max(2, len(strconv.Itoa(n)))
	var hubs []string
	for i := 1; i <= n; i++ {
		hub := fmt.Sprintf("bench%0*d", width, i)
		hubs = append(hubs, hub)
		hubDir := filepath.Join(dir, "deployments", hub)
		if err := os.CopyFS(hubDir, os.DirFS(stat20)); err != nil {
			return nil, err
		}
		if err := os.Remove(filepath.Join(hubDir, "secrets", "kubeconfig.yaml")); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(hubDir, "hubploy.yaml"),
			[]byte("# A copy of stat20 made by bench/; no cluster block: the cluster comes from KUBECONFIG.\n"), 0o644); err != nil {
			return nil, err
		}
	}
	return hubs, nil
}

func namespaces(hubs []string, prefix string) []string {
	var ns []string
	for _, hub := range hubs {
		ns = append(ns, prefix+hub+"-staging")
	}
	return ns
}

// deploy times one deploy, counts the revisions it made in the namespaces, and what
// CPU time the control plane spent meanwhile: on 2 cores, what bounds the wall time
// of many hubs at once.
func (b *bench) deploy(ctx context.Context, namespaces []string, run func() (Sample, error)) (Sample, error) {
	before, err := b.revisions(ctx, namespaces)
	if err != nil {
		return Sample{}, err
	}
	cpuBefore, err := b.cluster.CPUSeconds()
	if err != nil {
		return Sample{}, err
	}
	s, err := run()
	if err != nil {
		return Sample{}, err
	}
	cpuAfter, err := b.cluster.CPUSeconds()
	if err != nil {
		return Sample{}, err
	}
	after, err := b.revisions(ctx, namespaces)
	if err != nil {
		return Sample{}, err
	}
	n, cp := after-before, cpuAfter-cpuBefore
	s.Revisions, s.ControlPlaneCPU = &n, &cp
	return s, nil
}

// exec runs one command and measures it: wall time from start to exit, CPU time and
// peak RSS from the kernel's rusage of the process.
func (b *bench) exec(ctx context.Context, env []string, args ...string) (Sample, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return Sample{}, fmt.Errorf("%s: %v\n%s", oneLine(args), err, out.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return Sample{Wall: wall.Seconds(), CPU: cpu.Seconds(), RSS: ru.Maxrss}, nil
}

// loop runs commands one after another: their total wall time and CPU time, the
// largest peak RSS.
func (b *bench) loop(ctx context.Context, env []string, cmds [][]string) (Sample, error) {
	var total Sample
	start := time.Now()
	for _, c := range cmds {
		s, err := b.exec(ctx, env, c...)
		if err != nil {
			return Sample{}, err
		}
		total.CPU += s.CPU
		total.RSS = max(total.RSS, s.RSS)
	}
	total.Wall = time.Since(start).Seconds()
	return total, nil
}

// output runs a command untimed and returns its stdout.
func (b *bench) output(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = b.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %v\n%s", oneLine(args), err, stderr.String())
	}
	return string(out), nil
}

// revisions sums the latest revision of each namespace's releases, from helm's release
// Secrets (label owner=helm, version=N): helm keeps only the last 10, so counting the
// Secrets would miss revisions.
func (b *bench) revisions(ctx context.Context, namespaces []string) (int, error) {
	total := 0
	for _, ns := range namespaces {
		list, err := b.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
		if err != nil {
			return 0, err
		}
		latest := 0
		for _, s := range list.Items {
			v, _ := strconv.Atoi(s.Labels["version"])
			latest = max(latest, v)
		}
		total += latest
	}
	return total, nil
}

// withoutVars drops the variables named, or starting with a name ending in "_".
func withoutVars(env []string, names ...string) []string {
	var kept []string
next:
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		for _, n := range names {
			if name == n || strings.HasSuffix(n, "_") && strings.HasPrefix(name, n) {
				continue next
			}
		}
		kept = append(kept, kv)
	}
	return kept
}

func firstLine(s string, err error) string {
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// commit names the checkout measured; "+modified" when tracked files differ from it
// (the build includes them).
func commit() string {
	head, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(head))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += "+modified"
	}
	return c
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:min(3, len(f))], " ")
}

// writeJSON writes the report to out, or to bench/results/<date>.json (with the time
// added when a report of that date exists).
func writeJSON(r *Report, out string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if out == "" {
		dir := filepath.Join("bench", "results")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		now := time.Now().UTC()
		out = filepath.Join(dir, now.Format("2006-01-02")+".json")
		if _, err := os.Stat(out); err == nil {
			out = filepath.Join(dir, now.Format("2006-01-02T150405Z")+".json")
		}
	}
	if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
		return err
	}
	logf("wrote %s", out)
	return nil
}
