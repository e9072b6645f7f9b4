package deploy

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/hubploy/hubploy/pipeline/release"
)

// CommandTarget is how the commands of Commands reach the cluster.
type CommandTarget struct {
	// Kubeconfig is the kubeconfig file, relative to the repository root or as the user
	// gave it; empty: helm's own (KUBECONFIG, ~/.kube/config).
	Kubeconfig string
	// KubeconfigEncrypted says that Kubeconfig is sops-encrypted: the commands decrypt
	// it into a pipe.
	KubeconfigEncrypted bool
	// KubeContext is the kubeconfig's context to use; empty: its current one.
	KubeContext string
	// Login are shell lines that come first: a cloud CLI's login to the cluster, into
	// the kubeconfig helm then uses (cluster.Access.Login).
	Login []string
}

// Commands returns the plain helm and sops commands that deploy rel by hand, so a hub
// can be deployed without hubploy. Secrets are referenced by file and decrypted by sops
// into a pipe, never inlined and never written to disk.
func (u *Upgrade) Commands(rel *release.Release, target CommandTarget) string {
	repo := rel.Hub.Repo
	chart := repo.Rel(rel.ChartDir)
	var b strings.Builder
	// Every word that comes from the repository or the user is quoted, the comment's
	// too (a name can hold a newline), since the output is meant to be run by a shell.
	fmt.Fprintf(&b, "# %s/%s, from the repository root %s\n", quote(rel.Hub.Name), quote(rel.Env), quote(repo.Root))
	for _, l := range target.Login {
		b.WriteString(l + "\n")
	}
	fmt.Fprintf(&b, "helm dependency build %s\n", quote(chart))
	// One line per option, so the command reads like the layering it spells out.
	lines := []string{"helm upgrade --install " + quote(rel.Name) + " " + quote(chart), "--namespace " + quote(rel.Namespace) + " --create-namespace --wait"}
	lines = append(lines, "--timeout "+waitTimeout(u.Timeout).Round(time.Second).String())
	switch {
	case target.KubeconfigEncrypted:
		lines = append(lines, "--kubeconfig <(sops --decrypt "+quote(target.Kubeconfig)+")")
	case target.Kubeconfig != "":
		lines = append(lines, "--kubeconfig "+quote(target.Kubeconfig))
	}
	if target.KubeContext != "" {
		lines = append(lines, "--kube-context "+quote(target.KubeContext))
	}
	for _, flag := range []struct {
		on   bool
		name string
	}{{u.Atomic, "--atomic"}, {u.CleanupOnFail, "--cleanup-on-fail"}, {u.Force, "--force"}, {u.DryRun, "--dry-run"}} {
		if flag.on {
			lines = append(lines, flag.name)
		}
	}
	for _, l := range rel.Values.Layers {
		switch {
		case l.Secret:
			lines = append(lines, "-f <(sops --decrypt "+quote(l.Source)+")")
		case strings.HasPrefix(l.Source, "--set "), strings.HasPrefix(l.Source, "--set-string "):
			flag, value, _ := strings.Cut(l.Source, " ")
			lines = append(lines, flag+" "+quote(value))
		case strings.HasPrefix(l.Source, "image "):
			// written below, from the images themselves
		default:
			lines = append(lines, "-f "+quote(l.Source))
		}
	}
	var sets []string
	for _, img := range rel.Images {
		sets = append(sets, img.Path+".name="+img.Name, img.Path+".tag="+img.Tag)
	}
	sort.Strings(sets)
	if len(sets) > 0 {
		lines = append(lines, "--set-string "+quote(strings.Join(sets, ",")))
	}
	b.WriteString(strings.Join(lines, " \\\n    "))
	b.WriteString("\n")
	return b.String()
}

// quote makes s one shell word, on one line: as it is when it holds only characters
// no shell treats specially, else in single quotes, or, when it holds a control
// character such as a newline, as bash's $'…' with escapes.
func quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@") == "" {
		return s
	}
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	var b strings.Builder
	b.WriteString("$'")
	for _, c := range []byte(s) {
		switch {
		case c == '\\' || c == '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString("'")
	return b.String()
}
