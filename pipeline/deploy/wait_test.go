package deploy

import (
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

func TestParseTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{"300": 300 * time.Second, "30m": 30 * time.Minute, "90s": 90 * time.Second} {
		if got, err := ParseTimeout(in); err != nil || got != want {
			t.Errorf("ParseTimeout(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseTimeout("soon"); err == nil || err.Error() != `key "timeout": "soon" is neither a duration (30m, 90s) nor a number of seconds` {
		t.Errorf("got %v", err)
	}
}
