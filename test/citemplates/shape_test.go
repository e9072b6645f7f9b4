package citemplates

import (
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"
)

// get is the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// pairs are a mapping's keys and values, in order.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			out = append(out, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
		}
	}
	return out
}

// names are a scalar's value or a sequence's scalar values.
func names(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, c.Value)
	}
	return out
}

// checkShape checks the keys each CI system needs, and that what one job names
// (GitLab's extends and needs, CircleCI's executors, commands and requires) exists:
// the mistakes a YAML parser lets through and the CI would refuse.
func checkShape(tpl *template) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	doc := tpl.doc
	switch tpl.system {
	case "github":
		if get(doc, "on") == nil {
			fail("no on: the workflow never runs")
		}
		jobs := pairs(get(doc, "jobs"))
		if len(jobs) == 0 {
			fail("no jobs")
		}
		for _, j := range jobs {
			if get(j[1], "runs-on") == nil {
				fail("job %s has no runs-on", j[0].Value)
			}
			steps := get(j[1], "steps")
			if steps == nil || len(steps.Content) == 0 {
				fail("job %s has no steps", j[0].Value)
				continue
			}
			for _, s := range steps.Content {
				if (get(s, "uses") == nil) == (get(s, "run") == nil) {
					fail("a step of job %s has both or neither of uses and run (line %d)", j[0].Value, s.Line)
				}
			}
		}
	case "gitlab":
		keywords := []string{"stages", "variables", "default", "workflow", "include"}
		jobs := map[string]*yaml.Node{}
		for _, p := range pairs(doc) {
			if !slices.Contains(keywords, p[0].Value) {
				jobs[p[0].Value] = p[1]
			}
		}
		stages := names(get(doc, "stages"))
		for name, job := range jobs {
			for _, e := range names(get(job, "extends")) {
				if jobs[e] == nil {
					fail("job %s extends %s, which is not defined", name, e)
				}
			}
			for _, n := range names(get(job, "needs")) {
				if jobs[n] == nil {
					fail("job %s needs %s, which is not defined", name, n)
				}
			}
			if s := get(job, "stage"); s != nil && !slices.Contains(stages, s.Value) {
				fail("job %s has stage %s, which stages does not list", name, s.Value)
			}
			if name[0] != '.' && get(job, "script") == nil && get(jobs[firstOf(names(get(job, "extends")))], "script") == nil {
				fail("job %s has no script", name)
			}
		}
	case "circleci":
		if v := get(doc, "version"); v == nil || v.Value != "2.1" {
			fail("version is not 2.1")
		}
		jobs, executors, commands := get(doc, "jobs"), get(doc, "executors"), get(doc, "commands")
		for _, j := range pairs(jobs) {
			e := get(j[1], "executor")
			if e == nil && get(j[1], "docker") == nil && get(j[1], "machine") == nil {
				fail("job %s has no executor, docker or machine", j[0].Value)
			}
			if e != nil && get(executors, e.Value) == nil {
				fail("job %s uses executor %s, which is not defined", j[0].Value, e.Value)
			}
			for _, s := range content(get(j[1], "steps")) {
				name := s.Value
				if s.Kind == yaml.MappingNode {
					name = s.Content[0].Value
				}
				if !slices.Contains([]string{"checkout", "run", "when", "unless"}, name) && get(commands, name) == nil {
					fail("job %s runs step %s, which is neither CircleCI's nor a command defined here", j[0].Value, name)
				}
			}
		}
		workflows := pairs(get(doc, "workflows"))
		if len(workflows) == 0 {
			fail("no workflows: no job runs")
		}
		for _, w := range workflows {
			for _, item := range content(get(w[1], "jobs")) {
				name, conf := item.Value, (*yaml.Node)(nil)
				if item.Kind == yaml.MappingNode {
					name, conf = item.Content[0].Value, item.Content[1]
				}
				if get(jobs, name) == nil {
					fail("workflow %s runs job %s, which is not defined", w[0].Value, name)
				}
				for _, r := range names(get(conf, "requires")) {
					if get(jobs, r) == nil {
						fail("workflow %s: job %s requires %s, which is not defined", w[0].Value, name, r)
					}
				}
			}
		}
	default:
		fail("ci/%s is no CI system these tests know: put templates in ci/github, ci/gitlab or ci/circleci", tpl.system)
	}
	return errs
}

// content is a node's children; none for a missing node.
func content(n *yaml.Node) []*yaml.Node {
	if n == nil {
		return nil
	}
	return n.Content
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
