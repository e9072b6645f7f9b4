package hubcheck_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hubploy/hubploy/pipeline/hubcheck"
)

// A hub (or a proxy in front of it) that echoes the request's headers in its
// error bodies must not bring the token into the error, report or progress.
func TestTokenNeverReported(t *testing.T) {
	const token = "canary-token-5d1e0b77"
	for _, status := range []int{http.StatusForbidden, http.StatusInternalServerError} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(status)
				fmt.Fprintf(w, `{"status": %d, "message": "headers: %v"}`, status, r.Header)
			}))
			defer echo.Close()
			report, err, progress := run(t, &hubcheck.Check{URL: echo.URL, Token: token, Attempts: 2, Backoff: 1})
			if err == nil {
				t.Fatal("the check passed against a hub that answers only errors")
			}
			noToken(t, token, report, err, progress)
		})
	}
}
