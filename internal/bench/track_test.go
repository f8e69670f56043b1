package bench

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunTrack runs the track benchmark small: every size is measured,
// the engine keeps pairs and reports, and the memory figure is there; it
// asserts nothing about speed.
func TestRunTrack(t *testing.T) {
	var out bytes.Buffer
	res, err := RunTrack(TrackOptions{Models: []string{"../../models/m3.yaml", "../../models/m4.yaml"}, Keys: []int{50, 400}, Events: 20_000, Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sizes) != 2 || strings.Join(res.Models, ",") != "m3,m4" {
		t.Fatalf("result %+v", res)
	}
	for _, s := range res.Sizes {
		if s.Rate <= 0 || s.Pairs == 0 || s.Pairs > 2*s.Keys || s.Reports == 0 || s.Observations == 0 || s.BytesPerPair <= 0 {
			t.Errorf("size %+v", s)
		}
	}
	if res.Flatness <= 0 || !strings.Contains(out.String(), "bytes/pair") {
		t.Errorf("flatness %v, output:\n%s", res.Flatness, out.String())
	}
}
