package kubeenv

import (
	"context"
	"errors"
	"syscall"
)

// Faults for tests of how clients live through a control plane in trouble. Each acts on
// the whole cluster: a test that uses one must not share the cluster with other tests
// meanwhile.

// KillAPIServer kills the API server with SIGKILL, as an OOM kill or a lost machine
// would, and returns once it is gone. Until RestartAPIServer, its exit is no failure of
// the cluster.
func (c *Cluster) KillAPIServer() error {
	return c.apiServer.killOnPurpose()
}

// RestartAPIServer runs the API server again as it first ran (same flags, port,
// certificates and etcd), and returns once it is ready.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	if c.apiServer.running() {
		return errors.New("kubeenv: restarting the API server: it is running")
	}
	if err := c.apiServer.start(); err != nil {
		return err
	}
	return c.waitForAPIServer(ctx)
}

// PauseEtcd stops etcd with SIGSTOP: it keeps its connections but answers nothing, as a
// stalled disk or an overloaded machine would look. Stop ends a paused etcd too.
func (c *Cluster) PauseEtcd() error {
	return c.etcd.signal(syscall.SIGSTOP)
}

// ResumeEtcd lets a paused etcd go on (SIGCONT) and returns once the API server is
// ready again: after a long pause it has to reconnect to etcd first.
func (c *Cluster) ResumeEtcd(ctx context.Context) error {
	if err := c.etcd.signal(syscall.SIGCONT); err != nil {
		return err
	}
	return c.waitForAPIServer(ctx)
}
