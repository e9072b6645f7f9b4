package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/pipeline/deploy"
)

// Hubs deployed together on one API server, as the same user, fetch its OpenAPI schemas
// (which helm's validation of each manifest reads) once for the run, not once per hub
// and manifest. A no-op redeploy reads no schema, and only reads: no lease, no write.
func TestHubsShareTheServerSchemas(t *testing.T) {
	f := newFixture(t)
	var rec record
	jobs := func(set ...string) []deploy.Job {
		var out []deploy.Job
		for _, hub := range []string{"datahub", "stat20"} {
			for i := range 2 {
				ns := fmt.Sprintf("%s-%s%d", f.namespace, hub, i)
				a := f.accessIn(ns, hub)
				a.Getter = recordingGetter{a.Getter, &rec}
				out = append(out, deploy.Job{Release: f.prepareIn(ns, hub, "staging", set...), Access: a})
			}
		}
		return out
	}
	var writes []string
	schemaReads := func() map[string]int {
		reads := map[string]int{}
		writes = nil
		for _, e := range rec.take() {
			switch {
			case e.line != "":
			case e.method != http.MethodGet:
				writes = append(writes, e.method+" "+e.url.Path)
			case strings.HasPrefix(e.url.Path, "/openapi/v3/"):
				reads[e.url.Path]++
			}
		}
		return reads
	}
	run := func(want deploy.Outcome, set ...string) {
		t.Helper()
		for _, r := range (&deploy.Many{}).Run(t.Context(), jobs(set...)) {
			if r.Outcome != want {
				t.Fatalf("%s: %s, want %s: %s", r.Release, r.Outcome, want, r.Error)
			}
		}
	}

	run(deploy.Deployed)
	reads := schemaReads()
	if len(reads) == 0 {
		t.Fatal("no schema was read: does helm still validate manifests against the server's schemas?")
	}
	for path, n := range reads {
		if n > 1 {
			t.Errorf("%s was read %d times by 4 hubs", path, n)
		}
	}
	run(deploy.Unchanged)
	if reads := schemaReads(); len(reads) > 0 {
		t.Errorf("a no-op redeploy read schemas: %v", reads)
	}
	if len(writes) > 0 {
		t.Errorf("a no-op redeploy wrote: %v", writes)
	}
}
