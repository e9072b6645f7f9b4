package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// A login is kept until early before it ends, then asked anew; a failed one is not kept.
func TestRenewing(t *testing.T) {
	logins, expiry, fail := 0, time.Now().Add(time.Hour), false
	r := &renewing{early: 10 * time.Minute, login: func(context.Context) (*authn.AuthConfig, time.Time, error) {
		if fail {
			return nil, time.Time{}, errors.New("refused")
		}
		logins++
		return &authn.AuthConfig{Username: "u", Password: "p"}, expiry, nil
	}}
	for range 3 {
		if auth, err := r.Authorization(); err != nil || auth.Password != "p" {
			t.Fatalf("%+v, %v", auth, err)
		}
	}
	if logins != 1 {
		t.Fatalf("%d logins for a password an hour from its end, want 1", logins)
	}
	expiry = time.Now().Add(5 * time.Minute) // the next one ends within the early margin
	r.expiry = expiry
	r.Authorization()
	r.Authorization()
	if logins != 3 {
		t.Errorf("%d logins, want one per call once within 10 minutes of the end", logins)
	}
	fail = true
	if _, err := r.Authorization(); err == nil {
		t.Error("a refused login gave a password")
	}
	fail, expiry = false, time.Now().Add(time.Hour)
	if _, err := r.Authorization(); err != nil || logins != 4 {
		t.Errorf("after a refusal: %v, %d logins", err, logins)
	}
}
