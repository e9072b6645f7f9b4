package deploy

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hubploy/hubploy/pipeline/hubcheck"
)

func TestResultJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  *Result
		want string
	}{
		{"deployed", &Result{Hub: "datahub", Env: "prod", Release: "datahub-prod", Namespace: "datahub-prod", Outcome: Deployed, Revision: 3, Duration: 1500 * time.Millisecond},
			`{"hub":"datahub","env":"prod","release":"datahub-prod","namespace":"datahub-prod","ok":true,"outcome":"deployed","revision":3,"duration_seconds":1.5}`},
		{"dry run", &Result{Hub: "datahub", Env: "prod", Release: "datahub-prod", Namespace: "datahub-prod", Outcome: DryRun, Revision: 4, Manifest: "kind: ConfigMap\n"},
			`{"hub":"datahub","env":"prod","release":"datahub-prod","namespace":"datahub-prod","ok":true,"outcome":"dry-run","revision":4,"duration_seconds":0,"manifest":"kind: ConfigMap\n"}`},
		{"never ran", FailedResult("stat20", "prod", "stat20-prod", "stat20-prod", errors.New("stat20: no environment prod")),
			`{"hub":"stat20","env":"prod","release":"stat20-prod","namespace":"stat20-prod","ok":false,"outcome":"failed","revision":0,"duration_seconds":0,"error":"stat20: no environment prod"}`},
		{"rolled back after a failed check", &Result{Hub: "datahub", Env: "prod", Release: "datahub-prod", Namespace: "datahub-prod", Outcome: RolledBack, Revision: 5, Previous: 3,
			Error: "check failed", Check: &hubcheck.Report{Attempts: 1, Steps: []hubcheck.Step{{Attempt: 1, Name: hubcheck.StepHealth, Seconds: 0.5, Error: "down"}}}},
			`{"hub":"datahub","env":"prod","release":"datahub-prod","namespace":"datahub-prod","ok":false,"outcome":"rolled-back","revision":5,"previous_revision":3,"duration_seconds":0,"error":"check failed",` +
				`"check":{"ok":false,"attempts":1,"steps":[{"attempt":1,"name":"health","ok":false,"duration_seconds":0.5,"error":"down"}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.res)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tc.want {
				t.Errorf("got  %s\nwant %s", data, tc.want)
			}
			var back Result
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(*tc.res, back); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
		})
	}
}
