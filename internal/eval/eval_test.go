package eval

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/engine/track"
)

// datasets is the shared datasets directory, or skips the test.
func datasets(t *testing.T, sub string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "datasets")
	if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
		t.Skipf("the shared datasets are not here (%v): a fresh clone has no ../shared", err)
	}
	return dir
}

// series is a synthetic NAB series of n samples, 5 minutes apart, with
// one window [l, r] (indexes).
func series(n, l, r int) Series {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Series{Name: "synthetic"}
	for i := range n {
		s.Times = append(s.Times, t0.Add(time.Duration(i)*5*time.Minute))
		s.Values = append(s.Values, 1)
	}
	s.Windows = [][2]time.Time{{s.Times[l], s.Times[r]}}
	return s
}

// TestNABScoring checks the scorer against NAB's rules: a detection at a
// window's start scores the whole true-positive weight, a later one less,
// a miss costs the false-negative weight, a false positive far past the
// window 0.11, one before any window 0.11, and detections in the
// probationary period nothing.
func TestNABScoring(t *testing.T) {
	s := series(1000, 500, 599)
	at := func(idx ...int) []float64 {
		out := make([]float64, 1000)
		for _, i := range idx {
			out[i] = 1
		}
		return out
	}
	cases := []struct {
		name string
		det  []float64
		raw  float64
		tp   int
		fp   int
		fn   int
	}{
		{"at the window's start", at(500), 1, 1, 0, 0},
		{"twice in the window: the first counts", at(500, 550), 1, 1, 0, 0},
		{"none", at(), -1, 0, 0, 1},
		{"in the probationary period", at(10), -1, 0, 0, 1},
		{"before any window", at(300), -1 - 0.11, 0, 1, 1},
		{"far after the window", at(999), -1 - 0.11, 0, 1, 1},
	}
	std := NABProfiles[0]
	for _, c := range cases {
		got := scoreFile(nabPoints(&s, c.det), std, 0.5)
		if math.Abs(got.Raw-c.raw) > 1e-9 || got.Detected != c.tp || got.FP != c.fp || got.Windows-got.Detected != c.fn {
			t.Errorf("%s: %+v, want raw %v windows found %d fp %d missed %d", c.name, got, c.raw, c.tp, c.fp, c.fn)
		}
	}
	late := scoreFile(nabPoints(&s, at(590)), std, 0.5)
	if !(late.Raw > 0 && late.Raw < 0.3) { // 2/(1+e^-0.5)-1, over the earliest score
		t.Errorf("a detection near the window's end: %v", late.Raw)
	}
	// A false positive just past the window costs less than one far past.
	near := scoreFile(nabPoints(&s, at(600)), std, 0.5)
	if !(near.Raw > -1-0.11 && near.Raw < -1) {
		t.Errorf("a detection just past the window: %v", near.Raw)
	}
	// A window that ends in the probationary period (the first 150 of
	// 1,000 samples) is neither found nor missed.
	early := series(1000, 20, 119)
	if got := scoreFile(nabPoints(&early, at(20, 500)), std, 0.5); got.Windows != 0 || math.Abs(got.Raw+0.11) > 1e-9 {
		t.Errorf("a window inside the probationary period: %+v", got)
	}
	// Optimised and normalised: the perfect detector 100, the null
	// detector 0, whatever their scores' scale.
	score := func(det []float64) NABScore {
		r := optimizeThreshold([][]nabPoint{nabPoints(&s, det)}, std)
		r.Normalized = normalize(r.Raw, -std.FN*float64(r.Windows), std.TP*float64(r.Windows))
		return r
	}
	if r := score(at(500)); math.Abs(r.Normalized-100) > 1e-9 || r.Threshold != 1 {
		t.Errorf("perfect: %+v", r)
	}
	if r := score(at()); r.Normalized != 0 || !r.NoDetectionBest {
		t.Errorf("null: %+v", r)
	}
}

// TestWindowedGaussian checks the baseline scores a spike above the
// values around it.
func TestWindowedGaussian(t *testing.T) {
	vals := make([]float64, 500)
	for i := range vals {
		vals[i] = 10 + float64(i%7)
	}
	vals[400] = 60
	sc := WindowedGaussian(vals)
	for i := 300; i < 500; i++ {
		if i != 400 && sc[i] >= sc[400] {
			t.Fatalf("sample %d scores %v, the spike %v", i, sc[i], sc[400])
		}
	}
}

func TestROCMetrics(t *testing.T) {
	recs := []Record{{Category: "normal"}, {Category: "normal"}, {Category: "normal"}, {Category: "dos"}, {Category: "probe"}}
	cases := []struct {
		scores  []float64
		cat     string
		auc, dr float64
	}{
		{[]float64{1, 2, 3, 4, 5}, "", 1, 1},
		{[]float64{3, 4, 5, 1, 2}, "", 0, 0},
		{[]float64{1, 2, 3, 3, 0}, "dos", 5.0 / 6, 0},
		{[]float64{1, 2, 3, 3, 9}, "probe", 1, 1},
	}
	for _, c := range cases {
		auc, dr := rocMetrics(recs, c.scores, c.cat)
		if math.Abs(auc-c.auc) > 1e-3 || dr != c.dr {
			t.Errorf("%v %q: auc %v dr %v, want %v %v", c.scores, c.cat, auc, dr, c.auc, c.dr)
		}
	}
}

// TestKDDDataset trains on the shared NSL-KDD subset's normal records and
// checks the profiler separates the attacks (most of them DoS) well.
func TestKDDDataset(t *testing.T) {
	dir := datasets(t, "nsl-kdd")
	recs, err := LoadKDD(filepath.Join(dir, "nsl-kdd", "KDDTrain+_20Percent.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 25192 {
		t.Errorf("%d records, the README says 25,192", len(recs))
	}
	rep := KDD(recs, recs, "train")
	prof := rep.Results[0]
	t.Logf("%v", prof)
	if prof["roc_auc"].(float64) < 0.9 || prof["roc_auc_dos"].(float64) < 0.9 {
		t.Errorf("profile: %v", prof)
	}
}

// TestGatewayCaptures runs the gateway profiles shipped in
// configs/gateway.yaml over the shared captures: every scan and flood is
// flagged, and the normal traffic at half, the same and twice its rate is
// not.
func TestGatewayCaptures(t *testing.T) {
	dir := datasets(t, "pcap-ppa1e")
	reg := engine.NewRegistry()
	for _, f := range []engine.Factory{signature.Factory(), track.Factory(), profile.Factory()} {
		if err := reg.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.LoadFile(filepath.Join("..", "..", "configs", "gateway.yaml"), config.Registries{Engines: reg})
	if err != nil {
		t.Fatal(err)
	}
	classes, err := profile.ClassesIn(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, outs, err := GatewayCaptures(dir, classes, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if (o.Attack != "") != o.Flagged {
			t.Errorf("%s (%q) at x%g: flagged %v %s", o.Capture, o.Attack, o.Rate, o.Flagged, o.Why)
		}
	}
	t.Logf("%v", rep.Results)
}
