package action

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hubploy/hubploy/pipeline/images"
)

// doctorTimeout bounds the question to the API server (the cloud's lookup of the
// cluster has its own bound).
const doctorTimeout = time.Minute

// Doctor says, for one hub and environment, which credentials hubploy finds, which
// cluster they reach and as whom, and which registries they can read, without
// deploying anything or showing a secret.
type Doctor struct {
	*Config
	Hub, Env string
	Cluster  ClusterOptions
	Registry Registry
}

// DoctorResult is one line per finding; OK when every line is.
type DoctorResult struct {
	Hub   string       `json:"hub"`
	Env   string       `json:"env"`
	OK    bool         `json:"ok"`
	Lines []DoctorLine `json:"lines"`
}

// DoctorLine is one finding: Check names it (cluster credentials, cluster, registry
// credentials, registry), Detail says what was found, Error why it failed.
type DoctorLine struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Run looks. Only a hub or environment that does not exist is an error: whatever
// fails beyond that is a line of the result.
func (d *Doctor) Run(ctx context.Context) (*DoctorResult, error) {
	h, err := d.hub(d.Hub)
	if err != nil {
		return nil, err
	}
	if err := h.CheckEnv(d.Env); err != nil {
		return nil, err
	}
	res := &DoctorResult{Hub: d.Hub, Env: d.Env}
	add := func(check, detail string, err error) {
		line := DoctorLine{Check: check, OK: err == nil, Detail: detail}
		if err != nil {
			line.Error = err.Error()
		}
		res.Lines = append(res.Lines, line)
	}

	_, namespace, err := h.ReleaseAndNamespace(d.Env, d.Cluster.Namespace)
	if err == nil {
		access, aerr := d.access(h, namespace, d.Cluster, nil)
		if err = aerr; err == nil {
			add("cluster credentials", access.Source, nil)
			wctx, cancel := context.WithTimeout(ctx, doctorTimeout)
			user, groups, werr := access.WhoAmI(wctx)
			cancel()
			if werr != nil {
				add("cluster", access.Server, werr)
			} else {
				add("cluster", fmt.Sprintf("%s as %s%s", access.Server, user, groupList(groups)), nil)
			}
		}
	}
	if err != nil {
		add("cluster credentials", "", err)
	}

	add("registry credentials", images.CredentialSource(h), nil)
	imgs, err := images.Resolve(h, d.Env)
	if err != nil {
		add("registry", "", err)
	}
	for _, host := range registries(imgs) {
		var onHost []images.Image
		for _, img := range imgs {
			if img.Registry() == host {
				onHost = append(onHost, img)
			}
		}
		detail, rerr := readable(host, d.check(ctx, h, onHost, d.Registry))
		add("registry", detail, rerr)
	}
	if err == nil && len(imgs) == 0 {
		add("registry", "no images in hubploy.yaml to read", nil)
	}

	res.OK = !slices.ContainsFunc(res.Lines, func(l DoctorLine) bool { return !l.OK })
	return res, nil
}

// registries are the hosts of imgs, each once, in order.
func registries(imgs []images.Image) []string {
	var hosts []string
	for _, img := range imgs {
		if !slices.Contains(hosts, img.Registry()) {
			hosts = append(hosts, img.Registry())
		}
	}
	return hosts
}

// readable says what the registry at host answered for its images: the first error,
// or which of their tags it has.
func readable(host string, st []images.Status) (string, error) {
	var missing []string
	for _, s := range st {
		if s.Err != nil {
			return host, s.Err
		}
		if !s.Exists {
			missing = append(missing, s.Ref())
		}
	}
	detail := fmt.Sprintf("%s: can read; %d of %d image tags present", host, len(st)-len(missing), len(st))
	if len(missing) > 0 {
		detail += " (missing " + strings.Join(missing, ", ") + ")"
	}
	return detail, nil
}

func groupList(groups []string) string {
	if len(groups) == 0 {
		return ""
	}
	return " (groups " + strings.Join(groups, ", ") + ")"
}

// WriteDoctor writes the findings as the CLI shows them: a line each, then one for the
// hub.
func WriteDoctor(w io.Writer, res *DoctorResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, l := range res.Lines {
		result, text := "ok", l.Detail
		if !l.OK {
			result, text = "failed", strings.TrimPrefix(l.Detail+": "+l.Error, ": ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Check, result, text)
	}
	summary := "everything hubploy needs is reachable"
	if !res.OK {
		summary = "some of what hubploy needs is not reachable (see the failed lines)"
	}
	fmt.Fprintf(tw, "%s/%s: %s\n", res.Hub, res.Env, summary)
	return tw.Flush()
}
