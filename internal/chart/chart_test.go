package chart

import (
	"bytes"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/testutil"
)

const hostile = `<script>alert(1)</script>&"'`

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testutil.Golden(t, filepath.Join("testdata", name), got)
	// Well-formed XML, and nothing from the data became markup.
	d := xml.NewDecoder(bytes.NewReader(got))
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("%s is not well-formed: %v", name, err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && (se.Name.Local == "script" || se.Name.Local == "foreignObject") {
			t.Fatalf("%s holds a %s element", name, se.Name.Local)
		}
	}
}

func TestScores(t *testing.T) {
	cases := []struct {
		name  string
		chart Scores
	}{
		{"track.svg", Scores{Yellow: 0.5, Red: 0.9, Dots: true, XLabel: func(v float64) string { return "t" + strings.Repeat("'", int(v)%2) },
			Series: []Series{{Name: "m3", Points: []Point{{0, 0.55}, {5, 0.62}, {11, 0.93}, {11, 0.98}}}}}},
		{"figure5.svg", Scores{Title: "M3 score per server", Width: 800, Height: 420, Yellow: 0.5, Red: 0.9, XMin: 0, XMax: 180, XTitle: "seconds into the experiment",
			Marks:  []Mark{{16, "scan"}, {24, "flood"}, {54, "flood ends"}},
			Series: []Series{{Name: "host1", Points: []Point{{16.1, 0.62}, {166, 0.09}}}, {Name: hostile, Points: []Point{{16.1, 0.62}, {27.7, 0.98}}}}}},
		{"empty.svg", Scores{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := c.chart.SVG()
			golden(t, c.name, out)
			if strings.Contains(string(out), "<script") {
				t.Error("a name became markup")
			}
		})
	}
}

func TestObservations(t *testing.T) {
	rows := []string{"NIDS.ALERT", "PROC.SPAWN", hostile}
	for i := range 20 {
		rows = append(rows, "T"+string(rune('A'+i)))
	}
	c := Observations{XMin: 100, XMax: 200, Rows: rows, Points: []Point{{110, 0}, {150, 1}, {190, 2}, {199, 22}, {120, -1}}}
	out := c.SVG()
	golden(t, "observations.svg", out)
	if n := strings.Count(string(out), `class="obs"`); n != 3 {
		t.Errorf("%d observations drawn, want 3 (rows past %d and unknown rows are left out)", n, MaxRows)
	}
}
