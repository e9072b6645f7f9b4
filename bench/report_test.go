package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Stat
	}{
		{nil, Stat{}},
		{[]float64{3}, Stat{3, 3, 3}},
		{[]float64{5, 1, 3}, Stat{3, 1, 5}},
		{[]float64{4, 1, 2, 10}, Stat{3, 1, 10}},
	} {
		if got := summarize(tc.in); got != tc.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	if got := format(Stat{1.234, 1.2, 1.9}, "%.2f"); got != "1.23 (1.20–1.90)" {
		t.Errorf("got %q", got)
	}
	if got := format(Stat{0, 0, 0}, "%.0f"); got != "0" {
		t.Errorf("got %q", got)
	}
}

func revs(n int) *int { return &n }

func secs(x float64) *float64 { return &x }

func testReport() *Report {
	r := &Report{Commit: "abc", Hubploy: "hubploy v1", Helm: "v3.22.0", Runs: 2, StartRuns: 5, Rows: []Row{{
		Name:    "no-op redeploy, 2 hubs",
		Hubploy: Tool{Command: "hubploy deploy --env staging --all", Samples: []Sample{{Wall: 1, CPU: 0.5, RSS: 2048, Revisions: revs(0), ControlPlaneCPU: secs(0.25)}, {Wall: 3, CPU: 0.5, RSS: 4096, Revisions: revs(0), ControlPlaneCPU: secs(0.75)}}},
		Helm:    Tool{Command: "helm upgrade", Samples: []Sample{{Wall: 4, CPU: 1, RSS: 1024, Revisions: revs(2)}, {Wall: 4, CPU: 1, RSS: 1024, Revisions: revs(2)}}},
	}}}
	r.summarize()
	return r
}

func TestReportSummarize(t *testing.T) {
	row := testReport().Rows[0]
	if row.Hubploy.Wall != (Stat{2, 1, 3}) || row.Hubploy.RSS != (Stat{3, 2, 4}) || *row.Hubploy.Revisions != (Stat{}) {
		t.Errorf("hubploy: %+v", row.Hubploy)
	}
	if row.Ratio.Wall != 0.5 || row.Ratio.CPU != 0.5 || row.Ratio.RSS != 3 {
		t.Errorf("ratio: %+v", row.Ratio)
	}
	if ratio(1, 0) != 0 {
		t.Error("ratio over zero")
	}
}

func TestMarkdown(t *testing.T) {
	var b strings.Builder
	testReport().Markdown(&b)
	for _, want := range []string{
		"| scenario | tool | wall s | CPU s | peak RSS MiB | new revisions | control plane CPU s | hubploy/helm wall · CPU · RSS |\n|---|",
		"| no-op redeploy, 2 hubs | hubploy | 2.00 (1.00–3.00) | 0.50 | 3 (2–4) | 0 | 0.50 (0.25–0.75) | 0.50 · 0.50 · 3.00 |\n",
		"|  | helm | 4.00 | 1.00 | 1 | 2 |  |  |\n",
		"- no-op redeploy, 2 hubs: `hubploy deploy --env staging --all` vs `helm upgrade`\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}

func TestJSON(t *testing.T) {
	data, err := json.Marshal(testReport())
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Rows []struct {
			Hubploy struct {
				Samples []map[string]any
				Wall    Stat `json:"wall_s"`
			}
			Ratio map[string]float64 `json:"ratio_hubploy_over_helm"`
		}
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	h := back.Rows[0].Hubploy
	if h.Wall.Median != 2 || h.Samples[0]["new_revisions"] != 0.0 || h.Samples[0]["max_rss_kib"] != 2048.0 || back.Rows[0].Ratio["wall"] != 0.5 {
		t.Errorf("%s", data)
	}
}

func TestWithoutVars(t *testing.T) {
	got := withoutVars([]string{"CI=1", "CIX=2", "HELM_X=3", "HOME=/h", "XDG_CACHE_HOME=/c"}, "CI", "HELM_", "XDG_")
	if strings.Join(got, " ") != "CIX=2 HOME=/h" {
		t.Errorf("got %v", got)
	}
}
