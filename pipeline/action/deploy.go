package action

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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

// Run deploys every target. A hub that cannot be prepared (its values, chart or
// cluster access) fails alone: the others deploy, and it gets its row. Only with a
// single hub is such a failure returned as the error, so that bad input reads as one
// line. An error is also returned for targets that name nothing.
func (d *Deploy) Run(ctx context.Context) (*DeployReport, error) {
	jobs, prepared, err := d.jobs(ctx)
	if err != nil {
		return nil, err
	}
	if len(prepared) == 1 && prepared[0].err != nil {
		return nil, prepared[0].err
	}
	many := &deploy.Many{Options: d.Upgrade, PerCluster: d.PerCluster, Progress: d.Progress}
	ran := many.Run(ctx, jobs)
	rep := &DeployReport{}
	for _, p := range prepared {
		res := p.failed
		if p.err == nil {
			res, ran = ran[0], ran[1:]
		}
		if !res.OK() {
			rep.Failed++
		}
		rep.Results = append(rep.Results, res)
	}
	rep.OK = rep.Failed == 0
	return rep, nil
}

// preparation is one target hub: its job, or the result of its failure.
type preparation struct {
	err    error
	failed *deploy.Result
}

func (d *Deploy) jobs(ctx context.Context) ([]deploy.Job, []preparation, error) {
	names, err := d.hubs(d.Targets)
	if err != nil {
		return nil, nil, err
	}
	if d.Cluster.Namespace != "" && len(names) > 1 {
		return nil, nil, &inputerr.Error{Key: "namespace", Msg: "applies to one hub only", Hint: "deploy the hubs one by one, or drop the namespace"}
	}
	var jobs []deploy.Job
	var prepared []preparation
	for _, name := range names {
		job, err := d.job(ctx, name)
		if err != nil {
			release, namespace := name+"-"+d.Env, ""
			if h, herr := d.hub(name); herr == nil {
				release, namespace = h.Config.ReleaseAndNamespace(name, d.Env)
			}
			prepared = append(prepared, preparation{err: err, failed: deploy.FailedResult(name, d.Env, release, namespace, err)})
			continue
		}
		jobs = append(jobs, job)
		prepared = append(prepared, preparation{})
	}
	return jobs, prepared, nil
}

func (d *Deploy) job(ctx context.Context, hub string) (deploy.Job, error) {
	rel, err := d.prepare(ctx, hub, d.Env, d.Cluster.Namespace)
	if err != nil {
		return deploy.Job{}, err
	}
	if err := rel.CheckChartVersion(d.ChartVersion); err != nil {
		return deploy.Job{}, err
	}
	// Values the chart refuses (its schema, a required value) are bad input: say so, with
	// the chart, before reaching the cluster, where helm would fail on them all the same.
	if _, err := rel.Render(ctx); err != nil {
		return deploy.Job{}, err
	}
	access, err := d.access(rel.Hub, rel.Namespace, d.Cluster, rel.Masker)
	if err != nil {
		return deploy.Job{}, err
	}
	if !d.SkipImageCheck {
		if err := d.checkImages(ctx, rel); err != nil {
			return deploy.Job{}, err
		}
	}
	return deploy.Job{Release: rel, Access: access}, nil
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
// else the hub's context template.
func (d *Deploy) commandTarget(rel *release.Release) (deploy.CommandTarget, error) {
	t := deploy.CommandTarget{KubeContext: d.Cluster.Context}
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
