package faults

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/hubploy/hubploy/pipeline/deploy"
)

// undo returns a function that runs fix once, for when the fault has done its part. It
// is a cleanup of t too, so that a test that fails first leaves the cluster whole for
// the others.
func undo(t *testing.T, fix func(context.Context) error) func() {
	var once sync.Once
	do := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := fix(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Cleanup(do)
	return do
}

// unready is a change whose hub pod is never scheduled, so that the deploy waits until
// its timeout or the fault.
const unready = "jupyterhub.hub.nodeSelector.hubploy-faults=nowhere"

// The API server dies (SIGKILL) while hubploy waits, and hubploy ends before it is back:
// hubploy fails at its timeout saying the cluster did not answer; helm could not record
// the failure, so the release is left pending, which --recover takes over.
func TestAPIServerKilled(t *testing.T) {
	f := newFixture(t)
	f.mustDeploy()
	const timeout = 10 * time.Second
	p := f.start("deploy", "--set", unready, "--timeout", timeout.String())
	p.waiting()
	if err := kube.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	restart := undo(t, kube.RestartAPIServer)
	o := p.within(timeout + time.Minute)
	restart()
	t.Logf("with the API server down, hubploy failed after %s", o.took.Round(100*time.Millisecond))
	line := failedClearly(t, o, "timed out after 10s waiting for")
	if !strings.Contains(line, "could not be read from the cluster") || !strings.Contains(line, "connection refused") {
		t.Errorf("the error does not say the cluster did not answer: %s", line)
	}
	// Its timeout, the rollout it started and two release records that fail at once.
	if o.took > timeout+15*time.Second {
		t.Errorf("hubploy took %s with a %s timeout", o.took, timeout)
	}

	if got, want := f.history(), "1:deployed 2:pending-upgrade"; got != want {
		t.Errorf("history after the fault: %s, want %s", got, want)
	}
	// A plain deploy says what to do: the lock of the run that failed is still fresh, or
	// the release is pending.
	failedClearly(t, f.run("deploy"), "--recover")
	f.mustDeploy("--recover")
	if got, want := f.history(), "1:superseded 2:failed 3:deployed"; got != want {
		t.Errorf("history: %s, want %s (3 the rollback to 1, which is what the repo says)", got, want)
	}
}

// etcd stops answering (SIGSTOP) from the start of hubploy's wait until hubploy ends:
// hubploy fails within a bound after its timeout, saying the cluster did not answer,
// and once etcd goes on (SIGCONT) the release is recovered with its history.
func TestEtcdPaused(t *testing.T) {
	f := newFixture(t)
	f.mustDeploy()
	// Longer than a read of the wait (10 s) and its poll interval, so that a whole poll
	// sees the cluster not answer before the timeout.
	const timeout = 15 * time.Second
	p := f.start("deploy", "--set", unready, "--timeout", timeout.String())
	p.waiting()
	if err := kube.PauseEtcd(); err != nil {
		t.Fatal(err)
	}
	resume := undo(t, kube.ResumeEtcd)
	// The bound: after the timeout, each of the few requests for release records that
	// helm and hubploy make is bounded to 10 s, and so is the deploy lock's release.
	const bound = 40 * time.Second
	o := p.within(timeout + bound + 20*time.Second)
	resume()
	t.Logf("with etcd paused, hubploy failed %s after its %s timeout", (o.took - timeout).Round(100*time.Millisecond), timeout)
	line := failedClearly(t, o, "timed out after 15s waiting for")
	if !strings.Contains(line, "the cluster did not answer within 10s") {
		t.Errorf("the error does not say the cluster did not answer: %s", line)
	}
	if o.took > timeout+bound {
		t.Errorf("hubploy failed %s after its timeout, more than %s", o.took-timeout, bound)
	}

	// The failed revision's record, written while etcd was paused, may have landed once
	// it went on.
	if got := f.history(); got != "1:deployed 2:pending-upgrade" && got != "1:deployed 2:failed" {
		t.Errorf("history after the fault: %s", got)
	}
	f.mustDeploy("--recover")
	if got, want := f.history(), "1:superseded 2:failed 3:deployed"; got != want {
		t.Errorf("history: %s, want %s", got, want)
	}
}

// Another holder takes the deploy lock's Lease while hubploy waits: hubploy stops at its
// next renewal rather than race, says who holds it, and leaves their lease alone.
func TestLockTakenMidDeploy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustDeploy()
	p := f.start("deploy", "--set", unready, "--timeout", "5m")
	p.waiting()
	leases := kube.Client().CoordinationV1().Leases(f.namespace)
	const intruder = "intruder/1/x"
	l, err := leases.Get(t.Context(), "hubploy-"+relName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.NewMicroTime(time.Now())
	l.Spec.HolderIdentity, l.Spec.RenewTime, l.Spec.LeaseDurationSeconds = ptr.To(intruder), &now, ptr.To(int32(3600))
	if _, err := leases.Update(t.Context(), l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	o := p.within(time.Minute)
	stopped := time.Since(taken)
	t.Logf("hubploy stopped %s after its lease was taken", stopped.Round(100*time.Millisecond))
	failedClearly(t, o, "lost the deploy lock of "+relName+": "+intruder+" holds its lease "+f.namespace+"/hubploy-"+relName+" now; stopped rather than race another deploy")
	// It notices at its next renewal, a third of the lease's duration apart.
	if stopped > deploy.LeaseDuration/3+5*time.Second {
		t.Errorf("hubploy stopped %s after losing its lease", stopped)
	}
	if l, err := leases.Get(t.Context(), "hubploy-"+relName, metav1.GetOptions{}); err != nil || ptr.Deref(l.Spec.HolderIdentity, "") != intruder {
		t.Errorf("the intruder's lease: %v, %v", l, err)
	}
	// The intruder holds the release now: the next deploy keeps off it.
	failedClearly(t, f.run("deploy"), "release "+relName+" is being deployed right now by "+intruder)
	// helm marked the stopped revision failed; the one before is still what is live.
	if got, want := f.history(), "1:deployed 2:failed"; got != want {
		t.Errorf("history: %s, want %s", got, want)
	}
}

// Two deploys of one release started at once: one deploys, the other fails at once
// naming the first as the holder of the lock.
func TestConcurrentDeploys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustDeploy()
	procs := []*proc{
		f.start("deploy", "--set", "jupyterhub.singleuser.defaultUrl=/lab/a"),
		f.start("deploy", "--set", "jupyterhub.singleuser.defaultUrl=/lab/b"),
	}
	outs := []outcome{procs[0].within(2 * time.Minute), procs[1].within(2 * time.Minute)}
	var won, lost int
	switch {
	case outs[0].code == 0 && outs[1].code != 0:
		won, lost = 0, 1
	case outs[1].code == 0 && outs[0].code != 0:
		won, lost = 1, 0
	default:
		t.Fatalf("want one deploy to succeed and one to fail:\n%s\n%s", outs[0], outs[1])
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	holder := host + "/" + strconv.Itoa(procs[won].cmd.Process.Pid) + "/"
	failedClearly(t, outs[lost], "release "+relName+" is being deployed right now by "+holder)
	if outs[lost].took > outs[won].took || outs[lost].took > 10*time.Second {
		t.Errorf("the refused deploy took %s, the one that deployed %s", outs[lost].took, outs[won].took)
	}
	if got, want := f.history(), "1:superseded 2:deployed"; got != want {
		t.Errorf("history: %s, want %s", got, want)
	}
}

// Ctrl-C or SIGTERM while hubploy waits: it stops at once, helm marks the revision
// failed rather than leave it pending, and the next deploy works.
func TestSignalsDuringWait(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.mustDeploy()
			p := f.start("deploy", "--set", unready)
			p.waiting()
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			o := p.within(time.Minute)
			t.Logf("hubploy ended %s after %v", time.Since(sent).Round(100*time.Millisecond), sig)
			if took := time.Since(sent); took > 20*time.Second {
				t.Errorf("hubploy took %s to stop", took)
			}
			// "interrupt signal received", "terminated signal received"
			failedClearly(t, o, sig.String()+" signal received")
			if got, want := f.history(), "1:deployed 2:failed"; got != want {
				t.Errorf("history after %v: %s, want %s", sig, got, want)
			}
			f.mustDeploy()
			if got, want := f.history(), "1:superseded 2:failed 3:deployed"; got != want {
				t.Errorf("history after the next deploy: %s, want %s", got, want)
			}
		})
	}
}

// Ctrl-C while hubploy renders the chart, work that does not look at the context:
// hubploy gives it its grace (5 s), then ends with 130 and one line; nothing was
// deployed yet, and the next deploy works.
func TestSignalDuringRender(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustDeploy()
	// Minutes of rendering (twice, with the values and with their stand-ins); little
	// memory, since each list is made anew.
	slow := filepath.Join(f.repo, "hub", "templates", "slow.yaml")
	if err := os.WriteFile(slow, []byte("{{- range until 30000 }}{{- range until 30000 }}{{- end }}{{- end }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := f.start("deploy")
	// Reading the values and the chart takes well under this; the render, minutes.
	time.Sleep(3 * time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	o := p.within(time.Minute)
	t.Logf("hubploy ended %s after Ctrl-C during the render", time.Since(sent).Round(100*time.Millisecond))
	if took := time.Since(sent); took > 10*time.Second {
		t.Errorf("hubploy took %s to stop", took)
	}
	endedClearly(t, o, 130, "interrupt signal received: stopped; the command did not finish within")
	if err := os.Remove(slow); err != nil {
		t.Fatal(err)
	}
	f.mustDeploy()
	if got, want := f.history(), "1:deployed"; got != want {
		t.Errorf("history: %s, want %s", got, want)
	}
}
