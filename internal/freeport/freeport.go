// Package freeport finds free loopback ports for the processes tests start (a control
// plane, a JupyterHub), which take their ports on the command line.
package freeport

import "net"

// Loopback returns n distinct free ports on 127.0.0.1. They are free when returned; a
// process of someone else could take one before the caller's process binds it, which
// then fails to start, with its log.
func Loopback(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		// Held open until all are taken, so that the n are distinct.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
