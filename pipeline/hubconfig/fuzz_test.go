package hubconfig_test

import (
	"strings"
	"testing"

	"github.com/hubploy/hubploy/pipeline/hubconfig"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// FuzzParse: whatever a hubploy.yaml holds, Parse returns a config whose accessors work,
// or an input error of one line that names the file; it never panics. The seeds are the
// forms real repositories use and near misses of them.
func FuzzParse(f *testing.F) {
	const file = "deployments/hub/hubploy.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := hubconfig.Parse(file, data)
		if err != nil {
			msg := err.Error()
			if !inputerr.Is(err) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, file) {
				t.Fatalf("want an input error of one line naming %s, got %T: %q", file, err, msg)
			}
			return
		}
		// What the rest of hubploy asks of a parsed config.
		c.ImageList()
		c.ReleaseAndNamespace("hub", "env")
		if c.Cluster != nil && c.Cluster.Kubeconfig != nil {
			c.Cluster.Kubeconfig.KubeContext("hub-env")
		}
	})
}
