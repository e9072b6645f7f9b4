// Command kubecluster runs the control plane of the tests (package
// internal/testenv/kubeenv) for manual work, until Ctrl-C or SIGTERM. Its
// standard output is one line, the export line of a kubeconfig for it,
// printed once the cluster is ready: scripts/example waits for it.
// testenv/kube/cluster.sh builds the binaries and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hubploy/hubploy/internal/testenv/kubeenv"
)

// sans collects the repeated -san flag.
type sans []string

func (s *sans) String() string     { return strings.Join(*s, ",") }
func (s *sans) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var extra sans
	kubeconfig := flag.String("kubeconfig", "", "write the kubeconfig to this new file (default: kubeconfig in the cluster's folder); removed on exit")
	flag.Var(&extra, "san", "extra host name or IP for the API server's certificate (repeatable)")
	flag.Parse()
	if err := run(*kubeconfig, extra); err != nil {
		fmt.Fprintln(os.Stderr, "kubecluster:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string, extra []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	c, err := kubeenv.Start(ctx, kubeenv.Options{ExtraSANs: extra})
	if err != nil {
		return err
	}
	defer c.Stop()

	if kubeconfig == "" {
		kubeconfig = filepath.Join(c.Dir(), "kubeconfig")
	}
	// The export line must work from any folder.
	if kubeconfig, err = filepath.Abs(kubeconfig); err != nil {
		return err
	}
	// O_EXCL: never overwrite a kubeconfig of the developer's, since the
	// file is removed on exit.
	f, err := os.OpenFile(kubeconfig, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(kubeconfig)
	if _, err := f.Write(c.Kubeconfig()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "cluster ready at %s in %s; component logs in %s; Ctrl-C stops it\n",
		c.URL(), time.Since(began).Round(time.Millisecond), c.Dir())
	fmt.Printf("export KUBECONFIG=%s\n", kubeconfig)
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping")
	return nil
}
