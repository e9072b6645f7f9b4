package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/resource"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// LoadBalancerMessage is what hubploy says while a LoadBalancer Service has no address.
const LoadBalancerMessage = "waiting for a load-balancer address: nothing has set status.loadBalancer.ingress yet " +
	"(a cluster without a load-balancer controller such as MetalLB or a cloud provider never sets it; " +
	"use proxy.service.type ClusterIP or NodePort there)"

// statusWaiter is helm's kube client with the wait replaced: readiness comes from
// kstatus, each change is reported as it happens, a cancelled context stops the wait at
// once, and a timeout names what was not ready.
type statusWaiter struct {
	*kube.Client
	ctx      context.Context
	progress func(format string, args ...any)
	interval time.Duration

	mu      sync.Mutex
	failure error // the first wait that ended on its own: a timeout, a failed resource
}

// cause is err, or the wait's own failure when err is a cancel that came after it: helm
// answers a cancel while it records the failed revision (a deploy lock lost because the
// cluster stopped answering, say) with the cancel, in place of what failed.
func (w *statusWaiter) cause(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failure != nil && errors.Is(err, context.Canceled) {
		return w.failure
	}
	return err
}

func (w *statusWaiter) Wait(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout, false)
}

func (w *statusWaiter) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout, true)
}

func (w *statusWaiter) wait(resources kube.ResourceList, timeout time.Duration, jobs bool) (err error) {
	ctx, cancel := context.WithTimeout(w.ctx, timeout)
	defer cancel()
	defer func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil && w.failure == nil && !errors.Is(err, context.Canceled) {
			w.failure = err
		}
	}()
	start := time.Now()
	var targets []*resource.Info
	var found poll // what the last whole poll found; before the first, nothing is ready
	for _, info := range resources {
		if info.Mapping.GroupVersionKind.Kind == "Job" && !jobs {
			continue
		}
		targets = append(targets, info)
		found.notReady = append(found.notReady, resourceKey(info))
	}
	last := map[string]string{} // each resource's last status line, to report changes
	reported := ""              // the read error said last, to say each once
	for {
		p, err := w.poll(ctx, targets, last, start)
		if err != nil {
			return err
		}
		// A poll that the end of the wait cut short knows less than the one before.
		if ctx.Err() == nil {
			found = p
			if len(p.notReady)+len(p.unread) == 0 {
				return nil
			}
			if p.readErr == nil {
				reported = ""
			} else if msg := p.readErr.Error(); msg != reported {
				reported = msg
				w.progress("could not read %d resource(s) from the cluster: %s; retrying", len(p.unread), msg)
			}
		}
		select {
		case <-ctx.Done():
			return found.notReadyError(ctx, timeout)
		case <-time.After(w.interval):
		}
	}
}

// readTimeout bounds one read of a resource during a wait.
const readTimeout = 10 * time.Second

// poll is what one look at every resource of a wait found.
type poll struct {
	notReady []string // "Kind/name (status: message)" of each resource read and not ready
	unread   []string // "Kind/name" of each that could not be read
	readErr  error    // why, for the last of them
}

// poll reads every target once, reporting each change of status against last. A failed
// resource ends the wait at once: waiting longer cannot make it ready.
func (w *statusWaiter) poll(ctx context.Context, targets []*resource.Info, last map[string]string, start time.Time) (poll, error) {
	var p poll
	for i, info := range targets {
		key := resourceKey(info)
		readCtx, cancel := context.WithTimeout(ctx, readTimeout)
		st, msg, err := readStatus(readCtx, info)
		noAnswer := err != nil && errors.Is(readCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if noAnswer {
			// The cluster does not answer: asking for each of the rest would hold the
			// wait readTimeout per resource.
			p.readErr = fmt.Errorf("the cluster did not answer within %s", readTimeout)
			for _, rest := range targets[i:] {
				p.unread = append(p.unread, resourceKey(rest))
			}
			break
		}
		if err != nil {
			// One line for all, in wait: the cluster's trouble, not the resources'.
			p.unread, p.readErr = append(p.unread, key), err
			continue
		}
		line := string(st) + ": " + msg
		if last[key] != line {
			last[key] = line
			w.progress("%-40s %s (%.0fs)", key, line, time.Since(start).Seconds())
		}
		if st == status.FailedStatus {
			return p, fmt.Errorf("%s failed: %s", key, msg)
		}
		if st != status.CurrentStatus {
			p.notReady = append(p.notReady, key+" ("+line+")")
		}
	}
	return p, nil
}

// notReadyError says, on one line, that the wait ended (ctx, done) before every resource
// was ready, which were not, and why some could not be read.
func (p poll) notReadyError(ctx context.Context, timeout time.Duration) error {
	what := "timed out after " + timeout.String()
	if errors.Is(ctx.Err(), context.Canceled) {
		what = "stopped"
		if cause := context.Cause(ctx); cause != ctx.Err() {
			what += " (" + cause.Error() + ")" // a signal, a lost lock
		}
	}
	parts := slices.Sorted(slices.Values(p.notReady))
	if len(p.unread) > 0 {
		parts = append(parts, fmt.Sprintf("%d could not be read from the cluster (%s): %v",
			len(p.unread), strings.Join(slices.Sorted(slices.Values(p.unread)), ", "), p.readErr))
	}
	return &waitError{
		msg:   fmt.Sprintf("%s waiting for %d resource(s) to be ready: %s", what, len(p.notReady)+len(p.unread), strings.Join(parts, "; ")),
		cause: ctx.Err(),
	}
}

// waitError is a wait that ended before every resource was ready. It wraps the context's
// error, so that a cancel (Ctrl-C, a lost lock) can be told from a timeout.
type waitError struct {
	msg   string
	cause error
}

func (e *waitError) Error() string { return e.msg }
func (e *waitError) Unwrap() error { return e.cause }

func resourceKey(info *resource.Info) string {
	return info.Mapping.GroupVersionKind.Kind + "/" + info.Name
}

// liveStatus is the object's kstatus, Unknown with the reason when it cannot be read.
func liveStatus(ctx context.Context, info *resource.Info) (status.Status, string) {
	st, msg, err := readStatus(ctx, info)
	if err != nil {
		return status.UnknownStatus, err.Error()
	}
	return st, msg
}

// readStatus reads the object from the cluster within ctx, so that a cluster that stops
// answering cannot hold a wait past its timeout, and computes its kstatus. The error says
// why it could not be read.
func readStatus(ctx context.Context, info *resource.Info) (status.Status, string, error) {
	obj, err := info.Client.Get().
		NamespaceIfScoped(info.Namespace, info.Namespaced()).
		Resource(info.Mapping.Resource.Resource).
		Name(info.Name).
		Do(ctx).Get()
	if apierrors.IsNotFound(err) {
		return status.NotFoundStatus, "not found", nil
	}
	if err != nil {
		return "", "", withoutURL(err)
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return status.UnknownStatus, err.Error(), nil
		}
		u = &unstructured.Unstructured{Object: m}
	}
	if waitingForLoadBalancer(u) {
		return status.InProgressStatus, LoadBalancerMessage, nil
	}
	res, err := status.Compute(u)
	if err != nil {
		return status.UnknownStatus, err.Error(), nil
	}
	return res.Status, res.Message, nil
}

// withoutURL drops the request's URL from a transport error: it names the object, which
// the caller names already, at length.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// waitingForLoadBalancer is helm's rule, which kstatus lacks: a LoadBalancer Service is
// ready once it has an address, or external IPs that make one unnecessary.
func waitingForLoadBalancer(u *unstructured.Unstructured) bool {
	if u.GetKind() != "Service" {
		return false
	}
	// A field of another type than the API's is treated as absent, as kstatus does.
	typ, _, _ := unstructured.NestedString(u.Object, "spec", "type")
	if typ != "LoadBalancer" {
		return false
	}
	ips, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "externalIPs")
	ingress, _, _ := unstructured.NestedSlice(u.Object, "status", "loadBalancer", "ingress")
	return len(ips) == 0 && len(ingress) == 0
}
