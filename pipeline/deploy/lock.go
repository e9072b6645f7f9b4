package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// LeaseDuration is how long a deploy's lock outlives the process holding it, were that
// process killed: after it, --recover may take the release over.
const LeaseDuration = 30 * time.Second

// leaseState is what a deploy lock's Lease says about its holder.
type leaseState int

const (
	leaseFree  leaseState = iota // no lease, or a released one: take it
	leaseHeld                    // renewed within its duration: someone is deploying
	leaseStale                   // not renewed in time: its holder is gone, take it over
)

// stateOf reads lease (nil: there is none) at now.
func stateOf(lease *coordinationv1.Lease, now time.Time) leaseState {
	if lease == nil || holderOf(lease) == "" {
		return leaseFree
	}
	spec := lease.Spec
	if spec.RenewTime == nil || spec.LeaseDurationSeconds == nil {
		return leaseStale
	}
	if now.Before(spec.RenewTime.Add(time.Duration(*spec.LeaseDurationSeconds) * time.Second)) {
		return leaseHeld
	}
	return leaseStale
}

func holderOf(lease *coordinationv1.Lease) string { return ptr.Deref(lease.Spec.HolderIdentity, "") }

// lock is a Lease that one hubploy process holds while it changes a release, so that a
// second process fails at once instead of racing helm, and so that a release left
// pending by a killed process can be told from one that is being deployed right now.
type lock struct {
	client   kubernetes.Interface
	ns, name string // the Lease's
	relName  string // the release it locks
	holder   string
	progress func(string, ...any)
	// ctx is the caller's context, also cancelled, with a *lostLockError as its cause,
	// when the lease is lost: the work done under the lock uses it.
	ctx     context.Context
	lose    context.CancelCauseFunc
	stop    context.CancelFunc // stops the renewal
	done    chan struct{}      // closed when the renewal has stopped
	renewed time.Time          // the last successful renewal; only the renewal touches it
}

func leaseName(release string) string { return "hubploy-" + release }

// acquireLock takes the release's lease, or says who holds it. With waitStale, a lease
// that stops being renewed (its holder was killed) is waited out, up to LeaseDuration.
func acquireLock(ctx context.Context, client kubernetes.Interface, ns, release string, waitStale bool, progress func(string, ...any)) (*lock, error) {
	leases := client.CoordinationV1().Leases(ns)
	name := leaseName(release)
	deadline := time.Now().Add(LeaseDuration + 5*time.Second)
	for {
		cur, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cur, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the deploy lock %s/%s: %w", ns, name, err)
		}
		state := stateOf(cur, time.Now())
		if state == leaseStale {
			progress("the deploy lock was held by %s, which stopped renewing it: taking it over", holderOf(cur))
		}
		if state != leaseHeld {
			lk, err := takeLock(ctx, client, ns, release, cur, progress)
			if errors.Is(err, errRaced) {
				continue // read who won, to name them
			}
			return lk, err
		}
		if !waitStale || time.Now().After(deadline) {
			since := "an unknown time"
			if cur.Spec.AcquireTime != nil {
				since = cur.Spec.AcquireTime.Format(time.RFC3339)
			}
			return nil, fmt.Errorf("release %s is being deployed right now by %s (since %s; lease %s/%s): wait for that deploy to finish; if that process was killed, its lock lapses within %s and --recover takes the release over",
				release, holderOf(cur), since, ns, name, LeaseDuration)
		}
		progress("the deploy lock is held by %s; waiting for it to expire if that run is gone", holderOf(cur))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped waiting for the deploy lock %s/%s held by %s: %w", ns, name, holderOf(cur), context.Cause(ctx))
		case <-time.After(LeaseDuration / 6):
		}
	}
}

// errRaced is takeLock's when another process wrote the lease since it was read.
var errRaced = errors.New("another process wrote the deploy lock at the same moment")

// takeLock writes the lease as ours (cur is the free or stale lease; nil: none) and
// starts renewing it. Another process writing it at the same moment makes this fail with
// errRaced.
func takeLock(ctx context.Context, client kubernetes.Interface, ns, release string, cur *coordinationv1.Lease, progress func(string, ...any)) (*lock, error) {
	// The host only makes the holder readable; pid and time make it unique without it.
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	now := time.Now()
	l := &lock{client: client, ns: ns, name: leaseName(release), relName: release, progress: progress, renewed: now,
		holder: host + "/" + strconv.Itoa(os.Getpid()) + "/" + strconv.FormatInt(now.UnixNano(), 36)}
	spec := coordinationv1.LeaseSpec{
		HolderIdentity:       ptr.To(l.holder),
		LeaseDurationSeconds: ptr.To(int32(LeaseDuration.Seconds())),
		AcquireTime:          ptr.To(metav1.NewMicroTime(now)),
		RenewTime:            ptr.To(metav1.NewMicroTime(now)),
	}
	leases := client.CoordinationV1().Leases(ns)
	if cur == nil {
		_, err = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: l.name}, Spec: spec}, metav1.CreateOptions{})
	} else {
		cur = cur.DeepCopy()
		cur.Spec = spec
		_, err = leases.Update(ctx, cur, metav1.UpdateOptions{}) // its resourceVersion makes this fail if another process wrote it since
	}
	if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
		return nil, errRaced
	}
	if err != nil {
		return nil, fmt.Errorf("taking the deploy lock %s/%s: %w", ns, l.name, err)
	}
	l.ctx, l.lose = context.WithCancelCause(ctx)
	renewCtx, stop := context.WithCancel(context.Background())
	l.stop, l.done = stop, make(chan struct{})
	go l.keep(renewCtx)
	return l, nil
}

// keep renews the lease until stopped, and cancels l.ctx when it is lost.
func (l *lock) keep(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(LeaseDuration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.renew(ctx, time.Now()); err != nil {
				l.lose(err)
				return
			}
		}
	}
}

// lostLockError says why a deploy stopped: another process may now change the release.
type lostLockError struct {
	release, why string
}

func (e *lostLockError) Error() string {
	return fmt.Sprintf("lost the deploy lock of %s: %s; stopped rather than race another deploy: check who deploys it, then deploy again", e.release, e.why)
}

// renew extends the lease once. It returns an error only when the lease is lost: held by
// another process, deleted, or not renewed for LeaseDuration, after which others take it
// for stale. A failed attempt short of that is reported and retried at the next tick.
func (l *lock) renew(stopping context.Context, now time.Time) error {
	ctx, cancel := context.WithTimeout(stopping, LeaseDuration/3)
	defer cancel()
	leases := l.client.CoordinationV1().Leases(l.ns)
	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return &lostLockError{l.relName, fmt.Sprintf("its lease %s/%s was deleted", l.ns, l.name)}
	case err == nil && holderOf(cur) != l.holder:
		return &lostLockError{l.relName, fmt.Sprintf("%s holds its lease %s/%s now", holderOf(cur), l.ns, l.name)}
	case err == nil:
		cur.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
		_, err = leases.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err == nil {
		l.renewed = now
		return nil
	}
	if stopping.Err() != nil {
		return nil // the lock is being released: the attempt was cut short, nothing is lost
	}
	if now.Sub(l.renewed) >= LeaseDuration {
		return &lostLockError{l.relName, fmt.Sprintf("its lease %s/%s could not be renewed for %s (%v)", l.ns, l.name, LeaseDuration, err)}
	}
	l.progress("could not renew the deploy lock %s/%s (%v); retrying", l.ns, l.name, err)
	return nil
}

// explain says why the work under the lock was cancelled, in place of err when err is
// that cancel: the lock was lost, or the caller's context ended (Ctrl-C, say), which the
// cancel itself does not tell. A failure of its own, such as a timeout after which the
// lock was lost while helm recorded the failed revision, is the one to report.
func (l *lock) explain(err error) error {
	if !errors.Is(err, context.Canceled) {
		return err
	}
	cause := context.Cause(l.ctx)
	var lost *lostLockError
	if errors.As(cause, &lost) {
		return lost
	}
	var w *waitError
	if errors.As(err, &w) || cause == l.ctx.Err() {
		return err // it names the cause already, or there is none to name
	}
	return fmt.Errorf("stopped: %w", cause)
}

// release stops the renewal and lets the lease go, if it is still ours. A lost lock is
// not: another process holds it, or the cluster did not answer for its whole duration,
// when asking again would only add to the wait.
func (l *lock) release() {
	l.stop()
	<-l.done
	l.lose(nil) // the work under the lock is over
	var lost *lostLockError
	if errors.As(context.Cause(l.ctx), &lost) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leases := l.client.CoordinationV1().Leases(l.ns)
	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if err == nil && holderOf(cur) != l.holder {
		return // someone else's now, not ours to delete
	}
	if err == nil {
		err = leases.Delete(ctx, l.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &cur.ResourceVersion}})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		l.progress("could not release the deploy lock %s/%s (%v); it lapses by itself within %s", l.ns, l.name, err, LeaseDuration)
	}
}
