package cluster

import "time"

// SetEKSTokenLifetime shortens EKS tokens' lives for a test.
func SetEKSTokenLifetime(d time.Duration) (restore func()) {
	old := eksTokenLifetime
	eksTokenLifetime = d
	return func() { eksTokenLifetime = old }
}

// EKSEarlyRefresh is how long before its end an EKS token is made anew.
const EKSEarlyRefresh = eksEarlyRefresh
