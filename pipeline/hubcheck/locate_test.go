package hubcheck

import "testing"

func TestIngressURL(t *testing.T) {
	for _, tc := range []struct {
		name, manifest, want string
	}{
		{"none", "kind: Service\nmetadata: {name: proxy-public}\n", ""},
		{"plain", `kind: Ingress
spec:
  rules:
  - host: hub.example.org
    http: {paths: [{path: /, backend: {service: {name: proxy-public}}}]}
`, "http://hub.example.org/"},
		{"tls and a base URL with the GKE wildcard", `kind: Service
---
kind: Ingress
spec:
  tls: [{hosts: [hub.example.org], secretName: t}]
  rules:
  - host: "*.example.org"
    http: {paths: [{path: /, backend: {service: {name: proxy-public}}}]}
  - host: hub.example.org
    http: {paths: [{path: /jupyter/*, backend: {service: {name: proxy-public}}}]}
`, "https://hub.example.org/jupyter/"},
		{"the proxy's Ingress wins over another", `kind: Ingress
spec:
  rules:
  - host: grafana.example.org
    http: {paths: [{path: /, backend: {service: {name: grafana}}}]}
---
kind: Ingress
spec:
  tls: [{hosts: [other.example.org]}]
  rules:
  - host: hub.example.org
    http: {paths: [{path: /, backend: {service: {name: proxy-public}}}]}
`, "http://hub.example.org/"},
		{"another Ingress when the proxy has none", `kind: Ingress
spec:
  rules:
  - host: hub.example.org
    http: {paths: [{path: /hub, backend: {service: {name: custom}}}]}
`, "http://hub.example.org/hub/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := IngressURL(tc.manifest)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("IngressURL = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func TestTokenSecret(t *testing.T) {
	manifest := `kind: Secret
metadata: {name: proxy}
data: {other: eA==}
---
kind: Secret
metadata: {name: jh-hub}
stringData:
  hub.services.hub-health.apiToken: "x"
`
	if got := TokenSecret(manifest, "hub-health"); got != "jh-hub" {
		t.Errorf("TokenSecret = %q", got)
	}
	if got := TokenSecret(manifest, "other"); got != "hub" {
		t.Errorf("TokenSecret of an unknown service = %q, want z2jh's hub", got)
	}
}

func TestValuesToken(t *testing.T) {
	svc := func(token any) map[string]any {
		return map[string]any{"hub": map[string]any{"services": map[string]any{"hub-health": map[string]any{"apiToken": token}}}}
	}
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"top level (the z2jh chart itself)", svc("t0"), "t0"},
		{"umbrella chart", map[string]any{"etc": map[string]any{}, "jupyterhub": svc("t1")}, "t1"},
		{"two levels (basehub.jupyterhub)", map[string]any{"basehub": map[string]any{"jupyterhub": svc("t2")}}, "t2"},
		{"three levels is too deep", map[string]any{"a": map[string]any{"b": map[string]any{"c": svc("t3")}}}, ""},
		{"not a string", map[string]any{"jupyterhub": svc(42)}, ""},
		{"empty", map[string]any{"jupyterhub": svc("")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ValuesToken(tc.vals, "hub-health")
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("ValuesToken = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}
