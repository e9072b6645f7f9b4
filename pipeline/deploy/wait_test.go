package deploy

import (
	"testing"

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
