package hubtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The hub answers its API for the service's token, and the front answers 503
// the first times only.
func TestStart(t *testing.T) {
	hub := Start(t, Options{Unavailable: 1})
	get := func() (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, hub.URL()+"hub/api/user", nil)
		req.Header.Set("Authorization", "token "+hub.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Errorf("first request: got %d, want 503", code)
	}
	if code, body := get(); code != http.StatusOK || !strings.Contains(body, ServiceName) {
		t.Errorf("second request: got %d %s, want 200 naming service %s", code, body, ServiceName)
	}
}
