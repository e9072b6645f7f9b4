package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Sample is one timed run of one tool. For a loop of helm calls it is the loop's wall
// time, the sum of the calls' CPU times and the largest peak RSS of any call.
type Sample struct {
	Wall float64 `json:"wall_s"`
	CPU  float64 `json:"cpu_s"` // user + system
	RSS  int64   `json:"max_rss_kib"`
	// Revisions is the number of new helm revisions the run made, for deploys.
	Revisions *int `json:"new_revisions,omitempty"`
	// ControlPlaneCPU is the CPU time the test cluster's processes used during the
	// run, for deploys.
	ControlPlaneCPU *float64 `json:"control_plane_cpu_s,omitempty"`
}

// Stat summarizes one quantity over the samples.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// summarize returns the median (the mean of the middle two for an even count), the
// minimum and the maximum of xs; zero for none.
func summarize(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	m := s[n/2]
	if n%2 == 0 {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[n-1]}
}

// Tool is one tool's side of a row.
type Tool struct {
	Command   string   `json:"command"`
	Samples   []Sample `json:"samples"`
	Wall      Stat     `json:"wall_s"`
	CPU       Stat     `json:"cpu_s"`
	RSS       Stat     `json:"max_rss_mib"`
	Revisions *Stat    `json:"new_revisions,omitempty"`
	// ControlPlaneCPU is the cluster's CPU time during the runs, for deploys.
	ControlPlaneCPU *Stat `json:"control_plane_cpu_s,omitempty"`
}

// summarize fills the stats from the samples.
func (t *Tool) summarize() {
	var wall, cpu, rss, revs, cp []float64
	for _, s := range t.Samples {
		wall = append(wall, s.Wall)
		cpu = append(cpu, s.CPU)
		rss = append(rss, float64(s.RSS)/1024)
		if s.Revisions != nil {
			revs = append(revs, float64(*s.Revisions))
		}
		if s.ControlPlaneCPU != nil {
			cp = append(cp, *s.ControlPlaneCPU)
		}
	}
	t.Wall, t.CPU, t.RSS = summarize(wall), summarize(cpu), summarize(rss)
	t.Revisions, t.ControlPlaneCPU = optional(revs), optional(cp)
}

// optional summarizes xs, or is nil when there are none.
func optional(xs []float64) *Stat {
	if len(xs) == 0 {
		return nil
	}
	s := summarize(xs)
	return &s
}

// Row is one scenario, measured for both tools.
type Row struct {
	Name    string `json:"name"`
	Hubploy Tool   `json:"hubploy"`
	Helm    Tool   `json:"helm"`
	// Ratio is hubploy's median over helm's, per quantity.
	Ratio struct {
		Wall float64 `json:"wall"`
		CPU  float64 `json:"cpu"`
		RSS  float64 `json:"max_rss"`
	} `json:"ratio_hubploy_over_helm"`
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Report is what a run measured, and on what.
type Report struct {
	Date         string `json:"date"`
	Commit       string `json:"commit"`
	Hubploy      string `json:"hubploy_version"`
	Helm         string `json:"helm_version"`
	Go           string `json:"go_version"`
	CPUs         int    `json:"cpus"`
	LoadBefore   string `json:"loadavg_before"`
	LoadAfter    string `json:"loadavg_after"`
	Runs         int    `json:"runs"`
	StartRuns    int    `json:"start_runs"`
	Hubs         int    `json:"hubs"`
	ValidateHubs int    `json:"validate_hubs"`
	Rows         []Row  `json:"rows"`
}

// summarize fills every row's stats and ratios from its samples.
func (r *Report) summarize() {
	for i := range r.Rows {
		row := &r.Rows[i]
		row.Hubploy.summarize()
		row.Helm.summarize()
		row.Ratio.Wall = ratio(row.Hubploy.Wall.Median, row.Helm.Wall.Median)
		row.Ratio.CPU = ratio(row.Hubploy.CPU.Median, row.Helm.CPU.Median)
		row.Ratio.RSS = ratio(row.Hubploy.RSS.Median, row.Helm.RSS.Median)
	}
}

// format writes "median (min–max)" with the given verb, or the median alone for one
// sample or when all are equal.
func format(s Stat, verb string) string {
	m := fmt.Sprintf(verb, s.Median)
	lo, hi := fmt.Sprintf(verb, s.Min), fmt.Sprintf(verb, s.Max)
	if lo == hi {
		return m
	}
	return fmt.Sprintf("%s (%s–%s)", m, lo, hi)
}

// Markdown writes the report as a markdown table, a line per tool and row.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "hubploy %s (%s) vs helm %s, %s; %s, %d CPUs, load %s before, %s after.\n",
		r.Commit, r.Hubploy, r.Helm, r.Date, r.Go, r.CPUs, r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "Median (min–max) of %d runs, %d for process start; helm loops: summed CPU, largest RSS.\n\n", r.Runs, r.StartRuns)
	fmt.Fprintln(w, "| scenario | tool | wall s | CPU s | peak RSS MiB | new revisions | control plane CPU s | hubploy/helm wall · CPU · RSS |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, row := range r.Rows {
		for _, t := range []struct {
			name string
			tool Tool
		}{{"hubploy", row.Hubploy}, {"helm", row.Helm}} {
			revs, cp, name, ratios := "", "", "", ""
			if t.tool.Revisions != nil {
				revs = format(*t.tool.Revisions, "%.0f")
			}
			if t.tool.ControlPlaneCPU != nil {
				cp = format(*t.tool.ControlPlaneCPU, "%.2f")
			}
			if t.name == "hubploy" {
				name = row.Name
				ratios = fmt.Sprintf("%.2f · %.2f · %.2f", row.Ratio.Wall, row.Ratio.CPU, row.Ratio.RSS)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, t.name,
				format(t.tool.Wall, "%.2f"), format(t.tool.CPU, "%.2f"), format(t.tool.RSS, "%.0f"), revs, cp, ratios)
		}
	}
	fmt.Fprintln(w)
	for _, row := range r.Rows {
		fmt.Fprintf(w, "- %s: `%s` vs `%s`\n", row.Name, row.Hubploy.Command, row.Helm.Command)
	}
}

// oneLine shortens a command line for the report.
func oneLine(args []string) string { return strings.Join(args, " ") }
