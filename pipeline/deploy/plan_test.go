package deploy

import (
	"strings"
	"testing"

	helmrelease "helm.sh/helm/v3/pkg/release"
)

func revision(v int, st helmrelease.Status) *helmrelease.Release {
	return &helmrelease.Release{Name: "datahub-prod", Version: v, Info: &helmrelease.Info{Status: st}}
}

var stepNames = map[firstStep]string{freshInstall: "fresh install", upgradeLive: "upgrade live", dryRunFromGood: "dry run from good", rollBackFirst: "roll back first", reinstall: "reinstall"}

func TestPlanFor(t *testing.T) {
	const (
		deployed   = helmrelease.StatusDeployed
		superseded = helmrelease.StatusSuperseded
		failed     = helmrelease.StatusFailed
		pendingUp  = helmrelease.StatusPendingUpgrade
		pendingIn  = helmrelease.StatusPendingInstall
	)
	for _, tc := range []struct {
		name            string
		hist            []*helmrelease.Release
		recover, dryRun bool
		step            firstStep
		last, good      int // versions; 0: none
		markFailed      bool
		err             string // part of the error; "": none
	}{
		{name: "never installed", step: freshInstall},
		{name: "deployed, history in any order", hist: []*helmrelease.Release{revision(2, deployed), revision(1, superseded)}, step: upgradeLive, last: 2, good: 2},
		{name: "deployed, dry run", hist: []*helmrelease.Release{revision(1, deployed)}, dryRun: true, step: upgradeLive, last: 1, good: 1},
		{name: "failed after a good one", hist: []*helmrelease.Release{revision(1, superseded), revision(2, deployed), revision(3, failed)}, step: rollBackFirst, last: 3, good: 2},
		{name: "failed after a good one, dry run", hist: []*helmrelease.Release{revision(1, deployed), revision(2, failed)}, dryRun: true, step: dryRunFromGood, last: 2, good: 1},
		{name: "pending from a dead run, recover", hist: []*helmrelease.Release{revision(1, superseded), revision(2, deployed), revision(3, pendingUp)}, recover: true,
			step: rollBackFirst, last: 3, good: 2, markFailed: true},
		{name: "pending from a dead run", hist: []*helmrelease.Release{revision(1, superseded), revision(2, deployed), revision(3, pendingUp)},
			err: "release datahub-prod is stuck in pending-upgrade at revision 3: a previous deploy was stopped before it finished. Run again with --recover to roll back to the last good revision (2) and deploy"},
		{name: "pending from a dead run, dry run", hist: []*helmrelease.Release{revision(1, deployed), revision(2, pendingUp)}, dryRun: true,
			err: "stuck in pending-upgrade at revision 2"},
		{name: "pending from a dead run, recover, dry run", hist: []*helmrelease.Release{revision(1, deployed), revision(2, pendingUp)}, recover: true, dryRun: true,
			step: dryRunFromGood, last: 2, good: 1},
		{name: "first install pending", hist: []*helmrelease.Release{revision(1, pendingIn)}, err: "revision 1: a previous deploy was stopped before it finished. Run again with --recover to roll back to the last good revision (none)"},
		{name: "first install pending, recover", hist: []*helmrelease.Release{revision(1, pendingIn)}, recover: true, step: reinstall, last: 1},
		{name: "every revision failed", hist: []*helmrelease.Release{revision(1, failed), revision(2, failed)}, step: reinstall, last: 2},
		{name: "every revision failed, dry run", hist: []*helmrelease.Release{revision(1, failed)}, dryRun: true, step: dryRunFromGood, last: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planFor(tc.hist, tc.recover, tc.dryRun)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.step != tc.step || version(p.last) != tc.last || version(p.good) != tc.good || p.markFailed != tc.markFailed {
				t.Errorf("got %s (last %d, good %d, mark failed %v), want %s (last %d, good %d, mark failed %v)",
					stepNames[p.step], version(p.last), version(p.good), p.markFailed, stepNames[tc.step], tc.last, tc.good, tc.markFailed)
			}
		})
	}
}

func version(r *helmrelease.Release) int {
	if r == nil {
		return 0
	}
	return r.Version
}
