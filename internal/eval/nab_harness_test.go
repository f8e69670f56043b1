package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// synthSeries is one series of a synthetic NAB directory: n samples five
// minutes apart, a daily cycle with noise, and a level jump at anomaly
// (none when anomaly < 0) inside a window of n/10 samples centred on it,
// as NAB draws its windows.
type synthSeries struct {
	key     string
	n       int
	anomaly int
}

func (s synthSeries) window() (l, r int) {
	w := s.n / 10
	return s.anomaly - w/2, s.anomaly + w/2 - 1
}

var synthT0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func synthTime(i int) string {
	return synthT0.Add(time.Duration(i) * 5 * time.Minute).Format(nabTime)
}

// synthDetectors are result files a test writes beside the data, each a
// function of the series and the sample index.
var synthDetectors = map[string]func(s synthSeries, i int) float64{
	// early fires once, at each window's first sample.
	"early": func(s synthSeries, i int) float64 {
		if l, _ := s.window(); s.anomaly >= 0 && i == l {
			return 1
		}
		return 0
	},
	// late fires once, five samples before each window's end.
	"late": func(s synthSeries, i int) float64 {
		if _, r := s.window(); s.anomaly >= 0 && i == r-5 {
			return 1
		}
		return 0
	},
	// everywhere fires on every sample.
	"everywhere": func(synthSeries, int) float64 { return 1 },
	// null is NAB's null detector: 0.5 everywhere, never above its
	// threshold.
	"null": func(synthSeries, int) float64 { return 0.5 },
	// graded scores each window's start 0.9 and, every 97 samples
	// outside windows, 0.6: only a threshold above 0.6 is perfect.
	"graded": func(s synthSeries, i int) float64 {
		l, r := s.window()
		switch {
		case s.anomaly >= 0 && i == l:
			return 0.9
		case (s.anomaly < 0 || i < l || i > r) && i%97 == 0:
			return 0.6
		}
		return 0.1
	},
}

// writeNABDir lays out a NAB directory under root: with data, the
// repository's layout (data/<category>/*.csv), else the categories at the
// top; labels/combined_windows.json; and results/<detector>/<category>/
// <detector>_<file>.csv for synthDetectors.
func writeNABDir(t *testing.T, root string, data bool, series []synthSeries) {
	t.Helper()
	dataDir := root
	if data {
		dataDir = filepath.Join(root, "data")
	}
	rng := rand.New(rand.NewPCG(7, 11))
	windows := map[string][][2]string{}
	for _, s := range series {
		var b strings.Builder
		b.WriteString("timestamp,value\n")
		for i := range s.n {
			v := 50 + 20*math.Sin(2*math.Pi*float64(i)/288) + rng.NormFloat64()
			if s.anomaly >= 0 && i >= s.anomaly && i < s.anomaly+20 {
				v += 150
			}
			fmt.Fprintf(&b, "%s,%.3f\n", synthTime(i), v)
		}
		writeFile(t, filepath.Join(dataDir, s.key), b.String())
		windows[s.key] = [][2]string{}
		if s.anomaly >= 0 {
			l, r := s.window()
			windows[s.key] = append(windows[s.key], [2]string{synthTime(l) + ".000000", synthTime(r) + ".000000"})
		}
		cat, file, _ := strings.Cut(s.key, "/")
		for name, f := range synthDetectors {
			var b strings.Builder
			b.WriteString("timestamp,value,anomaly_score,label\n")
			for i := range s.n {
				fmt.Fprintf(&b, "%s,0,%g,0\n", synthTime(i), f(s, i))
			}
			writeFile(t, filepath.Join(root, "results", name, cat, name+"_"+file), b.String())
		}
	}
	raw, err := json.Marshal(windows)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "labels", "combined_windows.json"), string(raw))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var synthCorpus = []synthSeries{
	{"plantSensors/boiler_temp.csv", 2000, 1400},
	{"plantSensors/pump_rpm.csv", 1600, 1100},
	{"webLatency/checkout_p99.csv", 1800, 1300},
	{"webLatency/search_p99.csv", 1500, -1},
}

// TestNABHarnessSynthetic runs the harness end to end on directories laid
// out like NAB's (with and without the data/ level) whose categories are
// not NAB's, and checks NAB's scoring ranks detectors as it should: a
// detection at a window's start is perfect, a late one scores less, a
// detector firing everywhere does worse than the null detector, the
// optimised threshold drops false positives a lower one would take, and
// the profiler finds level jumps well enough to beat the null detector.
func TestNABHarnessSynthetic(t *testing.T) {
	for _, data := range []bool{true, false} {
		t.Run(fmt.Sprintf("data-dir=%v", data), func(t *testing.T) {
			dir := t.TempDir()
			writeNABDir(t, dir, data, synthCorpus)
			rep, err := RunNAB(dir, NABOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(rep.Dataset, "4 series (plantSensors, webLatency)") || !strings.Contains(rep.Dataset, "3 anomaly windows") {
				t.Errorf("dataset: %s", rep.Dataset)
			}
			if strings.Join(rep.Profiles, ",") != "standard,reward_low_FP_rate,reward_low_FN_rate" {
				t.Errorf("profiles: %v", rep.Profiles)
			}
			got := map[string]NABDetectorScore{}
			for _, d := range rep.Detectors {
				got[d.Detector] = d
			}
			for _, name := range []string{"vigil-profiler", "vigil-profiler-alerts", "vigil-windowed-gaussian", "early", "late", "everywhere", "null", "graded"} {
				if _, ok := got[name]; !ok {
					t.Fatalf("no %s in %v", name, rep.Results)
				}
			}
			norm := func(det, profile string) float64 { return got[det].Optimized[profile].Normalized }
			for _, p := range rep.Profiles {
				if e := norm("early", p); math.Abs(e-100) > 1e-9 {
					t.Errorf("%s: early %v, want 100", p, e)
				}
				if l := norm("late", p); !(l > 0 && l < norm("early", p)-20) {
					t.Errorf("%s: late %v, early %v", p, l, norm("early", p))
				}
				if n := norm("null", p); n != 0 {
					t.Errorf("%s: null %v", p, n)
				}
				if g := got["graded"].Optimized[p]; g.Threshold != 0.9 || math.Abs(g.Normalized-100) > 1e-9 || g.FalsePositives != 0 {
					t.Errorf("%s: graded %+v, want threshold 0.9 and 100", p, g)
				}
			}
			// Firing everywhere: every window found at its start, and
			// thousands of false positives. The optimiser's best is to
			// detect nothing (null's 0); the score at threshold 1 is far
			// below it, the more so when false positives cost more.
			files := make([][]nabPoint, len(synthCorpus))
			c, err := LoadNABCorpus(dir)
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.Series {
				files[i] = nabPoints(&c.Series[i], make1(len(c.Series[i].Values)))
			}
			at := func(p NABProfile) float64 {
				raw := 0.0
				for _, f := range files {
					raw += scoreFile(f, p, 1).Raw
				}
				return normalize(raw, -p.FN*3, p.TP*3)
			}
			std, lowFP := at(NABProfiles[0]), at(NABProfiles[1])
			if !(lowFP < std && std < 0) {
				t.Errorf("firing everywhere: standard %v, reward_low_FP_rate %v; want both below null's 0, low-FP lower", std, lowFP)
			}
			if e := got["everywhere"].Optimized["reward_low_FP_rate"]; e.Normalized != 0 || !e.NoDetectionBest {
				t.Errorf("everywhere, optimised: %+v", e)
			}
			if p := norm("vigil-profiler", "standard"); !(p > 30) {
				t.Errorf("the profiler scores %v on level jumps of 150 over noise of 1", p)
			}
			t.Logf("profiler %.2f/%.2f/%.2f, late %.2f", norm("vigil-profiler", "standard"), norm("vigil-profiler", "reward_low_FP_rate"), norm("vigil-profiler", "reward_low_FN_rate"), norm("late", "standard"))

			var b strings.Builder
			if err := rep.WriteTable(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "reward_low_FN_rate") || !strings.Contains(b.String(), "vigil-profiler") {
				t.Errorf("table:\n%s", b.String())
			}
		})
	}
}

func make1(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// TestNABCorpusErrors checks bad NAB directories fail with errors that
// name the file and what is wrong.
func TestNABCorpusErrors(t *testing.T) {
	small := []synthSeries{{"catA/one.csv", 400, 300}}
	cases := []struct {
		name   string
		mangle func(dir string)
		want   string
	}{
		{"no labels", func(dir string) { os.Remove(filepath.Join(dir, "labels", "combined_windows.json")) }, "no labels/combined_windows.json"},
		{"unlabelled data file", func(dir string) {
			writeFile(t, filepath.Join(dir, "data", "catB", "two.csv"), "timestamp,value\n2025-03-01 00:00:00,1\n")
		}, "two.csv: no windows for it"},
		{"bad value", func(dir string) {
			writeFile(t, filepath.Join(dir, "data", "catA", "one.csv"), "timestamp,value\n2025-03-01 00:00:00,x\n")
		}, "one.csv:2: value"},
		{"bad window", func(dir string) {
			writeFile(t, filepath.Join(dir, "labels", "combined_windows.json"), `{"catA/one.csv": [["2025-03-02 00:00:00", "2025-03-01 00:00:00"]]}`)
		}, "window 1 ends"},
		{"result rows short", func(dir string) {
			writeFile(t, filepath.Join(dir, "results", "early", "catA", "early_one.csv"), "timestamp,anomaly_score\n2025-03-01 00:00:00,0\n")
		}, "early_one.csv: 1 rows, but catA/one.csv has 400 samples"},
		{"result timestamps", func(dir string) {
			writeFile(t, filepath.Join(dir, "results", "early", "catA", "early_one.csv"), "timestamp,anomaly_score\n2025-03-01 00:01:00,0\n")
		}, "early_one.csv:2: timestamp 2025-03-01 00:01:00, but catA/one.csv's sample 1 is at 2025-03-01 00:00:00"},
		{"result header", func(dir string) {
			writeFile(t, filepath.Join(dir, "results", "early", "catA", "early_one.csv"), "timestamp,score\n")
		}, "no timestamp or anomaly_score column"},
		{"profiles", func(dir string) {
			writeFile(t, filepath.Join(dir, "config", "profiles.json"), `{"standard": {"CostMatrix": {"tpWeight": 1, "fpWeight": 0.11}}}`)
		}, "profile standard: no CostMatrix.fnWeight"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeNABDir(t, dir, true, small)
			c.mangle(dir)
			_, err := RunNAB(dir, NABOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one with %q", err, c.want)
			}
		})
	}
}

// TestNABProfilesConfig checks a corpus's config/profiles.json replaces
// NAB's built-in profiles, and a missing data file is noted, not scored.
func TestNABProfilesConfig(t *testing.T) {
	dir := t.TempDir()
	writeNABDir(t, dir, false, []synthSeries{{"catA/one.csv", 400, 300}})
	writeFile(t, filepath.Join(dir, "config", "profiles.json"), `{"harsh": {"CostMatrix": {"tpWeight": 2, "fpWeight": 1, "fnWeight": 3, "tnWeight": 1}}}`)
	raw, _ := os.ReadFile(filepath.Join(dir, "labels", "combined_windows.json"))
	writeFile(t, filepath.Join(dir, "labels", "combined_windows.json"), strings.Replace(string(raw), "{", `{"catZ/gone.csv": [],`, 1))
	rep, err := RunNAB(dir, NABOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Profiles) != 1 || rep.Profiles[0] != "harsh" {
		t.Fatalf("profiles %v", rep.Profiles)
	}
	found := false
	for _, d := range rep.Detectors {
		if d.Detector == "late" {
			found = true
			// One window, found late: 2·σ(pos)/σ(−1) of 2, over a range
			// from −3 (null) to 2 (perfect).
			s := d.Optimized["harsh"]
			l, r := synthSeries{"", 400, 300}.window()
			want := 100 * (2*scaledSigmoid(-float64(r-(r-5)+1)/float64(r-l+1))/scaledSigmoid(-1) + 3) / 5
			if math.Abs(s.Normalized-want) > 1e-9 {
				t.Errorf("late under harsh: %v, want %v", s.Normalized, want)
			}
		}
	}
	if !found {
		t.Errorf("no late detector: %v", rep.Results)
	}
	if !strings.Contains(strings.Join(rep.Notes, " "), "not scored, no data file here: 1 labelled series (catZ/gone.csv)") {
		t.Errorf("notes: %v", rep.Notes)
	}
}
