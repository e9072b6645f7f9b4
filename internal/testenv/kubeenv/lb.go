package kubeenv

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// lbFirst is the first address handed out. The addresses are in the loopback
// range but nothing listens on them: kwok's pods do not run. They only have
// to exist for helm's wait (and z2jh's proxy-public) as they would under
// MetalLB or a cloud provider.
var lbFirst = netip.MustParseAddr("127.1.0.1")

// loadBalancers gives every LoadBalancer Service of the cluster an ingress
// address, as a cloud provider's service controller would.
type loadBalancers struct {
	client kubernetes.Interface
	lister listerscorev1.ServiceLister
	queue  workqueue.TypedRateLimitingInterface[string]
	next   uint32 // offset from lbFirst of the next address; worker only
}

// runLoadBalancers starts the controller and returns once it has seen every
// existing Service; stop ends it and waits for its goroutines.
func runLoadBalancers(ctx context.Context, client kubernetes.Interface) (stop func(), err error) {
	// Not ctx: that only bounds the start, the controller lives until stop.
	runCtx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(client, 0)
	services := factory.Core().V1().Services()
	lb := &loadBalancers{
		client: client,
		lister: services.Lister(),
		queue:  workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
	}
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			lb.queue.Add(key)
		}
	}
	if _, err := services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		cancel()
		return nil, err
	}
	var wg sync.WaitGroup
	factory.Start(runCtx.Done())
	wg.Go(func() { lb.work(runCtx) })
	stop = func() {
		cancel()
		lb.queue.ShutDown()
		wg.Wait()
		factory.Shutdown()
	}
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			stop()
			return nil, fmt.Errorf("load-balancer controller: %v cache not synced: %w", typ, ctx.Err())
		}
	}
	return stop, nil
}

func (lb *loadBalancers) work(ctx context.Context) {
	for {
		key, quit := lb.queue.Get()
		if quit {
			return
		}
		if err := lb.sync(ctx, key); err != nil && ctx.Err() == nil {
			lb.queue.AddRateLimited(key)
		} else {
			lb.queue.Forget(key)
		}
		lb.queue.Done(key)
	}
}

func (lb *loadBalancers) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	svc, err := lb.lister.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// A Service with a class belongs to another implementation, as with
	// cloud providers.
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.LoadBalancerClass != nil ||
		len(svc.Status.LoadBalancer.Ingress) > 0 {
		return nil
	}
	svc = svc.DeepCopy()
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: lb.address().String()}}
	_, err = lb.client.CoreV1().Services(ns).UpdateStatus(ctx, svc, metav1.UpdateOptions{})
	return err
}

// address returns the next address; each Service gets its own, as it would
// from a real load balancer.
func (lb *loadBalancers) address() netip.Addr {
	first := lbFirst.As4()
	var ip [4]byte
	binary.BigEndian.PutUint32(ip[:], binary.BigEndian.Uint32(first[:])+lb.next)
	lb.next++
	return netip.AddrFrom4(ip)
}
