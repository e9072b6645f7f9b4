package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
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
}

func (w *statusWaiter) Wait(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout, false)
}

func (w *statusWaiter) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout, true)
}

func (w *statusWaiter) wait(resources kube.ResourceList, timeout time.Duration, jobs bool) error {
	ctx, cancel := context.WithTimeout(w.ctx, timeout)
	defer cancel()
	start := time.Now()
	last := map[string]string{}
	for {
		var pending []string
		for _, info := range resources {
			if info.Mapping.GroupVersionKind.Kind == "Job" && !jobs {
				continue
			}
			key := info.Mapping.GroupVersionKind.Kind + "/" + info.Name
			st, msg := liveStatus(info)
			line := string(st) + ": " + msg
			if last[key] != line {
				last[key] = line
				w.progress("%-40s %s (%.0fs)", key, line, time.Since(start).Seconds())
			}
			if st == status.FailedStatus {
				return fmt.Errorf("%s failed: %s", key, msg)
			}
			if st != status.CurrentStatus {
				pending = append(pending, key+" ("+line+")")
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(pending)
			what := "timed out after " + timeout.String()
			if errors.Is(ctx.Err(), context.Canceled) {
				what = "stopped"
			}
			return fmt.Errorf("%s waiting for %d resource(s) to be ready: %s", what, len(pending), strings.Join(pending, "; "))
		case <-time.After(w.interval):
		}
	}
}

// liveStatus reads the object from the cluster and computes its kstatus.
func liveStatus(info *resource.Info) (status.Status, string) {
	obj, err := resource.NewHelper(info.Client, info.Mapping).Get(info.Namespace, info.Name)
	if apierrors.IsNotFound(err) {
		return status.NotFoundStatus, "not found"
	}
	if err != nil {
		return status.UnknownStatus, err.Error()
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return status.UnknownStatus, err.Error()
		}
		u = &unstructured.Unstructured{Object: m}
	}
	if waitingForLoadBalancer(u) {
		return status.InProgressStatus, LoadBalancerMessage
	}
	res, err := status.Compute(u)
	if err != nil {
		return status.UnknownStatus, err.Error()
	}
	return res.Status, res.Message
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
