package hubcheck

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// ProxyService is the z2jh Service in front of the hub that an Ingress routes to.
const ProxyService = "proxy-public"

// TokenKey is where z2jh keeps a hub service's API token, in the values (under
// hub.services) and as the key of the hub's Secret.
func TokenKey(service string) string { return "hub.services." + service + ".apiToken" }

// IngressURL finds the hub's public address in a release's rendered manifests: the
// first host of an Ingress that routes to ProxyService (else of any Ingress), https
// when the Ingress's tls lists that host, with the rule's path as the base URL.
func IngressURL(manifest string) (string, bool) {
	var fallback string
	for _, doc := range documents(manifest) {
		if doc.Kind != "Ingress" {
			continue
		}
		for _, rule := range doc.Spec.Rules {
			if rule.Host == "" || strings.Contains(rule.Host, "*") {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				u := doc.scheme(rule.Host) + "://" + rule.Host + basePath(p.Path)
				if p.Backend.Service.Name == ProxyService {
					return u, true
				}
				if fallback == "" {
					fallback = u
				}
			}
			if len(rule.HTTP.Paths) == 0 && fallback == "" {
				fallback = doc.scheme(rule.Host) + "://" + rule.Host + "/"
			}
		}
	}
	return fallback, fallback != ""
}

// TokenSecret names the Secret of the release whose data holds service's token
// (z2jh's "hub", unless the chart renames it), or "hub" when no rendered Secret has it.
func TokenSecret(manifest, service string) string {
	key := TokenKey(service)
	for _, doc := range documents(manifest) {
		if doc.Kind != "Secret" {
			continue
		}
		if _, ok := doc.Data[key]; ok {
			return doc.Metadata.Name
		}
		if _, ok := doc.StringData[key]; ok {
			return doc.Metadata.Name
		}
	}
	return "hub"
}

// ValuesToken finds service's apiToken under hub.services in a release's values: at
// the top (the z2jh chart itself) or under a dependency's key, at most two levels
// down (an umbrella chart's jupyterhub, or 2i2c's basehub.jupyterhub), in key order.
func ValuesToken(vals map[string]any, service string) (string, bool) {
	return valuesToken(vals, service, 2)
}

func valuesToken(vals map[string]any, service string, depth int) (string, bool) {
	if hub, ok := vals["hub"].(map[string]any); ok {
		if services, ok := hub["services"].(map[string]any); ok {
			if svc, ok := services[service].(map[string]any); ok {
				if token, ok := svc["apiToken"].(string); ok && token != "" {
					return token, true
				}
			}
		}
	}
	if depth == 0 {
		return "", false
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if sub, ok := vals[k].(map[string]any); ok {
			if token, ok := valuesToken(sub, service, depth-1); ok {
				return token, true
			}
		}
	}
	return "", false
}

// object is what locating the hub reads of a manifest's object.
type object struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Rules []struct {
			Host string `yaml:"host"`
			HTTP struct {
				Paths []struct {
					Path    string `yaml:"path"`
					Backend struct {
						Service struct {
							Name string `yaml:"name"`
						} `yaml:"service"`
					} `yaml:"backend"`
				} `yaml:"paths"`
			} `yaml:"http"`
		} `yaml:"rules"`
		TLS []struct {
			Hosts []string `yaml:"hosts"`
		} `yaml:"tls"`
	} `yaml:"spec"`
	Data       map[string]any `yaml:"data"`
	StringData map[string]any `yaml:"stringData"`
}

func (o *object) scheme(host string) string {
	for _, t := range o.Spec.TLS {
		if slices.Contains(t.Hosts, host) {
			return "https"
		}
	}
	return "http"
}

// documents decodes the objects of a manifest. Helm rendered it, so it is YAML; a
// document that is not (the decoder cannot go past it) ends the list.
func documents(manifest string) []object {
	var objs []object
	dec := yaml.NewDecoder(strings.NewReader(manifest))
	for {
		var o object
		if err := dec.Decode(&o); err != nil {
			return objs
		}
		objs = append(objs, o)
	}
}

// basePath is an Ingress path as the hub's base URL: "/" or "/prefix/", without the
// wildcard some controllers need ("/*").
func basePath(p string) string {
	p = strings.TrimSuffix(p, "*")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}
