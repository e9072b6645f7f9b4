package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

var stateNames = map[leaseState]string{leaseFree: "free", leaseHeld: "held", leaseStale: "stale"}

func lease(holder string, renewed time.Time, seconds int32) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: leaseName("datahub-prod"), Namespace: "ns"}}
	if holder != "" {
		l.Spec.HolderIdentity = ptr.To(holder)
	}
	if !renewed.IsZero() {
		l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(renewed))
		l.Spec.AcquireTime = l.Spec.RenewTime
	}
	if seconds != 0 {
		l.Spec.LeaseDurationSeconds = ptr.To(seconds)
	}
	return l
}

func TestStateOf(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		lease *coordinationv1.Lease
		want  leaseState
	}{
		{"no lease", nil, leaseFree},
		{"released", lease("", now, 30), leaseFree},
		{"renewed recently", lease("host/1/a", now.Add(-10*time.Second), 30), leaseHeld},
		{"renewed just in time", lease("host/1/a", now.Add(-29*time.Second), 30), leaseHeld},
		{"expired", lease("host/1/a", now.Add(-30*time.Second), 30), leaseStale},
		{"long gone", lease("host/1/a", now.Add(-time.Hour), 30), leaseStale},
		{"never renewed", lease("host/1/a", time.Time{}, 30), leaseStale},
		{"no duration", lease("host/1/a", now, 0), leaseStale},
	} {
		if got := stateOf(tc.lease, now); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, stateNames[got], stateNames[tc.want])
		}
	}
}

// lines collects progress lines.
type lines []string

func (l *lines) add(format string, args ...any) { *l = append(*l, fmt.Sprintf(format, args...)) }

func getLease(t *testing.T, client *fake.Clientset) (*coordinationv1.Lease, error) {
	t.Helper()
	return client.CoordinationV1().Leases("ns").Get(context.Background(), leaseName("datahub-prod"), metav1.GetOptions{})
}

func TestLockTakeAndRelease(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	var progress lines
	lk, err := acquireLock(ctx, client, "ns", "datahub-prod", false, progress.add)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := getLease(t, client); err != nil || holderOf(l) != lk.holder {
		t.Fatalf("lease %v, %v; want held by %s", l, err, lk.holder)
	}
	_, err = acquireLock(ctx, client, "ns", "datahub-prod", false, progress.add)
	if err == nil || !strings.Contains(err.Error(), "release datahub-prod is being deployed right now by "+lk.holder) {
		t.Errorf("a second lock: %v", err)
	}
	lk.release()
	if _, err := getLease(t, client); !apierrors.IsNotFound(err) {
		t.Errorf("the lease outlived its release: %v", err)
	}
	if lk.ctx.Err() == nil || lk.explain(nil) != nil {
		t.Errorf("after release: ctx %v, explain(nil) %v", lk.ctx.Err(), lk.explain(nil))
	}
	if len(progress) != 0 {
		t.Errorf("progress: %q", progress)
	}
}

func TestLockTakesOverStaleLease(t *testing.T) {
	client := fake.NewClientset(lease("gone/1/a", time.Now().Add(-time.Minute), 30))
	var progress lines
	lk, err := acquireLock(context.Background(), client, "ns", "datahub-prod", false, progress.add)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.release()
	if l, err := getLease(t, client); err != nil || holderOf(l) != lk.holder {
		t.Fatalf("lease %v, %v; want held by %s", l, err, lk.holder)
	}
	if strings.Join(progress, "\n") != "the deploy lock was held by gone/1/a, which stopped renewing it: taking it over" {
		t.Errorf("progress: %q", progress)
	}
}

func TestLockLost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(t *testing.T, client *fake.Clientset)
		want  string
	}{
		{"taken over", func(t *testing.T, client *fake.Clientset) {
			if _, err := client.CoordinationV1().Leases("ns").Update(context.Background(), lease("other/2/b", time.Now(), 30), metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, "lost the deploy lock of datahub-prod: other/2/b holds its lease ns/hubploy-datahub-prod now; stopped rather than race another deploy: check who deploys it, then deploy again"},
		{"deleted", func(t *testing.T, client *fake.Clientset) {
			if err := client.CoordinationV1().Leases("ns").Delete(context.Background(), leaseName("datahub-prod"), metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}, "lost the deploy lock of datahub-prod: its lease ns/hubploy-datahub-prod was deleted;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			var progress lines
			lk, err := acquireLock(context.Background(), client, "ns", "datahub-prod", false, progress.add)
			if err != nil {
				t.Fatal(err)
			}
			tc.after(t, client)
			lost := lk.renew(context.Background(), time.Now())
			if lost == nil || !strings.HasPrefix(lost.Error(), tc.want) {
				t.Fatalf("renew: got %v, want %q", lost, tc.want)
			}
			lk.lose(lost) // as keep does
			if lk.ctx.Err() == nil {
				t.Error("the lock's context survived the loss")
			}
			if err := lk.explain(context.Canceled); err != lost {
				t.Errorf("explain: got %v", err)
			}
			lk.release()
			if l, err := getLease(t, client); err == nil && holderOf(l) != "other/2/b" {
				t.Errorf("release wrote the lease it lost: %v", l)
			}
			if len(progress) != 0 {
				t.Errorf("progress: %q", progress)
			}
		})
	}
}

// lockWhoseReadsFail takes a lock, after which every read of its lease fails with err.
func lockWhoseReadsFail(t *testing.T, err error) (*lock, *lines) {
	t.Helper()
	client := fake.NewClientset()
	progress := &lines{}
	lk, lerr := acquireLock(context.Background(), client, "ns", "datahub-prod", false, progress.add)
	if lerr != nil {
		t.Fatal(lerr)
	}
	t.Cleanup(lk.release)
	client.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, err
	})
	return lk, progress
}

// A renewal that fails is retried until the lease would lapse; then the lock is lost.
func TestLockRenewalFails(t *testing.T) {
	lk, progress := lockWhoseReadsFail(t, errors.New("connection refused"))
	if err := lk.renew(context.Background(), lk.renewed.Add(LeaseDuration/3)); err != nil {
		t.Fatalf("one failed renewal lost the lock: %v", err)
	}
	if strings.Join(*progress, "\n") != "could not renew the deploy lock ns/hubploy-datahub-prod (connection refused); retrying" {
		t.Errorf("progress: %q", *progress)
	}
	lost := lk.renew(context.Background(), lk.renewed.Add(LeaseDuration))
	want := "lost the deploy lock of datahub-prod: its lease ns/hubploy-datahub-prod could not be renewed for 30s (connection refused);"
	if lost == nil || !strings.HasPrefix(lost.Error(), want) {
		t.Errorf("got %v, want %q", lost, want)
	}
}

// A renewal cut short by the lock's release is not a failure.
func TestLockRenewalStopping(t *testing.T) {
	lk, progress := lockWhoseReadsFail(t, context.Canceled)
	stopped, stop := context.WithCancel(context.Background())
	stop()
	if err := lk.renew(stopped, lk.renewed.Add(LeaseDuration)); err != nil || len(*progress) != 0 {
		t.Errorf("got %v, progress %q", err, *progress)
	}
}

// Two processes that find the lease free at once: the one whose write loses names the
// one whose write won.
func TestLockRaceNamesWinner(t *testing.T) {
	client := fake.NewClientset()
	winner := lease("winner/2/b", time.Now(), 30)
	raced := false
	client.PrependReactor("create", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		// The winner's write lands between this process's read and its own write.
		raced = true
		if err := client.Tracker().Add(winner); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewAlreadyExists(coordinationv1.Resource("leases"), winner.Name)
	})
	_, err := acquireLock(context.Background(), client, "ns", "datahub-prod", false, (&lines{}).add)
	if !raced || err == nil || !strings.HasPrefix(err.Error(), "release datahub-prod is being deployed right now by winner/2/b") {
		t.Errorf("raced %v: %v", raced, err)
	}
}

// signalCause is as os/signal.NotifyContext's cause: context.Canceled to errors.Is.
type signalCause struct{}

func (signalCause) Error() string        { return "interrupt signal received" }
func (signalCause) Is(target error) bool { return target == context.Canceled }

// What explain makes of the error the work under the lock ended with.
func TestLockExplain(t *testing.T) {
	timeout := errors.New("timed out after 10s waiting for 1 resource(s) to be ready: Deployment/hub")
	var interrupted signalCause
	for _, tc := range []struct {
		name   string
		cancel func(lk *lock, parent context.CancelCauseFunc)
		err    error
		want   string
	}{
		{"lost, then the cancel", func(lk *lock, _ context.CancelCauseFunc) {
			lk.lose(&lostLockError{"datahub-prod", "other/2/b holds its lease ns/hubploy-datahub-prod now"})
		}, context.Canceled, "lost the deploy lock of datahub-prod: other/2/b holds its lease"},
		{"a timeout, then lost", func(lk *lock, _ context.CancelCauseFunc) {
			lk.lose(&lostLockError{"datahub-prod", "its lease could not be renewed for 30s"})
		}, timeout, timeout.Error()},
		{"interrupted", func(_ *lock, parent context.CancelCauseFunc) { parent(interrupted) },
			context.Canceled, "stopped: interrupt signal received"},
		{"interrupted in the wait, which says so", func(_ *lock, parent context.CancelCauseFunc) { parent(interrupted) },
			&waitError{msg: "stopped (interrupt signal received) waiting for 1 resource(s) to be ready: Deployment/hub", cause: context.Canceled},
			"stopped (interrupt signal received) waiting for"},
		{"cancelled without a cause", func(_ *lock, parent context.CancelCauseFunc) { parent(nil) },
			context.Canceled, "context canceled"},
		{"no cancel", func(*lock, context.CancelCauseFunc) {}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			lk, err := acquireLock(parent, fake.NewClientset(), "ns", "datahub-prod", false, (&lines{}).add)
			if err != nil {
				t.Fatal(err)
			}
			defer lk.release()
			tc.cancel(lk, cancel)
			got := lk.explain(tc.err)
			if (got == nil) != (tc.want == "") || got != nil && !strings.HasPrefix(got.Error(), tc.want) {
				t.Errorf("got %v, want %q", got, tc.want)
			}
		})
	}
}

// A lost lock is released without asking the cluster: it is not ours, or the cluster
// did not answer.
func TestLockLostReleasesNothing(t *testing.T) {
	client := fake.NewClientset()
	lk, err := acquireLock(context.Background(), client, "ns", "datahub-prod", false, (&lines{}).add)
	if err != nil {
		t.Fatal(err)
	}
	lk.lose(&lostLockError{"datahub-prod", "its lease could not be renewed for 30s"})
	before := len(client.Actions())
	lk.release()
	if after := client.Actions()[before:]; len(after) != 0 {
		t.Errorf("release of a lost lock asked %v", after)
	}
}

// Stopped (Ctrl-C) while waiting out another holder's lease with --recover: says whose
// lease it waited for, and why it stopped.
func TestLockWaitStopped(t *testing.T) {
	client := fake.NewClientset(lease("other/2/b", time.Now(), 30))
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(signalCause{})
	_, err := acquireLock(ctx, client, "ns", "datahub-prod", true, (&lines{}).add)
	want := "stopped waiting for the deploy lock ns/hubploy-datahub-prod held by other/2/b: interrupt signal received"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}
