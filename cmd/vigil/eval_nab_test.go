package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEvalNABCommand runs `vigil eval nab` on a directory laid out like
// NAB's repository (data/<category>/*.csv, labels/combined_windows.json,
// results/<detector>/...) with categories of its own, as a user would:
// the table lists the profiler beside the detector whose results are
// there, --json gives every profile's figure, and a directory that is not
// NAB's fails with a message naming it.
func TestEvalNABCommand(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	ts := func(i int) string { return t0.Add(time.Duration(i) * 5 * time.Minute).Format("2006-01-02 15:04:05") }
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Two series of 1,000 samples; a jump at 700 inside the window
	// [650, 749]. The detector "onset" fires at each window's start.
	windows := map[string][][2]string{}
	for _, key := range []string{"fridges/door_temp.csv", "lifts/motor_amps.csv"} {
		var data, res strings.Builder
		data.WriteString("timestamp,value\n")
		res.WriteString("timestamp,value,anomaly_score,label\n")
		for i := range 1000 {
			v := 10 + 3*math.Sin(float64(i)/20) + float64(i%7)/10
			if i >= 700 && i < 720 {
				v += 40
			}
			score := 0.0
			if i == 650 {
				score = 1
			}
			fmt.Fprintf(&data, "%s,%.2f\n", ts(i), v)
			fmt.Fprintf(&res, "%s,%.2f,%g,0\n", ts(i), v, score)
		}
		cat, file, _ := strings.Cut(key, "/")
		write(filepath.Join(dir, "data", cat, file), data.String())
		write(filepath.Join(dir, "results", "onset", cat, "onset_"+file), res.String())
		windows[key] = [][2]string{{ts(650) + ".000000", ts(749) + ".000000"}}
	}
	raw, _ := json.Marshal(windows)
	write(filepath.Join(dir, "labels", "combined_windows.json"), string(raw))

	out, code := run(t, "", "eval", "nab", dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"2 series (fridges, lifts)", "standard", "reward_low_FP_rate", "reward_low_FN_rate", "vigil-profiler", "onset"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table has no %q:\n%s", want, out)
		}
	}

	out, code = run(t, "", "eval", "nab", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var rep struct {
		Dataset string           `json:"dataset"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	byName := map[string]map[string]any{}
	for _, r := range rep.Results {
		byName[r["detector"].(string)] = r
	}
	onset, prof := byName["onset"], byName["vigil-profiler"]
	if onset == nil || prof == nil {
		t.Fatalf("results: %v", rep.Results)
	}
	for _, p := range []string{"standard", "reward_low_FP_rate", "reward_low_FN_rate"} {
		if onset[p] != 100.0 || onset["source"] != "nab" {
			t.Errorf("onset %s: %v", p, onset)
		}
		if v, ok := prof[p].(float64); !ok || v < -100 || v > 100 || prof["source"] != "vigil" {
			t.Errorf("vigil-profiler %s: %v", p, prof)
		}
	}

	missing := filepath.Join(t.TempDir(), "nab")
	out, code = run(t, "", "eval", "nab", missing)
	if code == 0 || !strings.Contains(out, missing) || !strings.Contains(out, "labels/combined_windows.json") {
		t.Errorf("a directory that is not NAB's: exit %d:\n%s", code, out)
	}
}
