package eval

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// NABOptions choose what the NAB harness runs besides the profiler.
type NABOptions struct {
	// Grid also scores the profiler under other short- and long-term
	// half-lives, to show how much its figure depends on them.
	Grid bool
}

// NABDetector is one detector's anomaly scores on every series of a
// corpus, one per sample.
type NABDetector struct {
	Name string
	// Source is "vigil" for a detector run by the harness, "nab" for a
	// published detector's result files.
	Source string
	Scores [][]float64
}

// NABDetectorScore is a detector's outcome under every profile: at the
// threshold the harness optimised over the corpus, and, for a published
// detector, at the threshold NAB's optimiser chose (config/thresholds.json).
type NABDetectorScore struct {
	Detector string
	Source   string
	// Optimized is by profile name.
	Optimized map[string]NABScore
	// AtNAB is by profile name; empty when NAB gives no threshold.
	AtNAB map[string]NABScore
}

// NABReport is the harness's outcome: every detector scored NAB's way on
// the same series.
type NABReport struct {
	Report
	Profiles  []string
	Detectors []NABDetectorScore
}

// ScoreNAB scores detectors on a corpus NAB's way, each profile on its
// own: per detector and profile the threshold is optimised over the
// corpus, and the raw total normalised between the null detector (every
// window missed) and a perfect one (every window found at its start).
// thresholds, when not nil, are NAB's own (detector → profile); a
// detector named there is scored at them too.
func ScoreNAB(c *NABCorpus, dets []NABDetector, thresholds map[string]map[string]NABThreshold) []NABDetectorScore {
	out := make([]NABDetectorScore, len(dets))
	parallel(len(dets), func(d int) {
		det := dets[d]
		files := make([][]nabPoint, len(c.Series))
		for i := range c.Series {
			files[i] = nabPoints(&c.Series[i], det.Scores[i])
		}
		ds := NABDetectorScore{Detector: det.Name, Source: det.Source, Optimized: map[string]NABScore{}, AtNAB: map[string]NABScore{}}
		for _, p := range c.Profiles {
			s := optimizeThreshold(files, p)
			null, perfect := -p.FN*float64(s.Windows), p.TP*float64(s.Windows)
			s.Normalized = normalize(s.Raw, null, perfect)
			ds.Optimized[p.Name] = s
			if th, ok := thresholds[det.Name][p.Name]; ok {
				at := NABScore{Profile: p.Name, Threshold: th.Threshold}
				for _, f := range files {
					fs := scoreFile(f, p, th.Threshold)
					at.Raw += fs.Raw
					at.Windows += fs.Windows
					at.Detected += fs.Detected
					at.FalsePositives += fs.FP
				}
				at.Normalized = normalize(at.Raw, null, perfect)
				ds.AtNAB[p.Name] = at
			}
		}
		out[d] = ds
	})
	return out
}

// parallel runs f(0..n-1) on as many goroutines as there are CPUs.
func parallel(n int, f func(int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// profilerDetectors runs the profiler over every series with the given
// half-lives: its T2 ranks (a threshold swept, as for every detector) and
// its own reports (0 or 1 per sample).
func profilerDetectors(c *NABCorpus, name string, short float64, long time.Duration) (ranks, alerts NABDetector) {
	ranks = NABDetector{Name: name, Source: "vigil", Scores: make([][]float64, len(c.Series))}
	alerts = NABDetector{Name: name + "-alerts", Source: "vigil", Scores: make([][]float64, len(c.Series))}
	parallel(len(c.Series), func(i int) {
		ranks.Scores[i], alerts.Scores[i] = ProfileScores(&c.Series[i], short, long)
	})
	return ranks, alerts
}

// RunNAB reads the NAB directory dir, runs the profiler (and the
// harness's windowed Gaussian) over every series, reads the published
// detectors' results present under results/, and scores them all NAB's
// way in one harness.
func RunNAB(dir string, opt NABOptions) (*NABReport, error) {
	c, err := LoadNABCorpus(dir)
	if err != nil {
		return nil, err
	}
	const short, long = 3, 7 * 24 * time.Hour
	ranks, alerts := profilerDetectors(c, "vigil-profiler", short, long)
	gauss := NABDetector{Name: "vigil-windowed-gaussian", Source: "vigil", Scores: make([][]float64, len(c.Series))}
	for i := range c.Series {
		gauss.Scores[i] = WindowedGaussian(c.Series[i].Values)
	}
	dets := []NABDetector{ranks, alerts, gauss}
	if opt.Grid {
		for _, sh := range []float64{1, 3, 6, 12} {
			for _, lh := range []time.Duration{24 * time.Hour, 3 * 24 * time.Hour, 7 * 24 * time.Hour} {
				r, _ := profilerDetectors(c, fmt.Sprintf("vigil-profiler(short=%g,long=%gd)", sh, lh.Hours()/24), sh, lh)
				r.Source = "vigil-grid"
				dets = append(dets, r)
			}
		}
	}
	published, partial := c.PublishedDetectors()
	for _, name := range published {
		sc, err := c.Results(name)
		if err != nil {
			return nil, err
		}
		dets = append(dets, NABDetector{Name: name, Source: "nab", Scores: sc})
	}
	thresholds, err := c.NABThresholds()
	if err != nil {
		return nil, err
	}
	scores := ScoreNAB(c, dets, thresholds)

	windows, samples := 0, 0
	for i := range c.Series {
		windows += len(c.Series[i].Windows)
		samples += len(c.Series[i].Values)
	}
	rep := &NABReport{Detectors: scores}
	for _, p := range c.Profiles {
		rep.Profiles = append(rep.Profiles, p.Name)
	}
	rep.Dataset = fmt.Sprintf("nab: %d series (%s), %d samples, %d anomaly windows", len(c.Series), strings.Join(c.Categories, ", "), samples, windows)
	for _, ds := range scores {
		res := map[string]any{"detector": ds.Detector, "source": ds.Source}
		for _, p := range rep.Profiles {
			s := ds.Optimized[p]
			res[p] = round(s.Normalized, 2)
			res["threshold_"+p] = s.Threshold
			res["raw_"+p] = round(s.Raw, 4)
			res["windows_detected_"+p] = s.Detected
			res["false_positives_"+p] = s.FalsePositives
			if at, ok := ds.AtNAB[p]; ok {
				res["at_nab_threshold_"+p] = round(at.Normalized, 2)
			}
		}
		rep.Results = append(rep.Results, res)
	}
	var desc []string
	for _, p := range c.Profiles {
		desc = append(desc, fmt.Sprintf("%s (TP %g, FP %g, FN %g)", p.Name, p.TP, p.FP, p.FN))
	}
	rep.Notes = append(rep.Notes,
		"NAB's scoring: profiles "+strings.Join(desc, ", ")+"; 15% probation; the first detection in a window scores by its position; one threshold per detector and profile optimised over these series; normalised 100 × (raw − null) / (perfect − null)",
		"vigil-profiler: the statistical profiler's T2 rank in each series' own history (short-term half-life 3 samples, long-term 7 days, daily updates); -alerts: its own reports (T2 above the 99th percentile, at most one an hour); vigil-windowed-gaussian: the harness's copy of NAB's baseline")
	if len(published) > 0 {
		rep.Notes = append(rep.Notes, "source nab: the published detectors' result files under results/, scored by this harness")
	}
	if len(partial) > 0 {
		rep.Notes = append(rep.Notes, "left out, results missing for some series: "+strings.Join(partial, ", "))
	}
	if len(c.Absent) > 0 {
		shown := c.Absent[:min(len(c.Absent), 5)]
		more := ""
		if len(c.Absent) > len(shown) {
			more = ", ..."
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("not scored, no data file here: %d labelled series (%s%s)", len(c.Absent), strings.Join(shown, ", "), more))
	}
	return rep, nil
}

// WriteTable prints the report: one row per detector, one column per
// profile (normalised score at the threshold optimised here), then the
// published detectors at NAB's own thresholds when the corpus gives them.
func (r *NABReport) WriteTable(w io.Writer) error {
	fmt.Fprintln(w, r.Dataset)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "detector\tsource\t%s\twindows found (standard)\tfalse positives (standard)\t\n", strings.Join(r.Profiles, "\t"))
	for _, d := range r.Detectors {
		fmt.Fprintf(tw, "%s\t%s\t", d.Detector, d.Source)
		for _, p := range r.Profiles {
			fmt.Fprintf(tw, "%.2f\t", d.Optimized[p].Normalized)
		}
		st := d.Optimized[r.Profiles[0]]
		fmt.Fprintf(tw, "%d/%d\t%d\t\n", st.Detected, st.Windows, st.FalsePositives)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	at := slices.IndexFunc(r.Detectors, func(d NABDetectorScore) bool { return len(d.AtNAB) > 0 })
	if at >= 0 {
		fmt.Fprintln(w, "published detectors at NAB's own thresholds (config/thresholds.json, optimised over NAB's whole corpus):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "detector\t%s\t\n", strings.Join(r.Profiles, "\t"))
		for _, d := range r.Detectors[at:] {
			if len(d.AtNAB) == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t", d.Detector)
			for _, p := range r.Profiles {
				fmt.Fprintf(tw, "%.2f\t", d.AtNAB[p].Normalized)
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "  ("+n+")")
	}
	return nil
}
