package eval

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// FuzzNABSeries feeds arbitrary bytes to the data file reader: an error
// or a series with samples in time order, finite values.
func FuzzNABSeries(f *testing.F) {
	f.Add([]byte("timestamp,value\n2014-04-01 00:00:00,18.3\n2014-04-01 00:05:00,21.9\n"))
	f.Add([]byte("2014-04-01 00:00:00,1\n2014-04-01 00:00:00,2\n"))
	f.Add([]byte("timestamp,value\n2014-04-01 00:00:00,NaN\n"))
	f.Add([]byte("timestamp,value\n2014-04-01 00:05:00,1\n2014-04-01 00:00:00,2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeNABSeries("x.csv", bytes.NewReader(data))
		if err != nil {
			if !strings.Contains(err.Error(), "x.csv") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if len(s.Times) == 0 || len(s.Times) != len(s.Values) {
			t.Fatalf("%d times, %d values", len(s.Times), len(s.Values))
		}
		for i, v := range s.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) || (i > 0 && s.Times[i].Before(s.Times[i-1])) {
				t.Fatalf("sample %d: %v at %v", i, v, s.Times[i])
			}
		}
	})
}

// FuzzNABResult feeds arbitrary bytes to the result file reader for a
// three-sample series: an error, or one score per sample.
func FuzzNABResult(f *testing.F) {
	s, err := decodeNABSeries("s.csv", strings.NewReader("2014-04-01 00:00:00,1\n2014-04-01 00:05:00,2\n2014-04-01 00:10:00,3\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("timestamp,value,anomaly_score,label\n2014-04-01 00:00:00,1,0.5,0\n2014-04-01 00:05:00,2,0.7,0\n2014-04-01 00:10:00,3,1,1\n"))
	f.Add([]byte("anomaly_score,timestamp\n0,2014-04-01 00:00:00\n"))
	f.Add([]byte("timestamp,anomaly_score\n2014-04-01 00:00:00,nan\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := decodeNABResult("r.csv", bytes.NewReader(data), &s)
		if err != nil {
			return
		}
		if len(sc) != len(s.Times) {
			t.Fatalf("%d scores for %d samples", len(sc), len(s.Times))
		}
	})
}

// FuzzNABLabels feeds arbitrary bytes to the labels reader and each
// series' windows to the window reader: an error, or keys of the form
// <category>/<file>.csv and windows in order.
func FuzzNABLabels(f *testing.F) {
	f.Add([]byte(`{"a/b.csv": [["2014-04-10 07:15:00.000000", "2014-04-11 16:45:00.000000"]], "a/c.csv": []}`))
	f.Add([]byte(`{"../b.csv": []}`))
	f.Add([]byte(`{"a/b.csv": [["2014-04-11 07:15:00", "2014-04-10 16:45:00"]]}`))
	f.Add([]byte(`{"a/b.csv": [["2014-04-10 00:00:00", "2014-04-11 00:00:00"], ["2014-04-10 12:00:00", "2014-04-12 00:00:00"]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		labels, err := decodeNABLabels("l.json", data)
		if err != nil {
			return
		}
		for k, ws := range labels {
			cat, file, ok := strings.Cut(k, "/")
			if !ok || cat == "" || cat == ".." || strings.Contains(file, "/") || !strings.HasSuffix(file, ".csv") {
				t.Fatalf("key %q accepted", k)
			}
			out, err := parseNABWindows("l.json", k, ws)
			if err != nil {
				continue
			}
			for i, w := range out {
				if w[1].Before(w[0]) || (i > 0 && !w[0].After(out[i-1][1])) {
					t.Fatalf("%s window %d: %v", k, i, out)
				}
			}
		}
	})
}

// FuzzNABProfiles feeds arbitrary bytes to the profiles reader: an error,
// or profiles with every weight present and not negative.
func FuzzNABProfiles(f *testing.F) {
	f.Add([]byte(`{"standard": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}}}`))
	f.Add([]byte(`{"x": {"CostMatrix": {"tpWeight": -1, "fnWeight": 1, "fpWeight": 1}}}`))
	f.Add([]byte(`{"x": {}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := decodeNABProfiles("p.json", data)
		if err != nil {
			return
		}
		if len(ps) == 0 {
			t.Fatal("no profiles and no error")
		}
		for _, p := range ps {
			if !(p.TP >= 0 && p.FP >= 0 && p.FN >= 0) {
				t.Fatalf("%+v", p)
			}
		}
	})
}

// FuzzNABScoreTable feeds arbitrary bytes to the score table reader.
func FuzzNABScoreTable(f *testing.F) {
	f.Add([]byte("Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count\nnull,standard,a/b.csv,0.6,-2.0,0,1871,0,250,2495\n,,Totals,,-2.0,0,1871,0,250,2495\n"))
	f.Add([]byte("File,Score\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeNABScoreTable("t.csv", bytes.NewReader(data))
	})
}

// FuzzNABScore scores arbitrary anomaly scores on a series with a window:
// the optimised total is at least the total at any threshold, and the
// normalised score at most 100.
func FuzzNABScore(f *testing.F) {
	f.Add([]byte{0, 0, 0, 255, 0}, uint8(40))
	f.Add([]byte{9, 200, 3, 17, 255, 255, 1}, uint8(90))
	f.Fuzz(func(t *testing.T, raw []byte, at uint8) {
		n := 200
		s := series(n, 100+int(at)%80, 100+int(at)%80+19)
		scores := make([]float64, n)
		for i := range scores {
			if len(raw) > 0 {
				scores[i] = float64(raw[i%len(raw)]) / 255
			}
		}
		pts := nabPoints(&s, scores)
		for _, p := range NABProfiles {
			best := optimizeThreshold([][]nabPoint{pts}, p)
			norm := normalize(best.Raw, -p.FN*float64(best.Windows), p.TP*float64(best.Windows))
			if norm > 100+1e-9 || best.Windows != 1 {
				t.Fatalf("%s: %+v normalised %v", p.Name, best, norm)
			}
			for _, b := range raw {
				th := float64(b) / 255
				if got := scoreFile(pts, p, th); got.Raw > best.Raw+1e-9 {
					t.Fatalf("%s: at %v raw %v, optimised %+v", p.Name, th, got.Raw, best)
				}
			}
		}
	})
}
