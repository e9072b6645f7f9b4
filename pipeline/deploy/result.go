package deploy

import (
	"encoding/json"
	"time"

	"github.com/hubploy/hubploy/pipeline/hubcheck"
)

// Outcome is what a deploy did to its release.
type Outcome string

// Outcomes of a deploy.
const (
	Deployed  Outcome = "deployed"
	Unchanged Outcome = "unchanged"
	DryRun    Outcome = "dry-run"
	Failed    Outcome = "failed"
	// CheckFailed: deployed, but the health check after it failed.
	CheckFailed Outcome = "check-failed"
	// RolledBack: the health check after the deploy failed, and the release was rolled
	// back to the revision live before it.
	RolledBack Outcome = "rolled-back"
	// NotAttempted: not deployed, because a canary hub failed first.
	NotAttempted Outcome = "not-attempted"
)

// Result is what one deploy did. Its JSON is resultJSON.
type Result struct {
	Hub       string
	Env       string
	Release   string
	Namespace string
	Outcome   Outcome
	Revision  int // 0: none
	Duration  time.Duration
	Error     string // one line, masked; empty unless Failed
	// Manifest is the masked manifest of a dry run.
	Manifest string
	// Previous is the revision that was live before this deploy made Revision (0: none,
	// or the release was left unchanged): what a failed check rolls back to.
	Previous int
	// Check is the report of the health check after the deploy, when one ran.
	Check *hubcheck.Report
}

// FailedResult is the result of a hub that failed before its deploy ran (its release
// could not be prepared, or the run was cancelled while it waited), so that every hub
// has its row in the summary.
func FailedResult(hub, env, release, namespace string, err error) *Result {
	return &Result{Hub: hub, Env: env, Release: release, Namespace: namespace, Outcome: Failed, Error: err.Error()}
}

// OK reports whether the deploy succeeded (and its check, if one ran).
func (r Result) OK() bool {
	return r.Outcome == Deployed || r.Outcome == Unchanged || r.Outcome == DryRun
}

// resultJSON is Result's JSON shape, kept stable for scripts: "ok" spares them knowing
// the outcomes, the duration is in seconds, and "revision" is always there.
type resultJSON struct {
	Hub       string           `json:"hub"`
	Env       string           `json:"env"`
	Release   string           `json:"release"`
	Namespace string           `json:"namespace"`
	OK        bool             `json:"ok"`
	Outcome   Outcome          `json:"outcome"`
	Revision  int              `json:"revision"`
	Previous  int              `json:"previous_revision,omitempty"`
	Seconds   float64          `json:"duration_seconds"`
	Error     string           `json:"error,omitempty"`
	Manifest  string           `json:"manifest,omitempty"`
	Check     *hubcheck.Report `json:"check,omitempty"`
}

// MarshalJSON writes the stable shape; a value receiver, so that a Result that is not
// addressable has it too.
func (r Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultJSON{Hub: r.Hub, Env: r.Env, Release: r.Release, Namespace: r.Namespace, OK: r.OK(), Outcome: r.Outcome,
		Revision: r.Revision, Previous: r.Previous, Seconds: r.Duration.Seconds(), Error: r.Error, Manifest: r.Manifest, Check: r.Check})
}

// UnmarshalJSON reads what MarshalJSON wrote, so that a caller of hubploy's JSON output
// can decode it into Results.
func (r *Result) UnmarshalJSON(data []byte) error {
	var j resultJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*r = Result{Hub: j.Hub, Env: j.Env, Release: j.Release, Namespace: j.Namespace, Outcome: j.Outcome,
		Revision: j.Revision, Previous: j.Previous, Duration: time.Duration(j.Seconds * float64(time.Second)), Error: j.Error, Manifest: j.Manifest, Check: j.Check}
	return nil
}
