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

	"github.com/go-logr/logr"
	"helm.sh/helm/v3/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// LoadBalancerMessage is what hubploy says while a LoadBalancer Service has no address.
const LoadBalancerMessage = "waiting for a load-balancer address: nothing has set status.loadBalancer.ingress yet " +
	"(a cluster without a load-balancer controller such as MetalLB or a cloud provider never sets it; " +
	"use proxy.service.type ClusterIP or NodePort there)"

// statusWaiter is helm's kube client with the wait replaced: readiness comes from
// kstatus over a watch of each resource, each change is reported as the API server
// reports it, a cancelled context stops the wait at once, and a timeout names what was
// not ready.
type statusWaiter struct {
	*kube.Client
	ctx      context.Context
	progress func(format string, args ...any)
	objects  dynamic.Interface // watches the resources
	pace     pace

	mu      sync.Mutex
	failure error // the first wait that ended on its own: a timeout, a failed resource
}

// pace is how a wait reads the cluster besides its watches.
type pace struct {
	// quiet is how long the wait hears nothing before it reads one resource, to learn
	// whether the cluster still answers: a watch cannot tell a cluster where nothing
	// changes from one whose storage stopped answering (a paused etcd leaves the API
	// server's watches open and silent).
	quiet time.Duration
	poll  time.Duration // between reads of a resource the cluster does not allow to watch
	read  time.Duration // bounds each read
}

var defaultPace = pace{quiet: 2 * time.Second, poll: 2 * time.Second, read: 10 * time.Second}

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
	var targets []*resource.Info
	for _, info := range resources {
		if info.Mapping.GroupVersionKind.Kind == "Job" && !jobs {
			continue
		}
		targets = append(targets, info)
	}
	if len(targets) == 0 {
		return nil
	}
	run := &waitRun{ctx: ctx, objects: w.objects, pace: w.pace, targets: targets, reports: make(chan report),
		board: newBoard(targets, w.progress)}
	// client-go logs what goes wrong with a watch; the board says it, once.
	watchCtx, stopWatching := context.WithCancel(klog.NewContext(ctx, logr.Discard()))
	defer stopWatching()
	for i := range targets {
		go run.follow(watchCtx, i)
	}
	return run.until(timeout)
}

// report is what was learnt of one resource: its status, or why it cannot be read.
type report struct {
	target  int
	status  status.Status // "" when only err changed
	message string
	err     error // nil: the cluster answers again
	refused bool  // the cluster does not allow to watch it (RBAC), or cannot: err says so
}

// waitRun is one wait: a watch of each target, whose reports it puts on its board.
type waitRun struct {
	ctx     context.Context
	objects dynamic.Interface
	pace    pace
	targets []*resource.Info
	reports chan report
	board   *board
}

// send hands rep to the wait, unless the wait is over.
func (r *waitRun) send(rep report) {
	select {
	case r.reports <- rep:
	case <-r.ctx.Done():
	}
}

// until takes reports until every target is ready, one failed or the wait ends (ctx).
// After pace.quiet without news, it reads one resource, so that a cluster that stopped
// answering is named as such.
func (r *waitRun) until(timeout time.Duration) error {
	quiet := time.NewTimer(r.pace.quiet)
	defer quiet.Stop()
	answers := make(chan error)
	asking := false
	for {
		select {
		case <-r.ctx.Done():
			return r.board.standing().notReadyError(r.ctx, timeout)
		case rep := <-r.reports:
			if r.ctx.Err() != nil {
				// The end of the wait may have cut the read short: it knows less than the board.
				return r.board.standing().notReadyError(r.ctx, timeout)
			}
			if rep.refused {
				r.board.refused(rep.err, r.pace.poll)
				go r.poll(rep.target)
				continue
			}
			if err := r.board.apply(rep); err != nil {
				return err
			}
			if r.board.standing().ready() {
				return nil
			}
			if rep.err == nil && !asking {
				quiet.Reset(r.pace.quiet)
			}
		case <-quiet.C:
			asking = true
			go func() {
				// Any read that reaches the cluster's storage will do: the first
				// resource's, whose answer only tells that the cluster answers.
				_, _, err := r.pace.look(r.ctx, r.targets[0])
				select {
				case answers <- err:
				case <-r.ctx.Done():
				}
			}()
		case err := <-answers:
			if r.ctx.Err() != nil {
				return r.board.standing().notReadyError(r.ctx, timeout)
			}
			asking = false
			r.board.heard(err)
			quiet.Reset(r.pace.quiet)
		}
	}
}

// follow reports on target i from a watch of it alone, which client-go lists again and
// watches anew whenever the connection drops; it reports each failed attempt and the
// first that works after them. A cluster that refuses the watch ends it: the wait reads
// the target instead.
func (r *waitRun) follow(ctx context.Context, i int) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	info := r.targets[i]
	objects := r.objects.Resource(info.Mapping.Resource).Namespace(namespaceIfScoped(info))
	byName := fields.OneTermEqualSelector("metadata.name", info.Name).String()
	failing := false
	answered := func(err error) error {
		switch {
		case err == nil:
			if failing {
				failing = false
				r.send(report{target: i})
			}
		case ctx.Err() != nil, apierrors.IsResourceExpired(err), apierrors.IsGone(err):
			// The wait is over, or client-go lists again at once.
		case apierrors.IsForbidden(err), apierrors.IsMethodNotSupported(err):
			stop()
			r.send(report{target: i, err: err, refused: true})
		default:
			failing = true
			r.send(report{target: i, err: withoutURL(err)})
		}
		return err
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = byName
			if opts.ResourceVersion == "0" {
				// The first list may come from the API server's cache ("0"), which can
				// predate what helm just applied: an old Deployment would look ready.
				opts.ResourceVersion = ""
			}
			list, err := objects.List(ctx, opts)
			return list, answered(err)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = byName
			w, err := objects.Watch(ctx, opts)
			return w, answered(err)
		},
	}
	seen := func(obj any, gone bool) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		// An aggregated API server may ignore the field selector.
		if u, ok := obj.(*unstructured.Unstructured); ok && u.GetName() == info.Name {
			st, msg := status.NotFoundStatus, "not found"
			if !gone {
				st, msg = objectStatus(u)
			}
			r.send(report{target: i, status: st, message: msg})
		}
	}
	logger := klog.FromContext(ctx)
	store, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		Logger:        &logger,
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, r.objects),
		ObjectType:    &unstructured.Unstructured{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { seen(obj, false) },
			UpdateFunc: func(_, obj any) { seen(obj, false) },
			DeleteFunc: func(obj any) { seen(obj, true) },
		},
	})
	go func() {
		// An object that is not there is no event at all: look once the first list is in.
		if cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
			if _, there, _ := store.GetByKey(cache.NewObjectName(namespaceIfScoped(info), info.Name).String()); !there {
				r.send(report{target: i, status: status.NotFoundStatus, message: "not found"})
			}
		}
	}()
	informer.RunWithContext(ctx)
}

// poll reports on target i from a read every pace.poll, for a cluster that does not
// allow to watch it.
func (r *waitRun) poll(i int) {
	for {
		st, msg, err := r.pace.look(r.ctx, r.targets[i])
		r.send(report{target: i, status: st, message: msg, err: err})
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(r.pace.poll):
		}
	}
}

// look reads info once, within p.read: a cluster that does not answer by then is a
// noAnswerError.
func (p pace) look(ctx context.Context, info *resource.Info) (status.Status, string, error) {
	readCtx, cancel := context.WithTimeout(ctx, p.read)
	defer cancel()
	st, msg, err := readStatus(readCtx, info)
	if err != nil && errors.Is(readCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		err = noAnswerError{p.read}
	}
	return st, msg, err
}

// noAnswerError is a read the cluster did not answer in time.
type noAnswerError struct{ within time.Duration }

func (e noAnswerError) Error() string {
	return fmt.Sprintf("the cluster did not answer within %s", e.within)
}

// board is what a wait knows of each of its resources, from the last report on it.
type board struct {
	keys     []string        // "Kind/name"
	statuses []status.Status // "" before the first report
	lines    []string        // "status: message", as reported
	errs     []error         // why it cannot be read now
	silence  error           // the cluster did not answer the last look, and nothing was heard since
	progress func(format string, args ...any)
	start    time.Time
	said     string // the read trouble said last, to say each once
	refusal  bool   // a refused watch was said
}

func newBoard(targets []*resource.Info, progress func(string, ...any)) *board {
	b := &board{statuses: make([]status.Status, len(targets)), lines: make([]string, len(targets)),
		errs: make([]error, len(targets)), progress: progress, start: time.Now()}
	for _, info := range targets {
		b.keys = append(b.keys, resourceKey(info))
	}
	return b
}

// apply records rep, saying a change of status. A failed resource ends the wait:
// waiting longer cannot make it ready.
func (b *board) apply(rep report) error {
	i := rep.target
	b.errs[i] = rep.err
	if rep.err == nil {
		b.silence = nil // the cluster answers
	}
	if rep.status != "" {
		line := string(rep.status) + ": " + rep.message
		if b.lines[i] != line {
			b.statuses[i], b.lines[i] = rep.status, line
			b.progress("%-40s %s (%.0fs)", b.keys[i], line, time.Since(b.start).Seconds())
		}
		if rep.status == status.FailedStatus {
			return fmt.Errorf("%s failed: %s", b.keys[i], rep.message)
		}
	}
	b.sayTrouble()
	return nil
}

// heard records what a look at the cluster found: nil, an answer of any kind.
func (b *board) heard(err error) {
	var silent noAnswerError
	if errors.As(err, &silent) {
		b.silence = err
	} else {
		b.silence = nil
	}
	b.sayTrouble()
}

// refused says, once a wait, that the cluster does not allow to watch (RBAC).
func (b *board) refused(err error, poll time.Duration) {
	if !b.refusal {
		b.refusal = true
		b.progress("watching is not allowed (%v): reading what may not be watched every %s instead", err, poll)
	}
}

// sayTrouble says why resources cannot be read, once for each reason, in one line for
// all: the cluster's trouble, not the resources'.
func (b *board) sayTrouble() {
	s := b.standing()
	if s.readErr == nil {
		b.said = ""
	} else if msg := s.readErr.Error(); msg != b.said {
		b.said = msg
		b.progress("could not read from the cluster: %s; retrying", msg)
	}
}

// standing is where a wait stands: what is not ready, what cannot be read.
type standing struct {
	notReady []string // "Kind/name (status: message)" of each resource read and not ready
	unread   []string // "Kind/name" of each that cannot be read
	readErr  error    // why, for the last of them
}

func (b *board) standing() standing {
	var s standing
	for i, key := range b.keys {
		switch {
		case b.errs[i] != nil:
			s.unread, s.readErr = append(s.unread, key), b.errs[i]
		case b.statuses[i] == status.CurrentStatus:
		case b.silence != nil:
			// Its watch is silent: the resource may have changed since.
			s.unread, s.readErr = append(s.unread, key), b.silence
		case b.lines[i] == "":
			s.notReady = append(s.notReady, key)
		default:
			s.notReady = append(s.notReady, key+" ("+b.lines[i]+")")
		}
	}
	return s
}

func (s standing) ready() bool { return len(s.notReady)+len(s.unread) == 0 }

// notReadyError says, on one line, that the wait ended (ctx, done) before every resource
// was ready, which were not, and why some could not be read.
func (s standing) notReadyError(ctx context.Context, timeout time.Duration) error {
	what := "timed out after " + timeout.String()
	if errors.Is(ctx.Err(), context.Canceled) {
		what = "stopped"
		if cause := context.Cause(ctx); cause != ctx.Err() {
			what += " (" + cause.Error() + ")" // a signal, a lost lock
		}
	}
	parts := slices.Sorted(slices.Values(s.notReady))
	if len(s.unread) > 0 {
		parts = append(parts, fmt.Sprintf("%d could not be read from the cluster (%s): %v",
			len(s.unread), strings.Join(slices.Sorted(slices.Values(s.unread)), ", "), s.readErr))
	}
	return &waitError{
		msg:   fmt.Sprintf("%s waiting for %d resource(s) to be ready: %s", what, len(s.notReady)+len(s.unread), strings.Join(parts, "; ")),
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

func namespaceIfScoped(info *resource.Info) string {
	if info.Namespaced() {
		return info.Namespace
	}
	return ""
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
	st, msg := objectStatus(u)
	return st, msg, nil
}

// objectStatus is u's kstatus, with helm's rule for LoadBalancer Services.
func objectStatus(u *unstructured.Unstructured) (status.Status, string) {
	if waitingForLoadBalancer(u) {
		return status.InProgressStatus, LoadBalancerMessage
	}
	res, err := status.Compute(u)
	if err != nil {
		return status.UnknownStatus, err.Error()
	}
	return res.Status, res.Message
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
