package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestWaitingForLoadBalancer(t *testing.T) {
	svc := func(spec, status map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"kind": "Service", "spec": spec, "status": status}}
	}
	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		want bool
	}{
		{"LoadBalancer without address", svc(map[string]any{"type": "LoadBalancer"}, map[string]any{}), true},
		{"LoadBalancer with address", svc(map[string]any{"type": "LoadBalancer"},
			map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"ip": "127.1.0.1"}}}}), false},
		{"LoadBalancer with external IPs", svc(map[string]any{"type": "LoadBalancer", "externalIPs": []any{"192.0.2.1"}}, nil), false},
		{"ClusterIP", svc(map[string]any{"type": "ClusterIP"}, nil), false},
		{"not a Service", &unstructured.Unstructured{Object: map[string]any{"kind": "Deployment", "spec": map[string]any{"type": "LoadBalancer"}}}, false},
	} {
		if got := waitingForLoadBalancer(tc.obj); got != tc.want {
			t.Errorf("%s: got %v", tc.name, got)
		}
	}
}

// The error a wait ends with is one line: what was not ready, what could not be read and
// why, and why the wait ended.
func TestNotReadyError(t *testing.T) {
	found := poll{
		notReady: []string{"Deployment/proxy (InProgress: Replicas: 0/1)", "Deployment/hub (InProgress: Available: 0/1)"},
		unread:   []string{"Service/hub", "ConfigMap/hub"},
		readErr:  errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"),
	}
	timedOut, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-timedOut.Done()
	interrupted, interrupt := context.WithCancelCause(context.Background())
	interrupt(signalCause{})
	cancelled, stop := context.WithCancel(context.Background())
	stop()
	for _, tc := range []struct {
		ctx      context.Context
		want     string
		canceled bool
	}{
		{timedOut, "timed out after 5m0s waiting for 4 resource(s) to be ready: Deployment/hub (InProgress: Available: 0/1); " +
			"Deployment/proxy (InProgress: Replicas: 0/1); 2 could not be read from the cluster (ConfigMap/hub, Service/hub): " +
			"dial tcp 127.0.0.1:6443: connect: connection refused", false},
		{interrupted, "stopped (interrupt signal received) waiting for 4 resource(s) to be ready: Deployment/hub", true},
		{cancelled, "stopped waiting for 4 resource(s) to be ready: Deployment/hub", true},
	} {
		err := found.notReadyError(tc.ctx, 5*time.Minute)
		if !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("got %q, want %q", err, tc.want)
		}
		if errors.Is(err, context.Canceled) != tc.canceled {
			t.Errorf("%q: errors.Is(context.Canceled) = %v", err, !tc.canceled)
		}
	}
}

// helm answers a cancel that comes after the wait failed on its own with the cancel:
// cause gives the wait's failure back; other errors stand.
func TestWaiterCause(t *testing.T) {
	w := &statusWaiter{}
	if err := w.cause(context.Canceled); err != context.Canceled {
		t.Errorf("before any failure: %v", err)
	}
	failure := errors.New("timed out after 10s waiting for 1 resource(s) to be ready")
	w.failure = failure
	if err := w.cause(fmt.Errorf("upgrade: %w", context.Canceled)); err != failure {
		t.Errorf("a cancel after the failure: %v", err)
	}
	other := errors.New("the release record could not be written")
	if err := w.cause(other); err != other {
		t.Errorf("another error: %v", err)
	}
}
