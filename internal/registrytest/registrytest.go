// Package registrytest serves a real container registry (go-containerregistry's, in
// memory) on a loopback port for tests, optionally behind basic auth, and pushes small
// random images to it.
package registrytest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is a running registry.
type Registry struct {
	Host string // 127.0.0.1:port, which go-containerregistry speaks plain HTTP to
	auth authn.Authenticator
}

// Serve starts a registry until the test ends. With a user, every request must carry
// that user and password with basic auth, as a private registry would ask.
func Serve(t testing.TB, user, password string) *Registry {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r := &Registry{auth: authn.Anonymous}
	if user != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if u, p, ok := req.BasicAuth(); !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			inner.ServeHTTP(w, req)
		})
		r.auth = &authn.Basic{Username: user, Password: password}
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// Push writes a small random image as ref (host/repository:tag).
func (r *Registry) Push(t testing.TB, ref string) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithAuth(r.auth)); err != nil {
		t.Fatal(err)
	}
}

// Unreachable returns a loopback host:port where nothing listens.
func Unreachable(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	return host
}
