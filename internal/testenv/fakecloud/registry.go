package fakecloud

import "net/http"

// RegistryAt is a transport that sends the requests for a cloud registry's host (an
// ECR or ACR login server) to the test registry at addr, which go-containerregistry
// reaches over plain HTTP: the credentials are chosen for the cloud's host name, and
// the registry checks the password the fake cloud handed out.
func RegistryAt(host, addr string) http.RoundTripper { return redirect{host, addr} }

type redirect struct{ host, to string }

func (r redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == r.host {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host = "http", r.to
	}
	return http.DefaultTransport.RoundTrip(req)
}
