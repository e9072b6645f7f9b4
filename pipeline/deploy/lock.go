package deploy

import (
	"context"
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

// lock is a Lease that one hubploy process holds while it changes a release, so that a
// second process fails at once instead of racing helm, and so that a release left
// pending by a killed process can be told from one that is being deployed right now.
type lock struct {
	client   kubernetes.Interface
	ns, name string
	holder   string
	cancel   context.CancelFunc
	done     chan struct{}
}

func leaseName(release string) string { return "hubploy-" + release }

// acquireLock takes the release's lease, or says who holds it. With waitStale, a lease
// that stops being renewed (its holder was killed) is waited out, up to LeaseDuration.
func acquireLock(ctx context.Context, client kubernetes.Interface, ns, release string, waitStale bool, progress func(string, ...any)) (*lock, error) {
	deadline := time.Now().Add(LeaseDuration + 5*time.Second)
	for {
		l, holder, err := tryLock(ctx, client, ns, release)
		if err != nil || holder == nil || !waitStale || time.Now().After(deadline) {
			if holder != nil && err == nil {
				err = fmt.Errorf("release %s is being deployed right now by %s (since %s; lease %s/%s): wait for that deploy to finish; if that process was killed, its lock lapses within %s and --recover takes the release over",
					release, ptr.Deref(holder.Spec.HolderIdentity, "?"), holder.Spec.AcquireTime.Format(time.RFC3339), ns, holder.Name, LeaseDuration)
			}
			return l, err
		}
		progress("the deploy lock is held by %s; waiting for it to expire if that run is gone", ptr.Deref(holder.Spec.HolderIdentity, "?"))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(LeaseDuration / 6):
		}
	}
}

// tryLock takes the lease, or returns the lease that someone else holds.
func tryLock(ctx context.Context, client kubernetes.Interface, ns, release string) (*lock, *coordinationv1.Lease, error) {
	host, _ := os.Hostname()
	l := &lock{client: client, ns: ns, name: leaseName(release), holder: host + "/" + strconv.Itoa(os.Getpid()) + "/" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	leases := client.CoordinationV1().Leases(ns)
	now := metav1.NewMicroTime(time.Now())
	spec := coordinationv1.LeaseSpec{
		HolderIdentity:       ptr.To(l.holder),
		LeaseDurationSeconds: ptr.To(int32(LeaseDuration.Seconds())),
		AcquireTime:          &now,
		RenewTime:            &now,
	}
	_, err := leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: l.name}, Spec: spec}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, getErr := leases.Get(ctx, l.name, metav1.GetOptions{})
		if getErr != nil {
			return nil, nil, getErr
		}
		if held(cur) {
			return nil, cur, nil
		}
		cur.Spec = spec
		_, err = leases.Update(ctx, cur, metav1.UpdateOptions{}) // a conflict means another process won
		if apierrors.IsConflict(err) {
			return nil, nil, fmt.Errorf("release %s: another hubploy process took the deploy lock at the same moment: wait for it to finish", release)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("taking the deploy lock %s/%s: %w", ns, l.name, err)
	}
	renewCtx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go l.renew(renewCtx)
	return l, nil, nil
}

func held(l *coordinationv1.Lease) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil || ptr.Deref(l.Spec.HolderIdentity, "") == "" {
		return false
	}
	return time.Since(l.Spec.RenewTime.Time) < time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second
}

func (l *lock) renew(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(LeaseDuration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cur, err := l.client.CoordinationV1().Leases(l.ns).Get(ctx, l.name, metav1.GetOptions{})
			if err != nil || ptr.Deref(cur.Spec.HolderIdentity, "") != l.holder {
				continue
			}
			cur.Spec.RenewTime = ptr.To(metav1.NewMicroTime(time.Now()))
			l.client.CoordinationV1().Leases(l.ns).Update(ctx, cur, metav1.UpdateOptions{})
		}
	}
}

// release lets the lease go, if it is still ours.
func (l *lock) release() {
	l.cancel()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cur, err := l.client.CoordinationV1().Leases(l.ns).Get(ctx, l.name, metav1.GetOptions{})
	if err == nil && ptr.Deref(cur.Spec.HolderIdentity, "") == l.holder {
		l.client.CoordinationV1().Leases(l.ns).Delete(ctx, l.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &cur.ResourceVersion}})
	}
}
