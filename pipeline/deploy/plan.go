package deploy

import (
	"fmt"

	helmrelease "helm.sh/helm/v3/pkg/release"
)

// firstStep is what a deploy does with the release's history before it upgrades.
type firstStep int

const (
	// freshInstall: the release has no history.
	freshInstall firstStep = iota
	// upgradeLive: the last revision is deployed, so it is what the cluster holds.
	upgradeLive
	// dryRunFromGood: a dry run after a failed or pending revision renders against the
	// last good revision (none: a dry-run install) and recovers nothing.
	dryRunFromGood
	// rollBackFirst: the last revision failed, or was left pending by a dead run, and
	// there is a good one to roll back to.
	rollBackFirst
	// reinstall: no revision ever deployed: the record goes, the release installs afresh.
	reinstall
)

// plan is the decision over a release's history; carrying it out is startFrom's job.
type plan struct {
	step firstStep
	// last is the newest revision, good the newest deployed or superseded one; either
	// may be nil.
	last, good *helmrelease.Release
	// markFailed: the last revision is pending, and its record blocks helm's rollback
	// until it is marked failed, as helm would have done had its run not died.
	markFailed bool
}

// planFor decides where a deploy starts from hist (any order). A release whose last
// revision is pending was left so by a run that died, since the caller holds the deploy
// lock: without recover that stops the deploy with what to do. A release whose last
// revision failed is rolled back to its last good revision first: helm's three-way merge
// would otherwise keep what the failed revision changed in objects whose template the
// new revision shares with the good one.
func planFor(hist []*helmrelease.Release, recover, dryRun bool) (plan, error) {
	var p plan
	for _, r := range hist {
		if p.last == nil || r.Version > p.last.Version {
			p.last = r
		}
		if (r.Info.Status == helmrelease.StatusDeployed || r.Info.Status == helmrelease.StatusSuperseded) && (p.good == nil || r.Version > p.good.Version) {
			p.good = r
		}
	}
	pending := p.last != nil && p.last.Info.Status.IsPending()
	switch {
	case p.last == nil:
		p.step = freshInstall
	case p.last == p.good:
		p.step = upgradeLive
	case pending && !recover:
		goodRev := "none"
		if p.good != nil {
			goodRev = fmt.Sprint(p.good.Version)
		}
		return plan{}, fmt.Errorf("release %s is stuck in %s at revision %d: a previous deploy was stopped before it finished. Run again with --recover to roll back to the last good revision (%s) and deploy",
			p.last.Name, p.last.Info.Status, p.last.Version, goodRev)
	case dryRun:
		p.step = dryRunFromGood // a dry run changes nothing, not even to recover
	case p.good == nil:
		p.step = reinstall
	default:
		p.step, p.markFailed = rollBackFirst, pending
	}
	return p, nil
}
