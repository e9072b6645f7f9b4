package action

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/deploy"
	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// Deploy upgrades (or installs) the releases of one hub or many in one environment,
// in parallel, at most PerCluster at once on one API server.
type Deploy struct {
	*Config
	Targets
	Cluster ClusterOptions
	// Upgrade holds helm's and hubploy's upgrade options (timeout, atomic, force, dry
	// run, recover); its Access and Progress are set per hub.
	Upgrade deploy.Upgrade
	// ChartVersion, if set, refuses an umbrella chart of another version.
	ChartVersion string
	PerCluster   int // zero: deploy.DefaultPerCluster
	// SkipImageCheck deploys without first asking the registries whether they have
	// every image tag the release sets (for registries hubploy cannot reach).
	SkipImageCheck bool
	// Registry is how the image check reaches the registries.
	Registry Registry
	// Check runs the health check on each hub once it is deployed (or left unchanged);
	// CheckOptions say how. A dry run is not checked.
	Check        bool
	CheckOptions CheckOptions
	// RollbackOnFailure rolls a hub whose check failed after an upgrade back to the
	// revision that was live before it.
	RollbackOnFailure bool
	// Canaries are hubs to deploy and check before the others, which are not attempted
	// if a canary fails; hubs whose hubploy.yaml sets deploy.canary are canaries too.
	// Canaries order a deploy of several hubs only.
	Canaries []string
	// Progress receives each hub's progress lines.
	Progress func(job deploy.Job, format string, args ...any)
}

// DeployReport is one result per hub, in the order the hubs were named.
type DeployReport struct {
	OK      bool             `json:"ok"` // every hub deployed, or was left unchanged
	Failed  int              `json:"failed"`
	Results []*deploy.Result `json:"results"`
}

// Err is nil when every hub deployed, else one line naming each failure.
func (r *DeployReport) Err() error {
	if r.OK {
		return nil
	}
	var failures []string
	for _, res := range r.Results {
		if !res.OK() {
			failures = append(failures, res.Error)
		}
	}
	return fmt.Errorf("%d of %d deploy(s) failed: %s", r.Failed, len(r.Results), strings.Join(failures, "; "))
}

// Run deploys every target. A hub that cannot be prepared (its values, chart, cluster
// access or check target) fails alone: the others deploy, and it gets its row. Only
// with a single hub is such a failure returned as the error, so that bad input reads as
// one line. An error is also returned for targets that name nothing.
//
// Canaries deploy first and are checked; if one fails, the others are not attempted.
// Then the rest deploy, checked if Check is set.
func (d *Deploy) Run(ctx context.Context) (*DeployReport, error) {
	if d.RollbackOnFailure && !d.Check && len(d.Canaries) == 0 {
		return nil, &inputerr.Error{Key: "rollback-on-failure", Msg: "rolls back after a failed health check, but no check is asked for", Hint: "add --check"}
	}
	hubs, err := d.preparations(ctx)
	if err != nil {
		return nil, err
	}
	if len(hubs) == 1 && hubs[0].err != nil {
		return nil, hubs[0].err
	}
	canaries, rest := d.stages(hubs)
	d.deployStage(ctx, canaries, true)
	if failed := failedHubs(canaries); len(failed) > 0 {
		for _, h := range rest {
			h.result = &deploy.Result{Hub: h.hub, Env: d.Env, Release: h.release, Namespace: h.namespace, Outcome: deploy.NotAttempted,
				Error: fmt.Sprintf("%s: not attempted: canary %s failed", h.release, strings.Join(failed, ", "))}
		}
	} else {
		d.deployStage(ctx, rest, d.Check)
	}
	rep := &DeployReport{}
	for _, h := range hubs {
		if !h.result.OK() {
			rep.Failed++
		}
		rep.Results = append(rep.Results, h.result)
	}
	rep.OK = rep.Failed == 0
	return rep, nil
}

// target is one hub of a deploy: its job (or the error that stopped its preparation),
// where its check goes, and its result.
type target struct {
	hub, release, namespace string
	canary                  bool
	job                     deploy.Job
	check                   *checkTarget // nil: not prepared, or no check asked
	err                     error
	result                  *deploy.Result
}

// preparations prepares every target hub, in order.
func (d *Deploy) preparations(ctx context.Context) ([]*target, error) {
	names, err := d.hubs(d.Targets)
	if err != nil {
		return nil, err
	}
	if d.Cluster.Namespace != "" && len(names) > 1 {
		return nil, &inputerr.Error{Key: "namespace", Msg: "applies to one hub only", Hint: "deploy the hubs one by one, or drop the namespace"}
	}
	for _, c := range d.Canaries {
		if !slices.Contains(names, c) {
			return nil, &inputerr.Error{Key: "canary", Msg: fmt.Sprintf("hub %q is not among the hubs deployed (%s)", c, strings.Join(names, ", ")), Hint: "name a hub that is deployed"}
		}
	}
	var hubs []*target
	for _, name := range names {
		t := &target{hub: name, release: name + "-" + d.Env, canary: slices.Contains(d.Canaries, name)}
		if h, err := d.hub(name); err == nil {
			t.release, t.namespace = h.Config.ReleaseAndNamespace(name, d.Env)
			t.canary = t.canary || h.Config.IsCanary()
		}
		// Canaries only order a deploy of several hubs.
		t.canary = t.canary && len(names) > 1
		if t.err = d.prepareTarget(ctx, t); t.err != nil {
			t.result = deploy.FailedResult(name, d.Env, t.release, t.namespace, t.err)
		}
		hubs = append(hubs, t)
	}
	return hubs, nil
}

// stages splits the prepared hubs into canaries and the rest; the hubs that could not
// be prepared keep their results and are in neither.
func (d *Deploy) stages(hubs []*target) (canaries, rest []*target) {
	for _, h := range hubs {
		switch {
		case h.canary: // one that could not be prepared stops the rest all the same
			canaries = append(canaries, h)
		case h.err == nil:
			rest = append(rest, h)
		}
	}
	return canaries, rest
}

// failedHubs names the hubs of a stage that failed.
func failedHubs(hubs []*target) []string {
	var names []string
	for _, h := range hubs {
		if !h.result.OK() {
			names = append(names, h.hub)
		}
	}
	return names
}

// deployStage deploys the prepared hubs in parallel, then checks them, if check is set,
// and rolls back those whose check failed, if asked.
func (d *Deploy) deployStage(ctx context.Context, hubs []*target, check bool) {
	var jobs []deploy.Job
	var ready []*target
	for _, h := range hubs {
		if h.err == nil {
			jobs, ready = append(jobs, h.job), append(ready, h)
		}
	}
	many := &deploy.Many{Options: d.Upgrade, PerCluster: d.PerCluster, Progress: d.Progress}
	for i, res := range many.Run(ctx, jobs) {
		ready[i].result = res
	}
	if !check || d.Upgrade.DryRun {
		return
	}
	var wg sync.WaitGroup
	for _, h := range ready {
		if h.result.OK() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.checkDeployed(ctx, h)
			}()
		}
	}
	wg.Wait()
}

// prepareTarget prepares t's release, cluster access and check target, refusing what
// would fail the deploy before it touches the cluster.
func (d *Deploy) prepareTarget(ctx context.Context, t *target) error {
	rel, err := d.prepare(ctx, t.hub, d.Env, d.Cluster.Namespace)
	if err != nil {
		return err
	}
	if err := rel.CheckChartVersion(d.ChartVersion); err != nil {
		return err
	}
	// Values the chart refuses (its schema, a required value) are bad input: say so, with
	// the chart, before reaching the cluster, where helm would fail on them all the same.
	if _, err := rel.Render(ctx); err != nil {
		return err
	}
	access, err := d.access(rel.Hub, rel.Namespace, d.Cluster, rel.Masker)
	if err != nil {
		return err
	}
	if !d.SkipImageCheck {
		if err := d.checkImages(ctx, rel); err != nil {
			return err
		}
	}
	if (d.Check || t.canary) && !d.Upgrade.DryRun {
		if t.check, err = d.checkTarget(ctx, rel, d.CheckOptions); err != nil {
			return err
		}
	}
	t.job = deploy.Job{Release: rel, Access: access}
	return nil
}

// checkDeployed runs the health check of a hub just deployed (or left unchanged). If it
// fails after an upgrade and RollbackOnFailure is set, the release is rolled back to
// the revision that was live before.
func (d *Deploy) checkDeployed(ctx context.Context, t *target) {
	rel, res := t.job.Release, t.result
	progress := func(format string, args ...any) {
		if d.Progress != nil {
			d.Progress(t.job, format, args...)
		}
	}
	access := func() (*cluster.Access, error) { return t.job.Access, nil }
	checked, err := d.runCheck(ctx, rel, t.check, access, d.CheckOptions, progress)
	if err != nil {
		res.Outcome, res.Error = deploy.CheckFailed, fmt.Sprintf("%s: cannot check: %s", rel.Name, err)
		return
	}
	res.Check = checked.Report
	if checked.OK() {
		return
	}
	unchanged := res.Outcome == deploy.Unchanged
	res.Outcome, res.Error = deploy.CheckFailed, fmt.Sprintf("%s: health check failed: %s", rel.Name, checked.Error)
	switch {
	case !d.RollbackOnFailure:
		return
	case unchanged:
		res.Error += "; not rolled back: this deploy changed nothing"
		return
	case res.Previous == 0:
		res.Error += "; not rolled back: no revision was live before this one"
		return
	}
	progress("check failed: rolling back to revision %d", res.Previous)
	rev, err := rollbackTo(ctx, t.job.Access, rel.Name, rel.Namespace, res.Previous, d.Upgrade.Timeout, progress)
	if err != nil {
		res.Error += fmt.Sprintf("; rolling back to revision %d failed: %s", res.Previous, err)
		return
	}
	res.Outcome, res.Revision = deploy.RolledBack, rev
	res.Error += fmt.Sprintf("; rolled back to revision %d (now revision %d)", res.Previous, rev)
}

// checkImages fails the deploy, before it touches the cluster, when a registry lacks an
// image tag the release sets: the pods would never start (ImagePullBackOff) and the
// wait would time out. A dry run only warns: in a pull request the images are built
// but not pushed yet.
func (d *Deploy) checkImages(ctx context.Context, rel *release.Release) error {
	for _, st := range d.check(ctx, rel.Hub, rel.Resolved, d.Registry) {
		err := st.Err
		if err != nil {
			err = fmt.Errorf("cannot check that the registry has image %s: %w (pass --skip-image-check to deploy without asking it)", st.Ref(), err)
		} else if !st.Exists {
			err = fmt.Errorf("image %s is not in the registry: %s, or pass --skip-image-check", st.Ref(), howToGet(rel, st.Image))
		}
		if err == nil {
			continue
		}
		if d.Upgrade.DryRun {
			d.log("%s/%s: warning: %v", rel.Hub.Name, rel.Env, err)
			continue
		}
		return err
	}
	return nil
}

// howToGet says how the missing image img gets into its registry.
func howToGet(rel *release.Release, img images.Image) string {
	switch {
	case img.Source == images.SourcePin:
		return fmt.Sprintf("image-pins.yaml pins it for %s; pin a tag the registry has (hubploy images promote %s --from ENV --to %s)", rel.Env, rel.Hub.Name, rel.Env)
	case img.Buildable():
		build := "hubploy build " + rel.Hub.Name + " --push"
		if len(rel.Resolved) > 1 {
			build += " --image " + img.Name
		}
		return "build and push it first (" + build + ")"
	}
	return fmt.Sprintf("%s names this tag; push the image, or name a tag the registry has", img.ConfigFile)
}

// Commands returns, for each target hub, the plain helm and sops commands that make
// the same deploy by hand, reaching the same cluster.
func (d *Deploy) Commands(ctx context.Context) (string, error) {
	names, err := d.hubs(d.Targets)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, name := range names {
		rel, err := d.prepare(ctx, name, d.Env, d.Cluster.Namespace)
		if err != nil {
			return "", err
		}
		if err := rel.CheckChartVersion(d.ChartVersion); err != nil {
			return "", err
		}
		target, err := d.commandTarget(rel)
		if err != nil {
			return "", err
		}
		b.WriteString(d.Upgrade.Commands(rel, target))
	}
	return b.String(), nil
}

// commandTarget is how the printed commands reach rel's cluster: the kubeconfig given,
// else the hub's, decrypted by sops into a pipe when encrypted; and the context given,
// else the hub's context template; for a cloud's cluster, the cloud CLI's login.
func (d *Deploy) commandTarget(rel *release.Release) (deploy.CommandTarget, error) {
	t := deploy.CommandTarget{KubeContext: d.Cluster.Context}
	if cl := rel.Hub.Config.Cluster; d.Cluster.KubeconfigFile == "" && d.Cluster.Kubeconfig == nil && cl != nil && cl.Provider != "kubeconfig" {
		a, err := d.clusterAccess(rel.Hub, rel.Namespace, d.Cluster)
		if err != nil {
			return t, err
		}
		t.Login = a.Login
		return t, nil
	}
	if t.KubeContext == "" {
		t.KubeContext = cluster.Context(rel.Hub, rel.Namespace)
	}
	file, full := d.Cluster.KubeconfigFile, ""
	if file != "" {
		var err error
		if full, err = d.path("--kubeconfig", file); err != nil {
			return t, err
		}
	} else if p, ok := cluster.KubeconfigFile(rel.Hub); ok {
		file, full = p, filepath.Join(rel.Hub.Repo.Root, p)
	}
	if file == "" {
		return t, nil
	}
	data, err := os.ReadFile(full)
	if err != nil {
		return t, &inputerr.Error{File: file, Msg: "cannot read the kubeconfig: " + err.Error(), Err: err}
	}
	t.Kubeconfig, t.KubeconfigEncrypted = file, secrets.IsEncrypted(data)
	return t, nil
}
