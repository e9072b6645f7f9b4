package registry

import (
	"context"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// renewing is the authn.Authenticator of a login whose password ends: login gives the
// user, the password and when it ends; what it gave is kept until early before that,
// then asked anew.
type renewing struct {
	early time.Duration
	login func(ctx context.Context) (*authn.AuthConfig, time.Time, error)

	mu     sync.Mutex
	auth   *authn.AuthConfig
	expiry time.Time
}

// Authorization is AuthorizationContext without a deadline of the caller's.
func (r *renewing) Authorization() (*authn.AuthConfig, error) {
	return r.AuthorizationContext(context.Background())
}

// AuthorizationContext gives the registry's user and password.
func (r *renewing) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.auth == nil || time.Until(r.expiry) < r.early {
		auth, expiry, err := r.login(ctx)
		if err != nil {
			return nil, err
		}
		r.auth, r.expiry = auth, expiry
	}
	auth := *r.auth
	return &auth, nil
}
