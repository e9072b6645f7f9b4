package plan

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// shownFiles is how many of an entry's files the text and Markdown forms name; JSON
// has them all.
const shownFiles = 3

// WriteText writes the plan for people: a line per deploy and per build with its
// files, then the files that change nothing.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	b.WriteString(p.summary() + "\n")
	if p.Everything != "" {
		fmt.Fprintf(&b, "every hub deploys: %s\n", p.Everything)
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	if len(p.Deploys) > 0 {
		fmt.Fprintf(tw, "deploy (%d):\n", len(p.Deploys))
	}
	for _, d := range p.Deploys {
		row(tw, d.Hub+"/"+d.Env, files(d.Files, nil))
	}
	if len(p.Builds) > 0 {
		fmt.Fprintf(tw, "build (%d):\n", len(p.Builds))
	}
	for _, bu := range p.Builds {
		row(tw, bu.Image+" ("+bu.Folder+")", cmp.Or(bu.Why, files(bu.Files, nil)))
	}
	if len(p.Present) > 0 {
		fmt.Fprintf(tw, "in the registry already (%d):\n", len(p.Present))
	}
	for _, bu := range p.Present {
		row(tw, bu.Image+":"+bu.Tag, files(bu.Files, nil))
	}
	if len(p.Unaffected) > 0 {
		fmt.Fprintf(tw, "unaffected (%d):\n", len(p.Unaffected))
	}
	for _, u := range p.Unaffected {
		row(tw, u.File, u.Why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// row writes an indented line of what and why, aligned with the others; a row without
// why (every hub of a force-push) has no padding after what.
func row(w io.Writer, what, why string) {
	if why == "" {
		fmt.Fprintf(w, "  %s\n", what)
		return
	}
	fmt.Fprintf(w, "  %s\t%s\n", what, why)
}

// WriteMarkdown writes the plan as Markdown, for a pull request's comment or
// $GITHUB_STEP_SUMMARY.
func (p *Plan) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### hubploy plan\n\n%s\n", p.summary())
	if p.Everything != "" {
		fmt.Fprintf(&b, "\n**Every hub deploys**: %s\n", cell(p.Everything))
	}
	if len(p.Deploys) > 0 {
		b.WriteString("\n| hub | environment | changed |\n|---|---|---|\n")
		for _, d := range p.Deploys {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", cell(d.Hub), cell(d.Env), files(d.Files, code))
		}
	}
	if len(p.Builds) > 0 {
		b.WriteString("\n**Images to build**\n\n| image | folder | changed |\n|---|---|---|\n")
		for _, bu := range p.Builds {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", code(bu.Image), code(bu.Folder), cmp.Or(cell(bu.Why), files(bu.Files, code)))
		}
	}
	if len(p.Present) > 0 {
		b.WriteString("\n**In the registry already** (not built): ")
		var refs []string
		for _, bu := range p.Present {
			refs = append(refs, code(bu.Image+":"+bu.Tag))
		}
		b.WriteString(strings.Join(refs, ", ") + "\n")
	}
	if len(p.Unaffected) > 0 {
		fmt.Fprintf(&b, "\n<details><summary>%d changed file(s) that deploy nothing</summary>\n\n", len(p.Unaffected))
		for _, u := range p.Unaffected {
			fmt.Fprintf(&b, "- %s: %s\n", code(u.File), cell(u.Why))
		}
		b.WriteString("\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// summary is the plan's first line: what was compared and what it comes to.
func (p *Plan) summary() string {
	var s strings.Builder
	if p.Head != "" {
		if p.Base != "" {
			fmt.Fprintf(&s, "%s...%s: ", p.Base, p.Head)
		} else {
			fmt.Fprintf(&s, "up to %s: ", p.Head)
		}
	}
	fmt.Fprintf(&s, "%d changed file(s)", len(p.Changed))
	if p.Env != "" {
		fmt.Fprintf(&s, ", environment %s", p.Env)
	}
	if len(p.Deploys) == 0 {
		s.WriteString(": nothing to deploy")
	} else {
		fmt.Fprintf(&s, ": %d deploy(s), %d image build(s)", len(p.Deploys), len(p.Builds))
	}
	return s.String()
}

// files names up to shownFiles of fs, each as quote makes it (nil: as they are).
func files(fs []string, quote func(string) string) string {
	if quote == nil {
		quote = func(s string) string { return s }
	}
	var shown []string
	for _, f := range fs[:min(len(fs), shownFiles)] {
		shown = append(shown, quote(f))
	}
	if more := len(fs) - shownFiles; more > 0 {
		shown = append(shown, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(shown, ", ")
}

// cell is text safe in a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// code is s as inline code in a table cell.
func code(s string) string {
	return "`" + cell(strings.ReplaceAll(s, "`", "'")) + "`"
}
