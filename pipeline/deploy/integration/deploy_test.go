// Package integration tests pipeline/deploy against a real control plane (kubeenv),
// through its exported API only.
package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/deploy"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/values"
)

var kube *kubeenv.Cluster

func TestMain(m *testing.M) {
	kubeenv.Main(m, func(c *kubeenv.Cluster) { kube = c })
}

// fixture is a copy of hubs-example whose hubs deploy into one test namespace.
type fixture struct {
	t         testing.TB
	repo      *repo.Repo
	namespace string
	dec       *secrets.Decrypter
	recipient string // the example age key's public key, to encrypt with
	cache     string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	key, err := os.ReadFile(example.AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(example.Copy(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, repo: r, namespace: kube.NewNamespace(t), dec: &secrets.Decrypter{AgeIdentities: []string{string(key)}}, cache: t.TempDir()}
	for _, line := range strings.Split(string(key), "\n") {
		if pub, ok := strings.CutPrefix(line, "# public key: "); ok {
			f.recipient = pub
		}
	}
	return f
}

func (f *fixture) hub(name string) *repo.Hub {
	f.t.Helper()
	h, err := f.repo.Hub(name)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

// encrypt writes clear to the repository file path, encrypted for the example key.
func (f *fixture) encrypt(path string, clear []byte) {
	f.t.Helper()
	if err := os.WriteFile(path, sopstest.MustEncrypt(f.t, path, clear, f.recipient), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// prepare loads hub/env with extra --set values, into the test's namespace.
func (f *fixture) prepare(hub, env string, set ...string) *release.Release {
	f.t.Helper()
	return f.prepareIn(f.namespace, hub, env, set...)
}

// prepareIn is prepare into namespace ns ("": the hub's own).
func (f *fixture) prepareIn(ns, hub, env string, set ...string) *release.Release {
	f.t.Helper()
	rel, err := release.Prepare(context.Background(), f.hub(hub), env, release.Options{
		Namespace: ns,
		Decrypter: f.dec,
		Charts:    &charts.Loader{CacheDir: f.cache, Mirrors: map[string]string{example.Z2JHRepository: example.MirrorFolder()}},
		Values:    values.Options{Set: set},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return rel
}

func (f *fixture) access(hub string) *cluster.Access {
	f.t.Helper()
	return f.accessIn(f.namespace, hub)
}

// kubeContext is the context of the test cluster's kubeconfig. It is given with the
// kubeconfig, since hubs with a context template (stat20) name clusters it lacks.
const kubeContext = "kubeenv"

func (f *fixture) accessIn(ns, hub string) *cluster.Access {
	f.t.Helper()
	a, err := cluster.ForHub(f.hub(hub), ns, f.dec, cluster.Options{Kubeconfig: kube.Kubeconfig(), Context: kubeContext})
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *fixture) deployer(hub string) *deploy.Upgrade {
	return &deploy.Upgrade{Access: f.access(hub), Timeout: 90 * time.Second,
		Progress: func(format string, args ...any) { f.t.Logf(format, args...) }}
}

// history returns the release's revisions in the test's namespace, oldest first.
func (f *fixture) history(name string) []deploy.Revision {
	f.t.Helper()
	h, err := (&deploy.History{Access: f.access("datahub")}).Run(context.Background(), name, f.namespace)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

func statuses(h []deploy.Revision) string {
	var s []string
	for _, r := range h {
		s = append(s, fmt.Sprintf("%d:%s", r.Revision, r.Status))
	}
	return strings.Join(s, " ")
}

func (f *fixture) configMap(name, key string) string {
	f.t.Helper()
	cm, err := kube.Client().CoreV1().ConfigMaps(f.namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cm.Data[key]
}

func mustRun(t *testing.T, d *deploy.Upgrade, rel *release.Release, wantOutcome deploy.Outcome, wantRev int) {
	t.Helper()
	res, err := d.Run(context.Background(), rel)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if res.Outcome != wantOutcome || res.Revision != wantRev {
		t.Fatalf("got %s at revision %d, want %s at %d", res.Outcome, res.Revision, wantOutcome, wantRev)
	}
}

// Install, upgrade with changed values, then a redeploy with nothing changed, with the
// kubeconfig read from the hub's sops-encrypted secrets/kubeconfig.yaml.
func TestInstallUpgradeNoop(t *testing.T) {
	f := newFixture(t)
	f.encrypt(filepath.Join(f.repo.Root, "deployments/datahub/secrets/kubeconfig.yaml"), kube.Kubeconfig())
	access, err := cluster.ForHub(f.hub("datahub"), f.namespace, f.dec, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := f.deployer("datahub")
	d.Access = access

	mustRun(t, d, f.prepare("datahub", "staging"), deploy.Deployed, 1)
	if got := f.configMap("hub", "singleuser.yaml"); !strings.Contains(got, "guarantee: 512M") {
		t.Fatalf("live config: %s", got)
	}
	mustRun(t, d, f.prepare("datahub", "staging", "jupyterhub.singleuser.memory.guarantee=768M"), deploy.Deployed, 2)
	if got := f.configMap("hub", "singleuser.yaml"); !strings.Contains(got, "guarantee: 768M") {
		t.Fatalf("upgrade did not reach the cluster: %s", got)
	}
	mustRun(t, d, f.prepare("datahub", "staging", "jupyterhub.singleuser.memory.guarantee=768M"), deploy.Unchanged, 2)
	if got := statuses(f.history("datahub-staging")); got != "1:superseded 2:deployed" {
		t.Fatalf("history: %s", got)
	}
	d.Force = true
	mustRun(t, d, f.prepare("datahub", "staging", "jupyterhub.singleuser.memory.guarantee=768M"), deploy.Deployed, 3)
}

// A deploy whose hub pod can never be scheduled times out; --atomic rolls it back and
// the previous values stay live.
func TestAtomicRollsBackUnready(t *testing.T) {
	f := newFixture(t)
	d := f.deployer("stat20")
	mustRun(t, d, f.prepare("stat20", "prod"), deploy.Deployed, 1)
	d.Atomic, d.Timeout = true, 8*time.Second
	res, err := d.Run(context.Background(), f.prepare("stat20", "prod",
		"jupyterhub.hub.nodeSelector.hubploy-test=nowhere", "jupyterhub.singleuser.memory.guarantee=9G"))
	if err == nil {
		t.Fatal("an unschedulable hub deployed")
	}
	for _, want := range []string{"timed out after 8s waiting for", "Deployment/hub"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if res.Outcome != deploy.Failed {
		t.Errorf("outcome %s", res.Outcome)
	}
	hist := f.history("stat20-prod")
	last := hist[len(hist)-1]
	if last.Status != "deployed" || strings.Contains(f.configMap("hub", "singleuser.yaml"), "9G") {
		t.Fatalf("not rolled back: %s", statuses(hist))
	}
}

// Two deploys of one release at once: one deploys, the other fails at once and says why.
func TestConcurrentDeploysOfOneRelease(t *testing.T) {
	f := newFixture(t)
	mustRun(t, f.deployer("datahub"), f.prepare("datahub", "prod"), deploy.Deployed, 1)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		rel := f.prepare("datahub", "prod", fmt.Sprintf("jupyterhub.singleuser.defaultUrl=/lab/%d", i))
		d := f.deployer("datahub")
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = d.Run(context.Background(), rel)
		}()
	}
	wg.Wait()
	ok, failed := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case strings.Contains(err.Error(), "is being deployed right now by"):
			failed++
		default:
			t.Errorf("unclear failure: %v", err)
		}
	}
	if ok != 1 || failed != 1 {
		t.Fatalf("%d succeeded, %d failed clearly: %v", ok, failed, errs)
	}
	if got := statuses(f.history("datahub-prod")); got != "1:superseded 2:deployed" {
		t.Fatalf("history: %s", got)
	}
}

// Ten hubs in one run, in parallel, all reach Ready.
func TestTenHubsInParallel(t *testing.T) {
	f := newFixture(t)
	var jobs []deploy.Job
	for i := range 10 {
		name := fmt.Sprintf("hub%02d", i)
		dir := filepath.Join(f.repo.Root, "deployments", name)
		if err := os.CopyFS(dir, os.DirFS(filepath.Join(f.repo.Root, "deployments", "stat20"))); err != nil {
			t.Fatal(err)
		}
		// z2jh's objects have fixed names (hub, proxy): one hub per namespace.
		ns := f.namespace + "-" + name
		t.Cleanup(func() {
			if err := kube.Client().CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}); err != nil {
				t.Errorf("deleting namespace %s: %v", ns, err)
			}
		})
		jobs = append(jobs, deploy.Job{Release: f.prepareIn(ns, name, "staging"), Access: f.accessIn(ns, name)})
	}
	many := &deploy.Many{Options: deploy.Upgrade{Timeout: 2 * time.Minute}, PerCluster: 4}
	start := time.Now()
	results := many.Run(context.Background(), jobs)
	for _, r := range results {
		if r.Outcome != deploy.Deployed || r.Revision != 1 {
			t.Errorf("%s: %s %s", r.Release, r.Outcome, r.Error)
		}
	}
	t.Logf("10 hubs deployed in %s", time.Since(start).Round(time.Millisecond))
}

func TestDiffMasksSecrets(t *testing.T) {
	f := newFixture(t)
	d := f.deployer("datahub")
	mustRun(t, d, f.prepare("datahub", "staging"), deploy.Deployed, 1)

	// Change a plain value, and the proxy token in the encrypted secrets file.
	oldRel := f.prepare("datahub", "staging")
	secretFile := filepath.Join(f.repo.Root, "deployments/datahub/secrets/staging.yaml")
	clear, _, err := f.dec.ReadFile(secretFile, "secrets/staging.yaml")
	if err != nil {
		t.Fatal(err)
	}
	newToken := strings.Repeat("ab", 32)
	var oldToken string
	for _, line := range strings.Split(string(clear), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "secretToken: "); ok {
			oldToken = v
		}
	}
	changed := strings.Replace(string(clear), oldToken, newToken, 1)
	f.encrypt(secretFile, []byte(changed))

	rel := f.prepare("datahub", "staging", "jupyterhub.singleuser.defaultUrl=/tree")
	res, err := (&deploy.Diff{Access: f.access("datahub")}).Run(context.Background(), rel)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Text)
	for _, want := range []string{"-    defaultUrl: /lab", "+    defaultUrl: /tree", "live/ConfigMap/hub", deploy.ChangedMarker} {
		if !strings.Contains(res.Text, want) {
			t.Errorf("diff lacks %q", want)
		}
	}
	for _, secret := range append(oldRel.Values.SecretStrings, newToken) {
		if len(secret) >= 4 && strings.Contains(res.Text, secret) {
			t.Errorf("diff leaks a secret value")
		}
	}
	if res.Live != 1 || res.Changed < 2 {
		t.Errorf("live %d, changed %d", res.Live, res.Changed)
	}
}

// Bad cluster input fails clearly and leaves the live release as it was.
func TestBadInputLeavesReleaseUntouched(t *testing.T) {
	f := newFixture(t)
	mustRun(t, f.deployer("datahub"), f.prepare("datahub", "prod"), deploy.Deployed, 1)
	h := f.hub("datahub")
	unreachable, err := kube.KubeconfigFor("https://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts cluster.Options
		want string
	}{
		{"bad kubeconfig", cluster.Options{Kubeconfig: []byte("apiVersion: v1\nkind: Config\nclusters: [\n")}, "the given kubeconfig: is not a valid kubeconfig"},
		{"wrong context", cluster.Options{Kubeconfig: kube.Kubeconfig(), Context: "nope"}, `the given kubeconfig: has no context "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cluster.ForHub(h, f.namespace, f.dec, tc.opts)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("unreachable cluster", func(t *testing.T) {
		a, err := cluster.ForHub(h, f.namespace, f.dec, cluster.Options{Kubeconfig: unreachable})
		if err != nil {
			t.Fatal(err)
		}
		d := f.deployer("datahub")
		d.Access = a
		_, err = d.Run(context.Background(), f.prepare("datahub", "prod", "jupyterhub.singleuser.defaultUrl=/x"))
		if err == nil || !strings.Contains(err.Error(), "cannot reach the cluster at https://127.0.0.1:1") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("chart fails to render", func(t *testing.T) {
		_, err := f.deployer("datahub").Run(context.Background(), f.prepare("datahub", "prod", "nfsPVC.enabled=true"))
		if err == nil || !strings.Contains(err.Error(), "nfsPVC.nfs.serverIP is required") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		d := f.deployer("datahub")
		d.Timeout = 5 * time.Second
		_, err := d.Run(context.Background(), f.prepare("datahub", "prod", "jupyterhub.hub.nodeSelector.x=y"))
		if err == nil || !strings.Contains(err.Error(), "timed out after 5s waiting for") {
			t.Fatalf("got %v", err)
		}
		// The timed-out revision is failed; the next deploy goes on from the last good one.
		mustRun(t, f.deployer("datahub"), f.prepare("datahub", "prod"), deploy.Deployed, 3)
	})
	hist := f.history("datahub-prod")
	if got := statuses(hist); !strings.HasPrefix(got, "1:superseded 2:failed 3:deployed") {
		t.Fatalf("history: %s", got)
	}
}

// History lists revisions oldest first; Rollback makes a new one from an old one; both,
// and Status, say plainly when a release was never deployed.
func TestHistoryRollbackStatus(t *testing.T) {
	f := newFixture(t)
	d := f.deployer("datahub")
	mustRun(t, d, f.prepare("datahub", "staging"), deploy.Deployed, 1)
	mustRun(t, d, f.prepare("datahub", "staging", "jupyterhub.singleuser.memory.guarantee=768M"), deploy.Deployed, 2)
	rb := &deploy.Rollback{Access: f.access("datahub"), Timeout: 90 * time.Second, Progress: t.Logf}
	rev, err := rb.Run(context.Background(), "datahub-staging", f.namespace, 0)
	if err != nil || rev != 3 {
		t.Fatalf("rollback: revision %d, %v", rev, err)
	}
	if got := f.configMap("hub", "singleuser.yaml"); !strings.Contains(got, "guarantee: 512M") {
		t.Fatalf("the rollback did not reach the cluster: %s", got)
	}
	hist := f.history("datahub-staging")
	if got := statuses(hist); got != "1:superseded 2:superseded 3:deployed" {
		t.Fatalf("history: %s", got)
	}
	last := hist[2]
	if last.Chart != "hub-0.1.0" || last.Description != "Rollback to 1" || last.Updated.Before(hist[1].Updated) {
		t.Errorf("revision 3: %+v", last)
	}
	st, err := (&deploy.Status{Access: f.access("datahub")}).Run(context.Background(), "datahub-staging", f.namespace)
	if err != nil || st.Revision != 3 || st.Status != "deployed" || st.Chart != "hub-0.1.0" || len(st.Resources) == 0 {
		t.Fatalf("status: %+v, %v", st, err)
	}

	never := "release datahub-prod was never deployed in namespace " + f.namespace + ": "
	if _, err := (&deploy.History{Access: f.access("datahub")}).Run(context.Background(), "datahub-prod", f.namespace); err == nil || !strings.HasPrefix(err.Error(), never) {
		t.Errorf("history: %v", err)
	}
	if _, err := (&deploy.Status{Access: f.access("datahub")}).Run(context.Background(), "datahub-prod", f.namespace); err == nil || !strings.HasPrefix(err.Error(), never) {
		t.Errorf("status: %v", err)
	}
	if _, err := rb.Run(context.Background(), "datahub-prod", f.namespace, 0); err == nil || !strings.HasPrefix(err.Error(), never) {
		t.Errorf("rollback: %v", err)
	}
}

// A deploy whose lease another process takes over stops, says so, and leaves that
// process's lease alone.
func TestLostLockStopsDeploy(t *testing.T) {
	f := newFixture(t)
	mustRun(t, f.deployer("stat20"), f.prepare("stat20", "prod"), deploy.Deployed, 1)
	leases := kube.Client().CoordinationV1().Leases(f.namespace)
	const intruder = "intruder/1/x"
	go func() {
		// Once the deploy holds its lease, take it as a process that ignored it would.
		ctx := t.Context()
		for ctx.Err() == nil {
			l, err := leases.Get(ctx, "hubploy-stat20-prod", metav1.GetOptions{})
			if err == nil {
				now := metav1.NewMicroTime(time.Now())
				l.Spec.HolderIdentity, l.Spec.RenewTime, l.Spec.LeaseDurationSeconds = ptr.To(intruder), &now, ptr.To(int32(3600))
				if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err == nil {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	d := f.deployer("stat20")
	d.Timeout = 2 * time.Minute
	start := time.Now()
	_, err := d.Run(context.Background(), f.prepare("stat20", "prod", "jupyterhub.hub.nodeSelector.hubploy-test=nowhere"))
	want := "stat20-prod: lost the deploy lock of stat20-prod: " + intruder + " holds its lease " + f.namespace + "/hubploy-stat20-prod now; stopped rather than race another deploy"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	if waited := time.Since(start); waited > deploy.LeaseDuration {
		t.Errorf("stopped after %s", waited)
	}
	l, err := leases.Get(context.Background(), "hubploy-stat20-prod", metav1.GetOptions{})
	if err != nil || *l.Spec.HolderIdentity != intruder {
		t.Errorf("the intruder's lease: %v, %v", l, err)
	}
}
