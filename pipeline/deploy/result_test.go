package deploy

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
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
			if back != *tc.res {
				t.Errorf("round trip: got %+v, want %+v", back, *tc.res)
			}
		})
	}
}
